import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import Yams

/// A sweep: settings every run shares plus a grid. Every scalar field comes
/// from the table in `SpecField.all`; the grid sweeps the run's classes,
/// exemplars, variant and seed and any other field by its dotted path. Each
/// grid point is one run with a stable id (`Grid`).
public struct SweepSpec {
    public var name: String
    /// Results file, resolved against the spec file's folder.
    public var results: String
    /// Where each field was given in its section (for errors).
    var given: [String: SpecReader]
    public var grid: Grid
    /// The grid's runs, then the named runs of `runs:`.
    public internal(set) var runs: RunList
    /// Every field set in its section or by default, and not swept (`data.file.path` resolved).
    var settings: [String: FieldValue] { grid.settings }
    /// The spec's text as written, stored in the results file.
    public var text: String
    public var file: String

    /// Every setting and grid axis by dotted path, as canonical text: what
    /// two specs are compared by (numbers by value, defaults filled in).
    var fields: [String: String]

    public var hash: String {
        var sum = Checksum()
        sum.add(text)
        return sum.hex
    }

    // MARK: - Reading

    static let topKeys = ["name", "results", "data", "model", "training", "evaluation", "grid", "runs"]
    static let sections = ["model", "training", "evaluation"]

    public static func load(path: String) throws -> SweepSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, line: nil, field: "", message: "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String) throws -> SweepSpec {
        let node: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw SpecError(file: file, line: nil, field: "", message: "the spec is empty")
            }
            node = n
        } catch let e as SpecError {
            throw e
        } catch let e as YamlError {
            throw SpecError(file: file, line: yamlLine(e), field: "", message: "not valid YAML: \(e)")
        }
        let root = SpecReader(file: file, node: node, path: "")
        let top = try root.mapping(allowed: topKeys)
        func required(_ key: String) throws -> SpecReader {
            guard let r = top[key] else { throw SpecError(file: file, line: nil, field: key, message: "missing (required)") }
            return r
        }
        let name = try required("name").string()
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        let folder = URL(fileURLWithPath: absolute).deletingLastPathComponent()
        func resolved(_ path: String) -> String {
            path.hasPrefix("/") ? path : folder.appendingPathComponent(path).standardized.path
        }
        let results = resolved(try required("results").string())

        // data: exactly one of synthetic / file
        let dataReader = try required("data")
        let dataKeys = try dataReader.mapping(allowed: ["synthetic", "file"])
        let dataSection: String
        var skeleton: DataSource
        switch (dataKeys["synthetic"], dataKeys["file"]) {
        case (_?, nil):
            dataSection = "data.synthetic"
            skeleton = .synthetic(SyntheticData(classes: 0, exemplars: 0, dim: 0, noise: 0, seed: 0))
        case (nil, _?):
            dataSection = "data.file"
            skeleton = .file(FeatureFile(path: "", dataset: ""))
        default:
            throw dataReader.error("give exactly one of 'synthetic' or 'file'")
        }

        // every section's fields, read and checked one by one
        var given: [String: (value: FieldValue, reader: SpecReader)] = [:]
        var sectionReaders: [String: SpecReader] = [:]
        for section in [dataSection] + sections {
            let reader = section == dataSection ? dataKeys[String(section.dropFirst(5))] : top[section]
            guard let reader else { continue }
            sectionReaders[section] = reader
            for (key, r) in try reader.mapping(allowed: SpecField.keys(of: section)) {
                let field = SpecField.byPath["\(section).\(key)"]!
                if ["evaluation.classes", "evaluation.exemplars"].contains(field.path) && r.isNull { continue }
                var value = try field.kind.read(r)
                if field.path == "data.file.path" { value = .text(resolved(value.text)) }
                given[field.path] = (value, r)
            }
        }
        // the grid, the named runs, or both
        guard top["grid"] != nil || top["runs"] != nil else {
            throw SpecError(file: file, line: nil, field: "grid", message: "missing (give a grid, named runs under 'runs:', or both)")
        }
        let gridReader = top["grid"] ?? SpecReader(file: file, node: Node([(Node, Node)]()), path: "grid")
        let active = SpecField.all.filter { $0.applies(to: skeleton) }
        var grid = try Grid.read(gridReader, active: active, given: given.mapValues(\.reader))
        grid.absent = top["grid"] == nil
        if dataSection == "data.file", let p = given["data.file.path"] {
            skeleton = .file(FeatureFile(path: p.value.text, dataset: (given["data.file.dataset"]?.value
                                                                      ?? SpecField.byPath["data.file.dataset"]!.defaultValue!).text))
            do { _ = try skeleton.available() } catch { throw p.reader.error("\(error)") }
        }

        // required fields: in their section or on the grid
        for path in SpecField.required.sorted() where active.contains(where: { $0.path == path }) {
            if given[path] == nil && !grid.sweeps(path) {
                let field = SpecField.byPath[path]!
                guard let section = sectionReaders[field.section] else {
                    throw SpecError(file: file, line: nil, field: field.section, message: "missing (required)")
                }
                throw section.error("missing '\(field.key)'")
            }
        }
        var settings: [String: FieldValue] = [:]
        for field in active where !grid.sweeps(field.path) {
            if let v = given[field.path]?.value ?? field.defaultValue { settings[field.path] = v }
        }
        try grid.complete(data: skeleton, settings: settings, gridReader: gridReader)
        let named = try top["runs"].map { try NamedRuns.read($0, base: grid.base, grid: grid, active: active, settings: settings) } ?? []
        // (a named run's name cannot be a grid run's: entry names have no '-', grid names start K<n>-E<n>-)
        var spec = SweepSpec(name: name, results: results, given: given.mapValues(\.reader),
                             grid: grid, runs: try RunList.make(grid: grid, named: named), text: text, file: file, fields: [:])
        spec.fields = spec.canonicalFields()
        try spec.checkEveryCell(gridReader: gridReader)
        return spec
    }

    private static func yamlLine(_ e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    // MARK: - Checking every cell

    /// Every grid cell must make a valid run. The seed does not change what
    /// is valid, so one check per cell covers the grid; a problem is
    /// reported at the line of the field it names (where it is set, or its
    /// grid axis), with the run's name.
    func checkEveryCell(gridReader: SpecReader) throws {
        let seeds = grid.seedCount
        func line(of path: String) -> SpecReader {
            if let axis = grid.axes.first(where: { $0.name == path }) { return axis.reader }
            return given[path] ?? gridReader
        }
        for cell in 0..<grid.cellCount {
            let run = grid[cell * seeds]
            for check in CrossCheck.all {
                if let problem = check.problem(run.config) {
                    if let swept = check.fields.first(where: grid.sweeps) { throw line(of: swept).error("run \(run.name): \(problem)") }
                    throw line(of: check.fields.first { given[$0] != nil } ?? check.fields[0]).error(problem)
                }
            }
            for field in SpecField.all where grid.sweeps(field.path) || given[field.path] != nil {
                if let (path, wanted) = field.requires, runs.value(path, of: run.id).text != wanted {
                    let swept = grid.sweeps(path) || grid.sweeps(field.path)
                    throw line(of: field.path).error("applies only with \(path): \(wanted)" + (swept
                        ? ", and run \(run.name) has \(path): \(runs.value(path, of: run.id)) (exclude those points)"
                        : " (it is \(runs.value(path, of: run.id)))"))
                }
            }
            let problems = run.config.problems()
            if let first = problems.first {
                throw line(of: first.field).error("run \(run.name) is impossible: \(problems.map(\.description).joined(separator: "; "))")
            }
        }
        for n in runs.named {
            for check in CrossCheck.all where !(n.config.start?.evaluatesOnly == true && check.fields.contains("training.sequences")) {
                if let problem = check.problem(n.config) { throw n.reader.error("run \(n.name): \(check.fields[0]): \(problem)") }
            }
            let problems = n.config.problems()
            if let first = problems.first {
                // at the key the problem names (graft:, freeze:, a field), else the entry
                throw (n.keyReaders[first.field] ?? n.reader).error("run \(n.name) is impossible: "
                                                                    + problems.map(\.description).joined(separator: "; "))
            }
        }
    }

    // MARK: - Comparing two specs

    /// name, every setting and every grid axis (and include/exclude) as canonical text.
    func canonicalFields() -> [String: String] {
        var out = ["name": name]
        for (path, value) in settings where SpecField.byPath[path]?.recorded != false { out[path] = value.description }
        for axis in grid.axes { out["grid.\(axis.name)"] = "[" + axis.values.prefix(axis.mainCount).map(\.description).joined(separator: ", ") + "]" }
        for (i, n) in runs.named.enumerated() {
            out["runs.\(n.name)"] = n.config.json + " keep \(runs.keep[grid.count + i] ?? [])"
        }
        if grid.absent { out["grid"] = "(none)" }
        for (key, entries) in [("include", grid.include), ("exclude", grid.exclude)] where !entries.isEmpty {
            out["grid.\(key)"] = entries.map { e in
                "{" + e.map { "\($0.axis): [\($0.values.map(\.description).joined(separator: ", "))]" }.joined(separator: ", ") + "}"
            }.joined(separator: ", ")
        }
        return out
    }

    /// Fields whose values differ between two specs, as "field: old -> new".
    /// Values are compared as read: `5.0e-4` and `0.0005`, `1_000` and
    /// `1000`, a default and the same value written out are the same.
    public func differences(from other: SweepSpec) -> [String] {
        Set(fields.keys).union(other.fields.keys).sorted().compactMap { key in
            let a = fields[key], b = other.fields[key]
            return a == b ? nil : "\(key): \(b ?? "(absent)") -> \(a ?? "(absent)")"
        }
    }
}

