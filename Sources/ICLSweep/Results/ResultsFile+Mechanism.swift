import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Where each run's mechanism measures sit in a results file: one pair of
/// float32 datasets per model shape (layers x heads x tokens), so that runs
/// of a small model are not padded to the largest one in the spec:
///
///     /metrics/mechanism/<L>x<H>x<T>/attention   (Ng, 2, L, H, T) float32
///     /metrics/mechanism/<L>x<H>x<T>/induction   (Ng, L, H) float32
///     /runs/mechanism_group  (R) int32: the run's shape, an index into the
///                            root attribute `mechanism_groups` ("2x8x5,12x8x17")
///     /runs/mechanism_row    (R) int64: the run's first row in its group's datasets,
///                            one row per evaluation point of the run (Ng: the group's rows)
///
/// Files made before the measures have none of these; they are then neither
/// written nor read.
struct MechanismLayout {
    let shapes: [MechanismShape]
    let group: [Int32]
    let row: [Int64]
    /// Rows of each group's datasets.
    var rows: [Int64] = []

    static func key(_ m: MechanismShape) -> String { "\(m.layers)x\(m.heads)x\(m.tokens)" }
    static func path(_ m: MechanismShape, _ what: String) -> String { "metrics/mechanism/\(key(m))/\(what)" }

    /// Each run's shape from the spec: the grid's (one shape unless it sweeps the model's
    /// layers, heads or pairs), then the named runs'; `pointCounts`: each run's evaluation points.
    static func of(_ spec: SweepSpec, pointCounts: [Int]) -> MechanismLayout {
        let runs = spec.runs, grid = spec.grid
        func shape(_ c: RunConfig) -> MechanismShape { MechanismShape(layers: c.layers, heads: c.heads, tokens: 2 * c.pairs + 1) }
        var shapes: [MechanismShape] = [], group: [Int32] = [], row: [Int64] = [], rows: [Int64] = []
        func add(_ m: MechanismShape) {
            let g = shapes.firstIndex(of: m) ?? { shapes.append(m); rows.append(0); return shapes.count - 1 }()
            group.append(Int32(g)); row.append(rows[g]); rows[g] += Int64(pointCounts[group.count - 1])
        }
        let perCell = ["model.layers", "model.heads", "model.pairs"].contains { grid.sweeps($0) }
        if grid.count > 0 && perCell {
            for cell in 0..<grid.cellCount {
                let m = shape(grid[cell * grid.seedCount].config)
                for _ in 0..<grid.seedCount { add(m) }
            }
        } else if grid.count > 0 {
            let m = shape(grid[0].config)
            for _ in 0..<grid.count { add(m) }
        }
        for n in runs.named { add(shape(n.config)) }
        return MechanismLayout(shapes: shapes, group: group, row: row, rows: rows)
    }

    /// Bytes the measures take.
    var bytes: Int {
        zip(shapes, rows).reduce(0) { $0 + Int($1.1) * ($1.0.attentionCount + $1.0.inductionCount) * 4 }
    }

    /// Creates the datasets (collectively) and writes the run index (rank 0).
    func create(in file: H5File, isRoot: Bool) throws {
        try file.setAttribute("mechanism_groups", shapes.map(MechanismLayout.key).joined(separator: ","))
        let R = group.count
        let g = try file.createDataset("runs/mechanism_group", of: Int32.self, shape: [R])
        let r = try file.createDataset("runs/mechanism_row", of: Int64.self, shape: [R])
        var made = [g, r]
        for (m, count) in zip(shapes, rows.map(Int.init)) {
            made.append(try file.createDataset(MechanismLayout.path(m, "attention"), of: Float.self,
                                               shape: [count, Mechanism.sets.count, m.layers, m.heads, m.tokens], fill: .nan))
            made.append(try file.createDataset(MechanismLayout.path(m, "induction"), of: Float.self,
                                               shape: [count, m.layers, m.heads], fill: .nan))
        }
        if isRoot {
            try g.write(group)
            try r.write(row)
        }
        for d in made { try d.close() }
    }

    /// The layout stored in `file`, or nil for a file made before the
    /// measures. A read that fails is an error, never "no measures": the
    /// run's rows and checksum would then leave them out.
    static func read(_ file: H5File) throws -> MechanismLayout? {
        guard file.hasAttribute("mechanism_groups") else { return nil }
        let keys = try file.attribute("mechanism_groups")
        let group: [Int32] = try file.read("runs/mechanism_group")
        let row: [Int64] = try file.read("runs/mechanism_row")
        let shapes = keys.split(separator: ",").compactMap { key -> MechanismShape? in
            let d = key.split(separator: "x").compactMap { Int($0) }
            return d.count == 3 ? MechanismShape(layers: d[0], heads: d[1], tokens: d[2]) : nil
        }
        if let bad = group.firstIndex(where: { $0 < 0 || Int($0) >= shapes.count }) {
            throw HDF5Error(function: "runs/mechanism_group", message: "run \(bad) of \(file.path) names model shape "
                            + "\(group[bad]) of \(shapes.count): the file is damaged")
        }
        return MechanismLayout(shapes: shapes, group: group, row: row)
    }

    func shape(of run: Int) -> MechanismShape { shapes[Int(group[run])] }
}

extension MechanismShape {
    /// As stored in a results file (float32), read back as Double.
    static func stored(_ values: [Double]) -> [Double] { values.map { Double(Float($0)) } }
}
