import Foundation
import Yams

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
                                                     "checkpoint_interval", "relabel_set"])
        guard let seqReader = t["sequences"] else { throw trainingReader.error("missing 'sequences'") }
        guard let evalReader = t["eval_interval"] else { throw trainingReader.error("missing 'eval_interval'") }
        base.batch = try t["batch"]?.positiveInt() ?? base.batch
        base.sequences = try seqReader.positiveInt()
        base.evalInterval = try evalReader.positiveInt()
        base.checkpointInterval = try t["checkpoint_interval"]?.int() ?? 0
        base.relabelSet = try t["relabel_set"]?.positiveInt() ?? base.relabelSet
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

        var spec = SweepSpec(name: name, results: results, data: source, base: base,
                             evalClasses: evalClasses, evalExemplars: evalExemplars,
                             classes: classes, exemplars: exemplars, variants: variants, seeds: seeds,
                             text: text, file: file, fields: root.flattened())
        spec.fields["results"] = nil  // where the results live is not part of what they are
        // Every grid point must make a valid run: report the first impossible one by its grid field.
        for run in spec.runs {
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
    public func differences(from other: SweepSpec) -> [String] {
        Set(fields.keys).union(other.fields.keys).sorted().compactMap { key in
            let a = fields[key], b = other.fields[key]
            return a == b ? nil : "\(key): \(b ?? "(absent)") -> \(a ?? "(absent)")"
        }
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

    /// Relative cost: matrix-product FLOPs of the whole run.
    public var cost: Double { Benchmark.flopsPerStep(config) * Double(config.steps) }
}

extension SweepSpec {
    /// The full cartesian product, classes outermost, seeds innermost.
    public var runs: [GridPoint] {
        var out: [GridPoint] = []
        for k in classes { for e in exemplars { for v in variants { for s in seeds {
            var c = base
            c.classes = k; c.exemplars = e; c.variant = v; c.seed = s
            c.evalClasses = evalClasses ?? min(k, 1600)
            c.evalExemplars = evalExemplars ?? min(e, 5)
            out.append(GridPoint(id: out.count, config: c))
        } } } }
        return out
    }

    /// Runs in the order they are handed out: longest expected first.
    public var schedule: [GridPoint] {
        runs.map { ($0, $0.cost) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.id < $1.0.id }
            .map(\.0)
    }

    /// Largest classes and exemplars any run uses: the table a worker loads once.
    public var tableSize: (classes: Int, exemplars: Int) { (classes.max()!, exemplars.max()!) }

    public var evalPoints: [Int] { base.evalPoints }

    /// Folder of the per-run checkpoints, beside the results file.
    public var checkpointFolder: String { results + ".checkpoints" }
    public func checkpoint(for run: GridPoint) -> URL {
        URL(fileURLWithPath: checkpointFolder).appendingPathComponent("run-\(run.id)-\(run.name).h5")
    }
}