extension SweepSpec {
    /// Relative cost of a run: matrix-product FLOPs of its training, plus
    /// its evaluations (forward only, about a third of a step per sequence).
    static func cost(_ config: RunConfig, dim: Int) -> Double {
        let perStep = config.model(inputDim: dim).flopsPerStep(batch: config.batch)
        let evals = Double(config.evalPoints.count * config.applicableEvaluators.count * config.evalSequences)
        return perStep * (Double(config.steps) + evals / Double(config.batch) / 3)
    }

    /// The cost of every run of each grid cell (seeds do not change it), then
    /// of each named run. With `wall`, what sets how long it takes: its cost
    /// over its ranks (`training.ranks`), for priorities and the critical path.
    public func runCosts(wall: Bool = false) -> RunCosts {
        var dims: [DataSource: Int] = [:]  // one read per data source (an HDF5 open for a features file)
        func cost(_ config: RunConfig) -> Double {
            let dim = dims[config.data] ?? ((try? config.data.available().dim) ?? 1)
            dims[config.data] = dim
            return SweepSpec.cost(config, dim: dim) / Double(wall ? config.rankCount : 1)
        }
        return RunCosts(cells: (0..<grid.cellCount).map { cost(grid[$0 * grid.seedCount].config) },
                        named: runs.named.map { cost($0.config) }, gridRuns: grid.count, seeds: grid.seedCount)
    }

