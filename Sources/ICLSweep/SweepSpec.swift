import Foundation
import Yams
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// A sweep: shared settings plus a grid of class counts x exemplar counts x
/// variants x seeds. Each grid point is one run with a stable id (its index
/// in that order).
public struct SweepSpec {
    public var name: String
    /// Results file, resolved against the spec file's folder.
    public var results: String
    public var data: DataSource
    /// Settings every run shares; the grid fills in classes, exemplars,
    /// variant and seed.
    public var base: RunConfig
    public var evalClasses: Int?
    public var evalExemplars: Int?
    public var classes: [Int]
    public var exemplars: [Int]
    public var variants: [Variant]
    public var seeds: [UInt64]
    /// The spec's text as written, stored in the results file.
    public var text: String
    public var file: String

    /// Every scalar of the spec by dotted path (for naming what changed).
    var fields: [String: String]

    public var hash: String {
        var sum = Checksum()
        sum.add(text)
        return sum.hex
    }

    // MARK: - Reading

    static let topKeys = ["name", "results", "data", "model", "training", "evaluation", "grid"]

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
        let resultsText = try required("results").string()
        let results = resultsText.hasPrefix("/") ? resultsText : folder.appendingPathComponent(resultsText).standardized.path

        // data: exactly one of synthetic / file
        let dataReader = try required("data")
        let dataKeys = try dataReader.mapping(allowed: ["synthetic", "file"])
        let source: DataSource
        switch (dataKeys["synthetic"], dataKeys["file"]) {
        case (let s?, nil):
            let m = try s.mapping(allowed: ["classes", "exemplars", "dim", "noise", "seed"])
            func need(_ k: String) throws -> SpecReader {
                guard let r = m[k] else { throw s.error("missing '\(k)'") }
                return r
            }
            let noise = try m["noise"]?.double() ?? 0.1
            if !(noise.isFinite && noise >= 0) { throw m["noise"]!.error("must be a finite number >= 0") }
            source = .synthetic(SyntheticData(classes: try need("classes").positiveInt(),
                                              exemplars: try need("exemplars").positiveInt(),
                                              dim: try m["dim"]?.positiveInt() ?? 512, noise: noise,
                                              seed: try m["seed"]?.seed() ?? 0))
        case (nil, let f?):
            let m = try f.mapping(allowed: ["path", "dataset"])
            guard let p = m["path"] else { throw f.error("missing 'path'") }
            let rawPath = try p.string()
            let path = rawPath.hasPrefix("/") ? rawPath : folder.appendingPathComponent(rawPath).standardized.path
            source = .file(FeatureFile(path: path, dataset: try m["dataset"]?.string() ?? "resnet18/224/feat"))
            do { _ = try source.available() } catch { throw p.error("\(error)") }
        default:
            throw dataReader.error("give exactly one of 'synthetic' or 'file'")
        }

