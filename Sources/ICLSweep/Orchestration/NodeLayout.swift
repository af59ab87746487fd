import Foundation
import ICLSupport

/// Which node each rank of the job is on, learned by every rank at the
/// start (before anything is decided or created): the ranks that share
/// memory (`MPI_Comm_split_type`), or, in tests, the simulated nodes of
/// `ICLSWEEP_TEST_NODES`. Gangs (runs on several ranks) are kept within a
/// node; the feature table is held once per node.
struct NodeLayout {
    /// This rank's node.
    let node: MPIComm
    /// For each world rank: its node's number (nodes numbered by their first rank).
    let nodeOf: [Int]
    /// Whether a gang may take ranks of several nodes (`run --gangs-across-nodes`).
    var gangsAcrossNodes = false
    /// For each world rank: the group a gang's ranks must share: its node, or one group for all.
    var gangGroupOf: [Int] { gangsAcrossNodes ? nodeOf.map { _ in 0 } : nodeOf }

    static let simulatedNodesVariable = "ICLSWEEP_TEST_NODES"

    /// Collective over `world`.
    static func make(world: MPIComm, gangsAcrossNodes: Bool = false) throws -> NodeLayout {
        let simulated = ProcessInfo.processInfo.environment[simulatedNodesVariable].flatMap(Int.init)
        let node = try world.node(simulatedNodes: simulated)
        let first = try node.broadcast(Int64(world.rank.value))  // the node's first world rank
        let firsts = try world.allGather(first)
        let numbers = Dictionary(uniqueKeysWithValues: Set(firsts).sorted().enumerated().map { ($1, $0) })
        return NodeLayout(node: node, nodeOf: firsts.map { numbers[$0]! }, gangsAcrossNodes: gangsAcrossNodes)
    }

    var nodes: Int { (nodeOf.max() ?? 0) + 1 }

    /// The ranks that train: every rank but the coordinator (rank 0), or rank 0 alone.
    var workers: [Int] { nodeOf.count == 1 ? [0] : Array(1..<nodeOf.count) }

    /// Training ranks per node (per gang group: one for the whole job with `gangsAcrossNodes`).
    var workersPerNode: [Int] {
        let groups = gangGroupOf
        var counts = Array(repeating: 0, count: (groups.max() ?? 0) + 1)
        for w in workers { counts[groups[w]] += 1 }
        return counts
    }
}
