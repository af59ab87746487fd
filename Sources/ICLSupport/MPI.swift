import CMPI
import Foundation

/// A failed MPI call: the function's name and MPI's own error string.
public struct MPIError: Error, CustomStringConvertible {
    public let function: String
    public let message: String
    public var description: String { "MPI \(function) failed: \(message)" }
}

/// A rank in a communicator.
public struct Rank: Hashable, Comparable, CustomStringConvertible {
    public let value: Int32
    public init(_ value: Int32) { self.value = value }
    public static let coordinator = Rank(0)
    public static func < (a: Rank, b: Rank) -> Bool { a.value < b.value }
    public var description: String { "rank \(value)" }
}

/// A message tag. Receives always name the tag they expect.
public struct Tag: Hashable {
    public let value: Int32
    public init(_ value: Int32) { self.value = value }
}

/// The one error path for MPI.
package enum MPICall {
    static func check(_ function: String, _ code: Int32) throws {
        guard code != MPI_SUCCESS else { return }
        var buffer = [CChar](repeating: 0, count: Int(shim_MPI_MAX_ERROR_STRING()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        throw MPIError(function: function, message: String(cString: buffer))
    }
}

/// MPI for this process: initialised once, finalised at exit.
public enum MPI {
    /// Initialises MPI (a singleton job when not started by `mpirun`) and
    /// returns the world communicator with errors returned, not aborting.
    public static func initialize() throws -> MPIComm {
        // OpenMPI 4.1's own MPI-IO (ompio) aborts with "buffer overflow
        // detected" in its shared-file-pointer components when a file's path
        // is longer than about 240 bytes, and its `individual` component
        // leaves files beside the results. ROMIO, the other MPI-IO of
        // Debian's OpenMPI, has neither problem. A user's own choice wins.
        setenv("OMPI_MCA_io", "romio321", 0)
        // Started without mpirun or srun: one process that needs no OpenMPI
        // daemon (it spawns nothing). Without one, MPI_Init takes about 0.25 s
        // instead of 0.4-0.5 s, and no orted lingers after the process ends.
        if !launched { setenv("OMPI_MCA_ess_singleton_isolated", "1", 0) }
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        if flag == 0 { try MPICall.check("MPI_Init", MPI_Init(nil, nil)) }
        let world = MPIComm(handle: shim_MPI_COMM_WORLD())
        IOCalls.setRank(world.rank.value)
        try MPICall.check("MPI_Comm_set_errhandler",
                          MPI_Comm_set_errhandler(world.handle, shim_MPI_ERRORS_RETURN()))
        return world
    }

    /// Whether `mpirun` or `srun` started this process.
    public static var launched: Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_ID"].contains { ProcessInfo.processInfo.environment[$0] != nil }
    }

    public static func finalize() {
        var initialized: Int32 = 0, finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 { MPI_Finalize() }
    }

    public static var processorName: String {
        var buffer = [CChar](repeating: 0, count: Int(shim_MPI_MAX_PROCESSOR_NAME()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&buffer, &length)
        return String(cString: buffer)
    }
}

/// A communicator.
public final class MPIComm {
    let handle: MPI_Comm
    package init(handle: MPI_Comm) { self.handle = handle }

    public var rank: Rank {
        var r: Int32 = 0
        MPI_Comm_rank(handle, &r)
        return Rank(r)
    }

    public var size: Int {
        var s: Int32 = 0
        MPI_Comm_size(handle, &s)
        return Int(s)
    }

    public func barrier() throws { try MPICall.check("MPI_Barrier", MPI_Barrier(handle)) }

    /// A barrier that waits by polling with short sleeps (`MPI_Ibarrier`), so
    /// ranks waiting for a slow one do not take its core, as OpenMPI's
    /// blocking collectives would.
    public func barrierSleeping(pollInterval: TimeInterval = 0.005) throws {
        var request: MPI_Request?
        try MPICall.check("MPI_Ibarrier", MPI_Ibarrier(handle, &request))
        var done: Int32 = 0
        while true {
            try MPICall.check("MPI_Test", MPI_Test(&request, &done, shim_MPI_STATUS_IGNORE()))
            if done != 0 { return }
            usleep(UInt32(pollInterval * 1_000_000))
        }
    }

    /// Ends every rank of the job with `code`. Used once, at the top level.
    public func abort(_ code: Int32) -> Never {
        fflush(nil)
        MPI_Abort(handle, code)
        exit(code)
    }

    /// Sends bytes to `rank` with `tag`.
    public func send(_ bytes: [UInt8], to rank: Rank, tag: Tag) throws {
        try bytes.withUnsafeBufferPointer { buffer in
            try MPICall.check("MPI_Send", MPI_Send(buffer.baseAddress, Int32(buffer.count), shim_MPI_BYTE(),
                                                  rank.value, tag.value, handle))
        }
    }

    /// Receives one message with `tag` from `rank` (or any rank). Waits by
    /// polling `MPI_Iprobe` with short sleeps, so a waiting rank does not burn
    /// a core the way OpenMPI's blocking receive does.
    public func receive(from rank: Rank? = nil, tag: Tag, pollInterval: TimeInterval = 0.002) throws -> (bytes: [UInt8], source: Rank) {
        var status = MPI_Status()
        var flag: Int32 = 0
        let source = rank?.value ?? shim_MPI_ANY_SOURCE()
        while true {
            try MPICall.check("MPI_Iprobe", MPI_Iprobe(source, tag.value, handle, &flag, &status))
            if flag != 0 { break }
            usleep(UInt32(pollInterval * 1_000_000))
        }
        var count: Int32 = 0
        try MPICall.check("MPI_Get_count", MPI_Get_count(&status, shim_MPI_BYTE(), &count))
        var bytes = [UInt8](repeating: 0, count: Int(count))
        let from = status.MPI_SOURCE
        try bytes.withUnsafeMutableBufferPointer { buffer in
            try MPICall.check("MPI_Recv", MPI_Recv(buffer.baseAddress, count, shim_MPI_BYTE(), from, tag.value,
                                                  handle, shim_MPI_STATUS_IGNORE()))
        }
        return (bytes, Rank(from))
    }

    /// Receives a message with `tag` if one is waiting, without blocking.
    public func tryReceive(tag: Tag, from rank: Rank? = nil) throws -> (bytes: [UInt8], source: Rank)? {
        var status = MPI_Status()
        var flag: Int32 = 0
        try MPICall.check("MPI_Iprobe", MPI_Iprobe(rank?.value ?? shim_MPI_ANY_SOURCE(), tag.value, handle, &flag, &status))
        guard flag != 0 else { return nil }
        return try receive(from: Rank(status.MPI_SOURCE), tag: tag)
    }

    /// Sends bytes from `root` to every rank; returns them on every rank.
    public func broadcast(_ bytes: [UInt8], root: Rank = .coordinator) throws -> [UInt8] {
        var count = Int64(bytes.count)
        try MPICall.check("MPI_Bcast", MPI_Bcast(&count, 1, shim_MPI_INT64(), root.value, handle))
        var data = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        try data.withUnsafeMutableBufferPointer { buffer in
            try MPICall.check("MPI_Bcast", MPI_Bcast(buffer.baseAddress, Int32(count), shim_MPI_BYTE(), root.value, handle))
        }
        return data
    }

    /// `root`'s value, on every rank.
    public func broadcast(_ value: Int64, root: Rank = .coordinator) throws -> Int64 {
        var v = value
        try MPICall.check("MPI_Bcast", MPI_Bcast(&v, 1, shim_MPI_INT64(), root.value, handle))
        return v
    }

    /// The ranks of this communicator that share memory with this one (its
    /// node), ranked in the same order. `simulatedNodes` (tests only) splits
    /// every node further, by rank modulo that number, to act as several.
    public func node(simulatedNodes: Int? = nil) throws -> MPIComm {
        var shared: MPI_Comm?
        try MPICall.check("MPI_Comm_split_type",
                          MPI_Comm_split_type(handle, shim_MPI_COMM_TYPE_SHARED(), rank.value, shim_MPI_INFO_NULL(), &shared))
        var node = MPIComm(handle: shared!)
        if let n = simulatedNodes, n > 1 {
            var part: MPI_Comm?
            try MPICall.check("MPI_Comm_split", MPI_Comm_split(node.handle, rank.value % Int32(n), rank.value, &part))
            node = MPIComm(handle: part!)
        }
        try MPICall.check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(node.handle, shim_MPI_ERRORS_RETURN()))
        return node
    }

    /// The sum of `value` over all ranks.
    public func allSum(_ value: Int64) throws -> Int64 {
        var input = value, output: Int64 = 0
        try MPICall.check("MPI_Allreduce", MPI_Allreduce(&input, &output, 1, shim_MPI_INT64(), shim_MPI_SUM(), handle))
        return output
    }

    /// Every rank's `value`, in rank order, on every rank.
    public func allGather(_ value: Int64) throws -> [Int64] {
        var input = value
        var output = [Int64](repeating: 0, count: size)
        try output.withUnsafeMutableBufferPointer { o in
            try MPICall.check("MPI_Allgather", MPI_Allgather(&input, 1, shim_MPI_INT64(), o.baseAddress, 1, shim_MPI_INT64(), handle))
        }
        return output
    }

    /// The maximum of `value` over all ranks.
    public func allMax(_ value: Int64) throws -> Int64 {
        var input = value, output: Int64 = 0
        try MPICall.check("MPI_Allreduce", MPI_Allreduce(&input, &output, 1, shim_MPI_INT64(), shim_MPI_MAX(), handle))
        return output
    }
}

/// Memory shared by the ranks of one node (`MPI_Win_allocate_shared`):
/// rank 0 of `comm` allocates `bytes`, every rank maps the same pages.
/// Creating and freeing are collective over `comm`; `free` must be called
/// by every rank at the same point (never from a deinit). The window stays
/// in one passive-target epoch (`MPI_Win_lock_all`) from creation to
/// `free`, so that `fence` may order loads and stores between the ranks.
public final class MPISharedMemory {
    private var window: MPI_Win?
    private let comm: MPIComm
    /// The start of the shared bytes, in this rank's address space.
    public let base: UnsafeMutableRawPointer
    public let bytes: Int

    public init(bytes: Int, comm: MPIComm) throws {
        let mine = comm.rank == .coordinator ? bytes : 0
        var local: UnsafeMutableRawPointer?
        var window: MPI_Win?
        try MPICall.check("MPI_Win_allocate_shared",
                          MPI_Win_allocate_shared(MPI_Aint(mine), 1, shim_MPI_INFO_NULL(), comm.handle, &local, &window))
        var size: MPI_Aint = 0, unit: Int32 = 0
        var shared: UnsafeMutableRawPointer?
        try MPICall.check("MPI_Win_shared_query", MPI_Win_shared_query(window, 0, &size, &unit, &shared))
        guard Int(size) == bytes, let shared else {
            throw MPIError(function: "MPI_Win_shared_query", message: "expected \(bytes) shared bytes, got \(size)")
        }
        try MPICall.check("MPI_Win_lock_all", MPI_Win_lock_all(shim_MPI_MODE_NOCHECK(), window))
        self.window = window
        self.comm = comm
        self.base = shared
        self.bytes = bytes
    }

    /// Every rank's stores to the memory before this call are seen by every
    /// rank's loads after it (MPI-3's `MPI_Win_sync`, barrier, `MPI_Win_sync`
    /// for the unified memory model). Collective over the communicator.
    public func fence() throws {
        try MPICall.check("MPI_Win_sync", MPI_Win_sync(window))
        try comm.barrier()
        try MPICall.check("MPI_Win_sync", MPI_Win_sync(window))
    }

    /// Releases the memory: collective over the communicator it was made on.
    public func free() throws {
        guard window != nil else { return }
        try MPICall.check("MPI_Win_unlock_all", MPI_Win_unlock_all(window))
        try MPICall.check("MPI_Win_free", MPI_Win_free(&window))
        window = nil
    }
}
