import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// The sweep's feature table, held once per node: the node's first rank
/// fills memory shared by every rank of the node (MPI-3 shared memory), and
/// every rank reads it through a `FeatureTable` view. At the paper's scale
/// (12,984 x 20 x 512 floats, 532 MB) that is one copy per node instead of
/// one per rank.
///
/// Loading and `free` are collective over the node: every rank of the job
/// (the coordinator too) loads it at the same point, and frees it only on
/// the success path, after the results file is closed.
struct NodeTable {
    let table: FeatureTable
    let node: MPIComm
    /// How many nodes (copies of the table) the job has.
    let nodes: Int
    private let memory: MPISharedMemory

    /// Environment variable (tests only): act as this many nodes, splitting
    /// the real node by rank.
    static let simulatedNodesVariable = "ICLSWEEP_TEST_NODES"

    static func load(_ spec: SweepSpec, world: MPIComm) throws -> NodeTable {
        let simulated = ProcessInfo.processInfo.environment[simulatedNodesVariable].flatMap(Int.init)
        let node = try world.node(simulatedNodes: simulated)
        let size = spec.tableSize, dim = try spec.data.available().dim
        let count = size.classes * size.exemplars * dim
        let memory = try MPISharedMemory(bytes: count * MemoryLayout<Float>.stride, comm: node)
        let values = memory.base.bindMemory(to: Float.self, capacity: count)
        var failure: Error?
        if node.rank == .coordinator {
            do { try spec.data.fill(values, classes: size.classes, exemplars: size.exemplars) } catch { failure = error }
        }
        // Every rank of the node learns whether the fill worked: collectives all of them reach
        // (the others wait sleeping, leaving the filling rank its core).
        try node.barrierSleeping()
        let failed = try node.allMax(failure == nil ? 0 : 1)
        if let failure { throw failure }
        if failed != 0 { throw DataError("the first rank of this node could not load the features (its own error says why)") }
        let nodes = try world.allSum(node.rank == .coordinator ? 1 : 0)
        return NodeTable(table: FeatureTable(classes: size.classes, exemplars: size.exemplars, dim: dim, viewing: values),
                         node: node, nodes: Int(nodes), memory: memory)
    }

    var summary: String {
        let t = table
        return "features: \(Format.count(t.classes)) x \(t.exemplars) x \(t.dim) floats "
            + String(format: "(%.0f MB)", Double(t.count * 4) / 1e6) + ", one copy per node on \(nodes) node\(nodes == 1 ? "" : "s")"
    }

    /// Collective over the node.
    func free() throws { try memory.free() }
}
