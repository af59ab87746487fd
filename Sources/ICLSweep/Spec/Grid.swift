import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// One axis of the grid: the run's classes, exemplars, variants or seeds, or
/// any sweepable spec field by its dotted path.
public struct GridAxis {
    /// `classes`, `exemplars`, `variants`, `seeds`, or a field path.
    public let name: String
    let run: RunAxis?
    let field: SpecField?
    /// The axis's values, then values only `include:` entries add.
    public internal(set) var values: [FieldValue]
    /// How many of `values` the full product ranges over.
    public let mainCount: Int
    let reader: SpecReader

    /// Prefix of the value in run names.
    var tag: String {
        switch run {
        case .classes?: return "K"
        case .exemplars?: return "E"
        case .variants?: return ""
        case .seeds?: return "s"
        case nil: return field!.tag!
        }
    }

    var kind: FieldKind { run?.kind ?? field!.kind }

    /// A field swept besides the four axes every grid has.
    public var isField: Bool { run == nil }
}

/// A partial grid point from `include:` or `exclude:`: values for some axes.
package typealias PartialPoint = [(axis: String, values: [FieldValue])]

/// The grid's runs, made from the index on demand. The cells (every swept
/// value but the seed) are the product of the axes in the order classes,
/// exemplars, variants, swept fields as written, outermost first, less the
/// `exclude:` points, then the `include:` points; each cell runs every seed,
/// and run `id` is seed `id % seeds` of cell `id / seeds`. Without include
/// or exclude nothing proportional to the grid is kept, so a million-point
/// grid costs nothing until its runs are used; with them, one integer per
/// cell.
public struct Grid: RandomAccessCollection {
    /// classes, exemplars, variants, swept fields, seeds.
    public internal(set) var axes: [GridAxis]
    package var include: [PartialPoint] = []
    package var exclude: [PartialPoint] = []
    /// Each cell's value indices as one mixed-radix number over every
    /// axis's full value count; nil: the full product of the main values.
    var cellCodes: [Int]?
    /// The config every run starts from: all settings applied.
    var base: RunConfig
    /// Settings (for re-applying what a swept field resets).
    var settings: [String: FieldValue] = [:]

    public var startIndex: Int { 0 }
    public var endIndex: Int { cellCount * seedCount }
    public var seedCount: Int { axes.last!.mainCount }
    public var cellCount: Int { absent ? 0 : cellCodes?.count ?? cellAxes.reduce(1) { $0 * $1.mainCount } }
    /// The spec has no `grid:` (only named runs): no runs, the settings still apply.
    var absent = false
    var cellAxes: ArraySlice<GridAxis> { axes.dropLast() }
    /// Fields swept besides classes, exemplars, variants and seeds.
    public var fieldAxes: [GridAxis] { axes.filter(\.isField) }

    func sweeps(_ path: String) -> Bool { axes.contains { $0.name == path } }
    var sweepsData: Bool { axes.contains { $0.name.hasPrefix("data.") } }

    /// Value index of every cell axis for cell `cell`.
    func indices(ofCell cell: Int) -> [Int] {
        var rest = cellCodes?[cell] ?? cell
        var out = [Int](repeating: 0, count: cellAxes.count)
        for (i, axis) in cellAxes.enumerated().reversed() {
            let radix = cellCodes == nil ? axis.mainCount : axis.values.count
            out[i] = rest % radix
            rest /= radix
        }
        return out
    }

    /// The value of every axis (seeds last) of run `id`.
    public func values(of id: Int) -> [FieldValue] {
        let cell = id / seedCount
        return zip(cellAxes, indices(ofCell: cell)).map { $0.values[$1] } + [axes.last!.values[id % seedCount]]
    }

    /// `K64-E8-bursty-lr0.0003-s0`: every axis's value, tagged.
    public func name(of id: Int) -> String {
        zip(axes, values(of: id)).map { $0.tag + $1.description }.joined(separator: "-")
    }

    /// The length in bytes of the longest run name, without making the names.
    public var longestName: Int {
        guard !isEmpty else { return 0 }
        return axes.reduce(axes.count - 1) { sum, axis in
            sum + axis.tag.utf8.count + (axis.values.map { $0.description.utf8.count }.max() ?? 0)
        }
    }