        // grid
        let gridReader = try required("grid")
        let grid = try gridReader.mapping(allowed: ["classes", "exemplars", "variants", "seeds"])
        func gridList(_ k: String) throws -> SpecReader {
            guard let r = grid[k] else { throw gridReader.error("missing '\(k)'") }
            return r
        }
        let classes = try gridList("classes").list { r -> Int in
            let v = try r.int()
            guard v >= 2 else { throw r.error("classes must be at least 2, got \(v)") }
            return v
        }
        let exemplars = try gridList("exemplars").list { try $0.positiveInt() }
        let variants = try gridList("variants").list { r -> Variant in
            let s = try r.string()
            guard let v = Variant(rawValue: s) else {
                throw r.error("unknown variant '\(s)' (expected one of: \(Variant.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return v
        }
        let seeds = try gridList("seeds").list { try $0.seed() }

        // shared settings, with the paper's defaults
        var base = RunConfig(data: source, classes: classes[0], exemplars: exemplars[0], variant: variants[0], seed: seeds[0],
                             sequences: 1, evalInterval: 1)
        if let model = top["model"] {
            let m = try model.mapping(allowed: ["width", "heads", "layers", "pairs", "positions"])
            base.width = try m["width"]?.positiveInt() ?? base.width
            base.heads = try m["heads"]?.positiveInt() ?? base.heads
            base.layers = try m["layers"]?.positiveInt() ?? base.layers
            base.pairs = try m["pairs"]?.positiveInt() ?? base.pairs
            base.maxPositions = try m["positions"]?.positiveInt() ?? base.maxPositions
            if base.width % base.heads != 0 { throw (m["heads"] ?? model).error("heads (\(base.heads)) must divide width (\(base.width))") }
        }
        let trainingReader = try required("training")
        let t = try trainingReader.mapping(allowed: ["sequences", "batch", "learning_rate", "eval_interval",
                                                     "checkpoint_interval", "relabel_set", "class_frequency", "zipf_alpha"])
        guard let seqReader = t["sequences"] else { throw trainingReader.error("missing 'sequences'") }
        guard let evalReader = t["eval_interval"] else { throw trainingReader.error("missing 'eval_interval'") }
        base.batch = try t["batch"]?.positiveInt() ?? base.batch
        base.sequences = try seqReader.positiveInt()
        base.evalInterval = try evalReader.positiveInt()
        base.checkpointInterval = try t["checkpoint_interval"]?.int() ?? 0
        base.relabelSet = try t["relabel_set"]?.positiveInt() ?? base.relabelSet
        switch try t["class_frequency"]?.string() {
        case nil, "uniform"?:
            if let a = t["zipf_alpha"] { throw a.error("applies only with class_frequency: zipf") }
        case "zipf"?:
            let alpha = try t["zipf_alpha"]?.double() ?? 1
            guard alpha.isFinite && alpha >= 0 else { throw t["zipf_alpha"]!.error("must be a finite number >= 0, got \(alpha)") }
            base.classFrequency = .zipf(alpha: alpha)
        case let other?:
            throw t["class_frequency"]!.error("unknown class frequency '\(other)' (expected uniform or zipf)")
        }
        if let lr = t["learning_rate"] {
            let v = try lr.double()
            guard v.isFinite && v > 0 else { throw lr.error("must be a positive finite number, got \(v)") }
            base.adam = AdamSettings(learningRate: v)
        }
        for (key, value) in [("sequences", base.sequences), ("eval_interval", base.evalInterval),
                             ("checkpoint_interval", base.checkpointInterval)] where value % base.batch != 0 {
            throw t[key]!.error("\(value) is not a multiple of the batch size \(base.batch)")
        }
        if base.checkpointInterval < 0 { throw t["checkpoint_interval"]!.error("must not be negative") }
        var evalClasses: Int?, evalExemplars: Int?
        if let ev = top["evaluation"] {
            let m = try ev.mapping(allowed: ["sequences", "seed", "classes", "exemplars"])
            base.evalSequences = try m["sequences"]?.positiveInt() ?? base.evalSequences
            base.evalSeed = try m["seed"]?.seed() ?? base.evalSeed
            if let c = m["classes"], !c.isNull { evalClasses = try c.positiveInt() }
            if let e = m["exemplars"], !e.isNull { evalExemplars = try e.positiveInt() }
        }

        if base.evalInterval > base.sequences {
            throw evalReader.error("\(base.evalInterval) is larger than training.sequences (\(base.sequences)): the run would only be evaluated at its start and end")
        }

        var spec = SweepSpec(name: name, results: results, data: source, base: base,
                             evalClasses: evalClasses, evalExemplars: evalExemplars,
                             classes: classes, exemplars: exemplars, variants: variants, seeds: seeds,
                             text: text, file: file, fields: root.flattened())
        spec.fields["results"] = nil  // where the results live is not part of what they are
        // Every grid point must make a valid run. The seed does not change
        // what is valid, so one check per cell (classes x exemplars x variant)
        // covers the grid; report the first impossible point by its grid field.
        for cell in stride(from: 0, to: spec.runs.count, by: seeds.count) {
            let run = spec.runs[cell]
            let problems = run.config.problems()
            if let first = problems.first {
                let field = first.contains("classes") ? "classes" : first.contains("exemplars") ? "exemplars" : ""
                let reader = field.isEmpty ? gridReader : grid[field]!
                throw reader.error("run \(run.name) is impossible: \(problems.joined(separator: "; "))")
            }
        }
        return spec
    }

    private static func yamlLine(_ e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    /// Fields whose values differ between two specs, as "field: old -> new".
    /// Numbers are compared by value: `5.0e-4` and `0.0005`, `1_000` and `1000` are the same.
    public func differences(from other: SweepSpec) -> [String] {
        Set(fields.keys).union(other.fields.keys).sorted().compactMap { key in
            let a = fields[key], b = other.fields[key]
            return SweepSpec.sameValue(a, b) ? nil : "\(key): \(b ?? "(absent)") -> \(a ?? "(absent)")"
        }
    }

    static func sameValue(_ a: String?, _ b: String?) -> Bool {
        guard let a, let b, a != b else { return a == b }
        func numbers(_ s: String) -> [Double]? {
            let inner = s.hasPrefix("[") && s.hasSuffix("]") ? String(s.dropFirst().dropLast()) : s
            let parts = inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "") }
            let values = parts.compactMap(Double.init)
            return values.count == parts.count && !parts.isEmpty ? values : nil
        }
        guard a.hasPrefix("[") == b.hasPrefix("["), let x = numbers(a), let y = numbers(b) else { return false }
        return x == y
    }
}