    /// `ids` in the order they are handed out: the longest chain of work
    /// first (a run's own cost plus the longest chain waiting on it: for
    /// runs nothing depends on, their cost), then by id. O(n log n).
    public func schedule(of ids: [Int], graph: RunGraph? = nil) -> [Int] {
        let graph = graph ?? RunGraph(runs, costs: runCosts(wall: true))
        return ids.sorted { a, b in
            let ca = graph.priority(a), cb = graph.priority(b)
            return ca != cb ? ca > cb : a < b
        }
    }

    /// Every run in hand-out order.
    public var schedule: [GridPoint] { schedule(of: Array(0..<runs.count)).map { runs[$0] } }

    /// One config per distinct setting of the fields that matter to `paths`:
    /// every grid cell when the grid sweeps one of them (else the first),
    /// and every named run.
    func representativeConfigs(sweeping paths: (String) -> Bool) -> [RunConfig] {
        let cells: [Int] = grid.cellCount == 0 ? [] : grid.axes.contains { paths($0.name) } ? Array(0..<grid.cellCount) : [0]
        return cells.map { grid[$0 * grid.seedCount].config } + runs.named.map(\.config)
    }

    /// Every data source the runs use, each with the largest classes and
    /// exemplars any run takes from it: the tables a node loads once.
    public var tables: [(data: DataSource, classes: Int, exemplars: Int)] {
        var out: [(data: DataSource, classes: Int, exemplars: Int)] = []
        func add(_ data: DataSource, _ classes: Int, _ exemplars: Int) {
            if let i = out.firstIndex(where: { $0.data == data }) {
                out[i].classes = max(out[i].classes, classes)
                out[i].exemplars = max(out[i].exemplars, exemplars)
            } else {
                out.append((data, classes, exemplars))
            }
        }
        for c in representativeConfigs(sweeping: { $0.hasPrefix("data.") }) { add(c.data, c.classes, c.exemplars) }
        if !grid.sweepsData && grid.cellCount > 0 {  // every cell shares the source: the axes give its size
            add(grid[0].config.data, grid.axes.first { $0.name == "classes" }!.values.map(\.int).max()!,
                grid.axes.first { $0.name == "exemplars" }!.values.map(\.int).max()!)
        }
        return out
    }

    /// Reads every features file the runs use, so that a NaN or a wrong
    /// shape is found before anything starts.
    public func checkFeatures() throws {
        for t in tables {
            guard case .file = t.data else { continue }
            _ = try t.data.table(classes: t.classes, exemplars: t.exemplars)
        }
    }

    /// Sequence counts at which runs evaluate: the union over every run
    /// (one list unless the training length or intervals are swept, or named runs differ).
    public var evalPoints: [Int] {
        let lengths = ["training.sequences", "training.eval_interval", "training.batch"]
        return Array(Set(representativeConfigs(sweeping: lengths.contains).flatMap(\.evalPoints))).sorted()
    }

    /// Training sequences of every run in `ids`.
    public func sequences(of ids: [Int]) -> Int {
        if !grid.sweeps("training.sequences") && runs.named.isEmpty { return ids.count * (grid.isEmpty ? 0 : grid[0].config.sequences) }
        return ids.reduce(0) { $0 + runs[$1].config.sequences }
    }

    /// The files beside the results file: claim, outcome, checkpoints, summary.
    public var paths: ResultsPaths { ResultsPaths(results) }
    public func checkpoint(for run: GridPoint) -> URL { paths.checkpoint(run: run.id, name: run.name) }
    /// The checkpoint run `id` keeps at `sequences` for the runs built on it.
    public func keptCheckpoint(run id: Int, at sequences: Int) -> URL {
        paths.kept(run: id, name: runs.name(of: id), at: sequences)
    }
}

/// What each run costs (relative FLOPs), without a value per grid run.
public struct RunCosts {
    public let cells: [Double]
    public let named: [Double]
    let gridRuns: Int
    let seeds: Int
    public subscript(id: Int) -> Double { id < gridRuns ? cells[id / seeds] : named[id - gridRuns] }
}

