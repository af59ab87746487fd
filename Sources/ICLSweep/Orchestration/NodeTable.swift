import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// The sweep's feature tables (one per data source its runs use; one unless
/// a data field is swept), held once per node: the node's first rank
/// fills memory shared by every rank of the node (MPI-3 shared memory), and
/// every rank reads it through a `FeatureTable` view. At the paper's scale
/// (12,984 x 20 x 512 floats, 532 MB) that is one copy per node instead of
/// one per rank.
///
/// Loading and `free` are collective over the node: every rank of the job
/// (the coordinator too) loads it at the same point, and frees it only on
/// the success path, after the results file is closed.
struct NodeTable {
    let tables: [(data: DataSource, table: FeatureTable)]
    let node: MPIComm
    /// How many nodes (copies of the table) the job has.
    let nodes: Int
    private let memory: MPISharedMemory

    static func load(_ spec: SweepSpec, world: MPIComm, layout: NodeLayout) throws -> NodeTable {
        let node = layout.node
        let sizes = try spec.tables.map { t in (t.data, t.classes, t.exemplars, try t.data.available().dim) }
        let counts = sizes.map { $0.1 * $0.2 * $0.3 }
        let offsets = counts.indices.map { counts[..<$0].reduce(0, +) }
        let total = counts.reduce(0, +)
        let memory = try MPISharedMemory(bytes: total * MemoryLayout<Float>.stride, comm: node)
        let values = memory.base.bindMemory(to: Float.self, capacity: total)
        var failure: Error?
        if node.rank == .coordinator {
            do {
                for (s, offset) in zip(sizes, offsets) { try s.0.fill(values + offset, classes: s.1, exemplars: s.2) }
            } catch { failure = error }
        }
        // Every rank of the node learns whether the fill worked: collectives all of them reach
        // (the others wait sleeping, leaving the filling rank its core).
        try node.barrierSleeping()
        let failed = try node.allMax(failure == nil ? 0 : 1)
        if let failure { throw failure }
        if failed != 0 { throw DataError("the first rank of this node could not load the features (its own error says why)") }
        let nodes = try world.allSum(node.rank == .coordinator ? 1 : 0)
        let tables = zip(sizes, offsets).map { s, offset in
            (s.0, FeatureTable(classes: s.1, exemplars: s.2, dim: s.3, viewing: values + offset))
        }
        return NodeTable(tables: tables, node: node, nodes: Int(nodes), memory: memory)
    }

    /// The table of `data`.
    func table(for data: DataSource) -> FeatureTable { tables.first { $0.data == data }!.table }

    var summary: String {
        let shapes = tables.map { "\(Format.count($0.table.classes)) x \($0.table.exemplars) x \($0.table.dim)" }
        let bytes = tables.reduce(0) { $0 + $1.table.count * 4 }
        return "features: " + (tables.count == 1 ? shapes[0] : "\(tables.count) tables (\(shapes.joined(separator: ", ")))")
            + " floats " + String(format: "(%.0f MB)", Double(bytes) / 1e6) + ", one copy per node on \(nodes) node\(nodes == 1 ? "" : "s")"
    }

    /// Collective over the node.
    func free() throws { try memory.free() }
}