// MARK: - The grid

/// One grid point.
public struct GridPoint {
    public let id: Int
    public let config: RunConfig
    public var name: String {
        "K\(config.classes)-E\(config.exemplars)-\(config.variant.rawValue)-s\(config.seed)"
    }
}

/// The grid's runs, made from the index on demand (classes outermost, seeds
/// innermost): nothing proportional to the grid is kept, so a
/// million-point grid costs nothing until its runs are used.
public struct Grid: RandomAccessCollection {
    let spec: SweepSpec
    public var startIndex: Int { 0 }
    public var endIndex: Int { spec.classes.count * spec.exemplars.count * spec.variants.count * spec.seeds.count }

    public subscript(id: Int) -> GridPoint {
        precondition(id >= 0 && id < endIndex, "run \(id) is outside the grid of \(endIndex)")
        var rest = id
        let s = rest % spec.seeds.count; rest /= spec.seeds.count
        let v = rest % spec.variants.count; rest /= spec.variants.count
        let e = rest % spec.exemplars.count; rest /= spec.exemplars.count
        var c = spec.base
        c.classes = spec.classes[rest]; c.exemplars = spec.exemplars[e]; c.variant = spec.variants[v]; c.seed = spec.seeds[s]
        c.evalClasses = spec.evalClasses ?? Swift.min(c.classes, 1600)
        c.evalExemplars = spec.evalExemplars ?? Swift.min(c.exemplars, 5)
        return GridPoint(id: id, config: c)
    }
}

extension SweepSpec {
    public var runs: Grid { Grid(spec: self) }

    /// Relative cost of every run of a cell (classes x exemplars x variant):
    /// matrix-product FLOPs of the whole run. Seeds do not change it.
    public func cellCosts() -> [Double] {
        let dim = (try? data.available().dim) ?? 1  // read once (an HDF5 open for a features file)
        return stride(from: 0, to: runs.count, by: seeds.count).map { first in
            let config = runs[first].config
            return config.model(inputDim: dim).flopsPerStep(batch: config.batch) * Double(config.steps)
        }
    }

    /// `ids` in the order they are handed out: longest expected run first,
    /// then by id. O(n log n) in the number of runs.
    public func schedule(of ids: [Int]) -> [Int] {
        let costs = cellCosts(), perCell = seeds.count
        return ids.sorted { a, b in
            let ca = costs[a / perCell], cb = costs[b / perCell]
            return ca != cb ? ca > cb : a < b
        }
    }

    /// Every run in hand-out order.
    public var schedule: [GridPoint] { schedule(of: Array(0..<runs.count)).map { runs[$0] } }

    /// Largest classes and exemplars any run uses: the table a worker loads once.
    public var tableSize: (classes: Int, exemplars: Int) { (classes.max()!, exemplars.max()!) }

    public var evalPoints: [Int] { base.evalPoints }

    /// Folder of the per-run checkpoints, beside the results file.
    public var checkpointFolder: String { results + ".checkpoints" }
    public func checkpoint(for run: GridPoint) -> URL {
        URL(fileURLWithPath: checkpointFolder).appendingPathComponent("run-\(run.id)-\(run.name).h5")
    }
}