    public subscript(id: Int) -> GridPoint {
        precondition(id >= 0 && id < endIndex, "run \(id) is outside the grid of \(endIndex)")
        let values = self.values(of: id)
        var c = base
        // swept fields in the table's order, so a field applies after those it builds on
        for field in SpecField.all {
            if let i = axes.firstIndex(where: { $0.name == field.path }) { field.apply(&c, values[i]) }
        }
        // a setting that needs a swept field's value (zipf_alpha: class_frequency) applies after it
        for field in SpecField.all where field.requires.map({ sweeps($0.path) }) == true && !sweeps(field.path) {
            if let value = settings[field.path] { field.apply(&c, value) }
        }
        for (axis, value) in zip(axes, values) { axis.run?.apply(&c, value) }
        // derived defaults (evaluation classes and exemplars) from the run, unless set or swept
        SpecField.applyDerived(&c) { sweeps($0) || settings[$0] != nil }
        return GridPoint(id: id, config: c, name: name(of: id),
                         fields: zip(axes, values).filter { $0.0.isField }.map { ($0.0.name, $0.1) })
    }

    // MARK: - Reading

    static let keys = RunAxis.allCases.map(\.rawValue) + ["include", "exclude"]

    /// The grid's axes as written (`complete` adds the defaults and the order).
    static func read(_ reader: SpecReader, active: [SpecField], given: [String: SpecReader]) throws -> Grid {
        guard let mapping = reader.node.mapping else {
            throw reader.error("expected a mapping of axes, e.g. classes: [16, 64] or training.learning_rate: [1.0e-4, 3.0e-4]")
        }
        var grid = Grid(axes: [], base: RunConfig(data: .synthetic(SyntheticData(classes: 2, exemplars: 1, dim: 1, noise: 0, seed: 0)),
                                                  classes: 2, exemplars: 1, variant: .bursty, seed: 0, sequences: 1, evalInterval: 1,
                                                  evalClasses: 0, evalExemplars: 0))
        var partial: [(key: String, reader: SpecReader)] = []
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { throw reader.error("keys must be plain names", line: keyNode.mark?.line) }
            let r = SpecReader(file: reader.file, node: valueNode, path: "grid.\(key)")
            func fail(_ message: String) -> SpecError {
                SpecError(file: reader.file, line: keyNode.mark?.line, field: "grid.\(key)", message: message)
            }
            if grid.axes.contains(where: { $0.name == key }) || partial.contains(where: { $0.key == key }) { throw fail("given twice") }
            if key == "include" || key == "exclude" { partial.append((key, r)); continue }
            if let run = RunAxis(rawValue: key) {
                let values = try r.list { try run.kind.read($0) }
                grid.axes.append(GridAxis(name: key, run: run, field: nil, values: values, mainCount: values.count, reader: r))
                continue
            }
            guard let field = SpecField.byPath[key] else {
                if SpecField.all.contains(where: { $0.path.hasPrefix(key + ".") }) {
                    throw fail("names a section, not a field: sweep one of its fields, e.g. \(SpecField.all.first { $0.path.hasPrefix(key + ".") }!.path)")
                }
                throw fail("unknown key in grid (expected \(keys.joined(separator: ", ")), or a field's dotted path such as training.learning_rate)")
            }
            guard field.sweepable else { throw fail("cannot be swept (one value for the whole sweep)") }
            guard active.contains(where: { $0.path == key }) else {
                throw fail("applies only to \(key.hasPrefix("data.synthetic.") ? "synthetic data (data: synthetic)" : "a features file (data: file)")")
            }
            if let there = given[key] {
                throw fail("is swept here and also set at line \(there.line.map(String.init) ?? "?"): keep one")
            }
            let values = try r.list { try field.kind.read($0) }
            grid.axes.append(GridAxis(name: key, run: nil, field: field, values: values, mainCount: values.count, reader: r))
        }
        if grid.sweeps("data.synthetic.classes") && !grid.sweeps("classes") {
            throw reader.error("data.synthetic.classes is swept: give the runs' classes too (grid.classes)")
        }
        if grid.sweeps("data.synthetic.exemplars") && !grid.sweeps("exemplars") {
            throw reader.error("data.synthetic.exemplars is swept: give the runs' exemplars too (grid.exemplars)")
        }
        grid.pending = partial
        return grid
    }

    /// `include:` / `exclude:` as read, resolved once the axes are complete.
    var pending: [(key: String, reader: SpecReader)] = []

    /// Adds the axes the spec left out (classes and exemplars: all the
    /// data has; variants: bursty; seeds: 0), puts the axes in order, and
    /// resolves include/exclude.
    mutating func complete(data: DataSource, settings: [String: FieldValue], gridReader: SpecReader) throws {
        func axis(_ run: RunAxis) -> GridAxis? { axes.first { $0.run == run } }
        func fallback(_ run: RunAxis, _ values: () throws -> [FieldValue]) rethrows -> GridAxis {
            if let a = axis(run) { return a }
            let v = try values()
            return GridAxis(name: run.rawValue, run: run, field: nil, values: v, mainCount: v.count, reader: gridReader)
        }
        self.settings = settings
        base = RunConfig(data: data, classes: 2, exemplars: 1, variant: .bursty, seed: 0, sequences: 1, evalInterval: 1,
                         evalClasses: 0, evalExemplars: 0)  // every field from the settings, derived ones per run
        for field in SpecField.all { if let v = settings[field.path] { field.apply(&base, v) } }
        let available = { [base] () throws -> (classes: Int, exemplars: Int, dim: Int) in
            do { return try base.data.available() } catch { throw gridReader.error("\(error)") }
        }
        let ordered = [try fallback(.classes) { [.int(try available().classes)] },
                       try fallback(.exemplars) { [.int(try available().exemplars)] },
                       fallback(.variants) { [.text(Variant.bursty.rawValue)] }]
            + axes.filter(\.isField)
            + [fallback(.seeds) { [.int(0)] }]
        axes = ordered

        for (key, reader) in pending {
            guard let list = reader.node.sequence else {
                throw reader.error("expected a list of partial points, e.g. [{variants: matched, training.learning_rate: 3.0e-4}]")
            }
            for (i, node) in list.enumerated() {
                let entry = SpecReader(file: reader.file, node: node, path: "\(reader.path)[\(i)]")
                let names = cellAxes.map(\.name)
                var point: PartialPoint = []
                for (name, r) in try entry.mapping(allowed: names + ["seeds"]) {
                    if name == "seeds" { throw r.error("every point runs every seed: seeds cannot be named in \(key)") }
                    let a = axes.firstIndex { $0.name == name }!
                    let values = r.node.sequence == nil ? [try axes[a].kind.read(r)] : try r.list { try axes[a].kind.read($0) }
                    for v in values where !axes[a].values.prefix(axes[a].mainCount).contains(v) {
                        if key == "exclude" { throw r.error("\(v) is not among the grid's values of \(name)") }
                        if !axes[a].values.contains(v) { axes[a].values.append(v) }
                    }
                    point.append((name, values))
                }
                if point.isEmpty { throw entry.error("names no axis") }
                point.sort { a, b in names.firstIndex(of: a.axis)! < names.firstIndex(of: b.axis)! }  // axis order, not the text's
                if key == "include" { include.append(point) } else { exclude.append(point) }
            }
        }
        pending = []
        if !include.isEmpty || !exclude.isEmpty { cellCodes = expandedCells() }
        if cellCount == 0 && !absent { throw gridReader.error("exclude removes every point of the grid") }
    }

    /// Cells of the product less the excluded points, then the included
    /// points not already there, as codes over every axis's full value count.
    private func expandedCells() -> [Int] {
        let axesList = Array(cellAxes)
        func code(_ idx: [Int]) -> Int { zip(axesList, idx).reduce(0) { $0 * $1.0.values.count + $1.1 } }
        func matches(_ idx: [Int], _ p: PartialPoint) -> Bool {
            p.allSatisfy { entry in
                let a = axesList.firstIndex { $0.name == entry.axis }!
                return entry.values.contains(axesList[a].values[idx[a]])
            }
        }
        var out: [Int] = [], seen = Set<Int>()
        func product(_ choices: [[Int]], _ body: ([Int]) -> Void) {
            var idx = choices.map { _ in 0 }
            guard choices.allSatisfy({ !$0.isEmpty }) else { return }
            while true {
                body(zip(choices, idx).map { $0[$1] })
                var k = choices.count - 1
                while k >= 0 { idx[k] += 1; if idx[k] < choices[k].count { break }; idx[k] = 0; k -= 1 }
                if k < 0 { return }
            }
        }
        product(axesList.map { Array(0..<$0.mainCount) }) { idx in
            if !exclude.contains(where: { matches(idx, $0) }) { out.append(code(idx)); seen.insert(code(idx)) }
        }
        for p in include {
            let choices = axesList.map { axis -> [Int] in
                guard let entry = p.first(where: { $0.axis == axis.name }) else { return Array(0..<axis.mainCount) }
                return entry.values.map { v in axis.values.firstIndex(of: v)! }
            }
            product(choices) { idx in if seen.insert(code(idx)).inserted { out.append(code(idx)) } }
        }
        return out
    }
}

/// One grid point.
public struct GridPoint {
    public let id: Int
    public let config: RunConfig
    /// `K64-E8-bursty-s0`, with every swept field's value before the seed.
    public let name: String
    /// Swept fields besides classes, exemplars, variant and seed: path and
    /// value (for a named run: every column of the results file).
    public let fields: [(path: String, value: FieldValue)]
    /// Sequence counts at which the run keeps a checkpoint for other runs.
    public internal(set) var keep: [Int] = []
    /// The run id of each part of `config.start`.
    public internal(set) var sources: [Int] = []
}
