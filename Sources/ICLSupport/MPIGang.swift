import CMPI
import Foundation

/// The ranks that train one run together (a gang): a communicator over
/// some ranks of the world, made by those ranks alone
/// (`MPI_Comm_create_group`), so the other ranks go on with their own runs.
/// Its transfers move floats in a fixed pattern; every sum over them is
/// done by the caller in an order of its own, never by MPI.
public final class MPIGang {
    public let comm: MPIComm
    /// World ranks of the members, in gang order (member 0 leads).
    public let members: [Rank]

    /// A gang of `members` (world ranks, leader first); every member calls
    /// this with the same list and `tag`, and no other rank does.
    public init(world: MPIComm, members: [Rank], tag: Int32) throws {
        self.members = members
        var worldGroup: MPI_Group?, group: MPI_Group?
        try MPICall.check("MPI_Comm_group", MPI_Comm_group(world.handle, &worldGroup))
        var ranks = members.map(\.value)
        try MPICall.check("MPI_Group_incl", MPI_Group_incl(worldGroup, Int32(ranks.count), &ranks, &group))
        var handle: MPI_Comm?
        try MPICall.check("MPI_Comm_create_group", MPI_Comm_create_group(world.handle, group, tag, &handle))
        MPI_Group_free(&group)
        MPI_Group_free(&worldGroup)
        try MPICall.check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(handle, shim_MPI_ERRORS_RETURN()))
        comm = MPIComm(handle: handle!)
        // one node: the members that share memory with member 0 are all of them
        var node: MPI_Comm?
        try MPICall.check("MPI_Comm_split_type",
                          MPI_Comm_split_type(comm.handle, shim_MPI_COMM_TYPE_SHARED(), 0, shim_MPI_INFO_NULL(), &node))
        var nodeSize: Int32 = 0
        MPI_Comm_size(node, &nodeSize)
        try MPICall.check("MPI_Comm_free", MPI_Comm_free(&node))
        // agreed by all, so that every member takes the same path even if their environments differ
        let wants = nodeSize == Int32(members.count) && ProcessInfo.processInfo.environment[MPIGang.memoryVariable] != "messages"
        sharesMemory = try comm.allMax(wants ? 0 : 1) == 0
    }

    /// `ICLSWEEP_GANG_MEMORY=messages`: a gang on one node moves its data in
    /// messages, as across nodes (to compare the two, and to test the message
    /// path on one machine).
    public static let memoryVariable = "ICLSWEEP_GANG_MEMORY"

    /// Whether the members are on one node and share memory there; if not
    /// (a gang across nodes), everything between them goes in messages.
    public let sharesMemory: Bool
    /// The windows made by `sharedMemory`, freed with the gang.
    private var windows: [MPISharedMemory] = []

    /// `bytes` of memory every member maps (collective), or nil when the
    /// members do not share memory. Freed by `release` or with the gang.
    public func sharedMemory(bytes: Int) throws -> MPISharedMemory? {
        guard sharesMemory else { return nil }
        let memory = try MPISharedMemory(bytes: bytes, comm: comm)
        windows.append(memory)
        return memory
    }

    /// Frees one window of `sharedMemory`: collective over the gang.
    public func release(_ memory: MPISharedMemory) throws {
        try memory.free()
        windows.removeAll { $0 === memory }
    }

    /// Every process of a job `mpirun -np R` (R > 1) started, as one gang
    /// (`train` and `bench` under mpirun); nil for a process started alone.
    public static func wholeJob() throws -> MPIGang? {
        guard MPI.launched else { return nil }
        let world = try MPI.initialize()
        guard world.size > 1 else { return nil }
        return try MPIGang(world: world, members: (0..<Int32(world.size)).map(Rank.init), tag: 1)
    }

    public var size: Int { members.count }
    public var index: Int { Int(comm.rank.value) }
    public var leads: Bool { index == 0 }

    /// Frees the gang's shared memory, then its communicator: collective
    /// over the gang, once, after its run.
    public func free() throws {
        for w in windows { try w.free() }
        windows = []
        var handle: MPI_Comm? = comm.handle
        try MPICall.check("MPI_Comm_free", MPI_Comm_free(&handle))
    }

    /// One float block to send or receive: `count` floats at `pointer`, to or from gang member `peer`.
    public struct Block {
        public let pointer: UnsafeMutablePointer<Float>
        public let count: Int
        public let peer: Int
        public let tag: Int32
        public init(_ pointer: UnsafeMutablePointer<Float>, count: Int, peer: Int, tag: Int32) {
            self.pointer = pointer; self.count = count; self.peer = peer; self.tag = tag
        }
    }

    /// Posts every receive and send, then waits for all of them.
    public func exchange(sends: [Block], receives: [Block]) throws {
        var requests = [MPI_Request?](repeating: shim_MPI_REQUEST_NULL(), count: sends.count + receives.count)
        for (i, b) in receives.enumerated() {
            try MPICall.check("MPI_Irecv", MPI_Irecv(b.pointer, Int32(b.count), shim_MPI_FLOAT(), Int32(b.peer), b.tag,
                                                     comm.handle, &requests[i]))
        }
        for (i, b) in sends.enumerated() {
            try MPICall.check("MPI_Isend", MPI_Isend(b.pointer, Int32(b.count), shim_MPI_FLOAT(), Int32(b.peer), b.tag,
                                                     comm.handle, &requests[receives.count + i]))
        }
        try MPICall.check("MPI_Waitall", MPI_Waitall(Int32(requests.count), &requests, shim_MPI_STATUSES_IGNORE()))
    }

    /// Every member's part of `buffer` (`parts[i]`: member i's range) copied
    /// to every member; a member's own part is read from its buffer.
    public func allGather(_ buffer: UnsafeMutablePointer<Float>, parts: [Range<Int>]) throws {
        var counts = parts.map { Int32($0.count) }, offsets = parts.map { Int32($0.lowerBound) }
        try MPICall.check("MPI_Allgatherv", MPI_Allgatherv(shim_MPI_IN_PLACE(), 0, shim_MPI_FLOAT(), buffer,
                                                           &counts, &offsets, shim_MPI_FLOAT(), comm.handle))
    }

    /// The element-wise sum of `values` over the members, for values that
    /// exactly one member gives and the others give as 0 (so the sum is
    /// exact, whatever order MPI adds in).
    public func combine(_ values: inout [Double]) throws {
        let input = values
        try input.withUnsafeBufferPointer { i in
            try values.withUnsafeMutableBufferPointer { o in
                try MPICall.check("MPI_Allreduce", MPI_Allreduce(i.baseAddress, o.baseAddress, Int32(i.count),
                                                                 shim_MPI_DOUBLE(), shim_MPI_SUM(), comm.handle))
            }
        }
    }

    /// Whether any member says yes.
    public func any(_ flag: Bool) throws -> Bool { try comm.allMax(flag ? 1 : 0) > 0 }
}
