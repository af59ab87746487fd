import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// The value of one scalar spec field.
public enum FieldValue: Hashable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case text(String)

    /// Canonical text: what run names, summaries and spec comparisons show.
    /// Numbers by value (`5.0e-4` and `0.0005` both read `0.0005`).
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)"
        case .text(let s): return s
        }
    }

    var int: Int { if case .int(let v) = self { return v }; if case .double(let v) = self { return Int(v) }; return 0 }
    var double: Double { if case .double(let v) = self { return v }; if case .int(let v) = self { return Double(v) }; return .nan }
    var text: String { if case .text(let s) = self { return s }; return description }
    var isNumber: Bool { if case .text = self { return false }; return true }
}

/// What a field accepts; each kind reads and checks a YAML scalar.
enum FieldKind {
    /// A whole number `>= min` (`1_000` and `2e7` accepted when whole).
    case count(min: Int)
    /// A finite number `>= min`, or `> min` when `exclusive`.
    case number(min: Double, exclusive: Bool)
    /// A seed: a whole number >= 0.
    case seed
    /// One of the listed words.
    case choice([String])
    /// Any text (paths, dataset names).
    case text

    func read(_ r: SpecReader) throws -> FieldValue {
        switch self {
        case .count(let min):
            let v = try r.int()
            guard v >= min else {
                throw r.error(min == 1 ? "must be a positive number, got \(v)" : "must be at least \(min), got \(v)")
            }
            return .int(v)
        case .number(let min, let exclusive):
            let v = try r.double()
            guard v.isFinite, exclusive ? v > min : v >= min else {
                let bound = min == 0 && exclusive ? "a positive finite number" : "a finite number \(exclusive ? ">" : ">=") \(FieldValue.double(min))"
                throw r.error("must be \(bound), got \(v)")
            }
            return .double(v)
        case .seed:
            return .int(Int(try r.seed()))
        case .choice(let words):
            let s = try r.string()
            guard words.contains(s) else { throw r.error("unknown value '\(s)' (expected one of: \(words.joined(separator: ", ")))") }
            return .text(s)
        case .text:
            return .text(try r.string())
        }
    }
}

/// One scalar field of a sweep spec: its dotted path, what it accepts, its
/// default, the tag it gets in run names when swept, and where it goes in a
/// run's `RunConfig`. `SpecField.all` is the one table that parsing,
/// defaults, grid expansion, run naming and spec comparison read.
struct SpecField {
    let path: String
    let kind: FieldKind
    /// nil: required, or derived from the run (evaluation.classes/exemplars,
    /// training.relabel_set: the run's class count).
    let defaultValue: FieldValue?
    /// Prefix of the value in run names when swept; nil: cannot be swept.
    let tag: String?
    /// Sets the value in a run's config. Fields of a data source apply to
    /// that source only (`applies`).
    let apply: (inout RunConfig, FieldValue) -> Void

    var section: String { path.split(separator: ".").dropLast().joined(separator: ".") }
    var key: String { String(path.split(separator: ".").last!) }
    var sweepable: Bool { tag != nil }

    /// Whether the field means anything for this data source.
    func applies(to data: DataSource) -> Bool {
        switch data {
        case .synthetic: return !path.hasPrefix("data.file.")
        case .file: return !path.hasPrefix("data.synthetic.")
        }
    }

    static func synthetic(_ key: String, _ kind: FieldKind, _ defaultValue: FieldValue?, tag: String,
                          _ set: @escaping (inout SyntheticData, FieldValue) -> Void) -> SpecField {
        SpecField(path: "data.synthetic.\(key)", kind: kind, defaultValue: defaultValue, tag: tag) { c, v in
            if case .synthetic(var s) = c.data { set(&s, v); c.data = .synthetic(s) }
        }
    }

    /// Every field a spec may set, in the order runs apply them.
    static let all: [SpecField] = [
        .synthetic("classes", .count(min: 2), nil, tag: "dataK") { $0.classes = $1.int },
        .synthetic("exemplars", .count(min: 1), nil, tag: "dataE") { $0.exemplars = $1.int },
        .synthetic("dim", .count(min: 1), .int(512), tag: "dim") { $0.dim = $1.int },
        .synthetic("noise", .number(min: 0, exclusive: false), .double(0.1), tag: "noise") { $0.noise = $1.double },
        .synthetic("seed", .seed, .int(0), tag: "dseed") { $0.seed = UInt64($1.int) },
        SpecField(path: "data.file.path", kind: .text, defaultValue: nil, tag: nil) { c, v in
            if case .file(var f) = c.data { f.path = v.text; c.data = .file(f) }
        },
        SpecField(path: "data.file.dataset", kind: .text, defaultValue: .text("resnet18/224/feat"), tag: nil) { c, v in
            if case .file(var f) = c.data { f.dataset = v.text; c.data = .file(f) }
        },
        SpecField(path: "model.width", kind: .count(min: 1), defaultValue: .int(64), tag: "w") { $0.width = $1.int },
        SpecField(path: "model.heads", kind: .count(min: 1), defaultValue: .int(8), tag: "h") { $0.heads = $1.int },
        SpecField(path: "model.layers", kind: .count(min: 1), defaultValue: .int(2), tag: "L") { $0.layers = $1.int },
        SpecField(path: "model.pairs", kind: .count(min: 1), defaultValue: .int(2), tag: "pairs") { $0.pairs = $1.int },
        SpecField(path: "model.positions", kind: .count(min: 1), defaultValue: .int(32), tag: "pos") { $0.maxPositions = $1.int },
        SpecField(path: "model.positional", kind: .choice(PositionalEncoding.allCases.map(\.rawValue)), defaultValue: .text("learned"),
                  tag: "") { $0.positional = $1.text == "learned" ? nil : PositionalEncoding(rawValue: $1.text) },
        SpecField(path: "model.mlp", kind: .choice(["off", "on"]), defaultValue: .text("off"), tag: "mlp") {
            $0.mlp = $1.text == "on" ? true : nil
        },
        SpecField(path: "model.mlp_ratio", kind: .count(min: 1), defaultValue: .int(4), tag: "mlpr") {
            $0.mlpRatio = $1.int == 4 ? nil : $1.int
        },
        SpecField(path: "training.sequences", kind: .count(min: 1), defaultValue: nil, tag: "seq") { $0.sequences = $1.int },
        SpecField(path: "training.batch", kind: .count(min: 1), defaultValue: .int(32), tag: "b") { $0.batch = $1.int },
        SpecField(path: "training.learning_rate", kind: .number(min: 0, exclusive: true), defaultValue: .double(1e-5),
                  tag: "lr") { $0.adam.learningRate = $1.double },
        SpecField(path: "training.weight_decay", kind: .number(min: 0, exclusive: false), defaultValue: .double(0), tag: "wd") {
            $0.adam.weightDecay = $1.double > 0 ? $1.double : nil
        },
        SpecField(path: "training.init_seed", kind: .seed, defaultValue: nil, tag: "init") { $0.initSeed = UInt64($1.int) },
        SpecField(path: "training.data_seed", kind: .seed, defaultValue: nil, tag: "data") { $0.dataSeed = UInt64($1.int) },
        SpecField(path: "training.eval_interval", kind: .count(min: 1), defaultValue: nil, tag: "evi") { $0.evalInterval = $1.int },
        SpecField(path: "training.checkpoint_interval", kind: .count(min: 0), defaultValue: .int(0), tag: "cki") {
            $0.checkpointInterval = $1.int
        },
        SpecField(path: "training.burstiness", kind: .count(min: 1), defaultValue: .int(1), tag: "B") {
            $0.burstiness = $1.int == 1 ? nil : $1.int
        },
        SpecField(path: "training.relabel_set", kind: .count(min: 1), defaultValue: nil, tag: "relabel") { $0.relabelSet = $1.int },
        SpecField(path: "training.class_frequency", kind: .choice(["uniform", "zipf"]), defaultValue: .text("uniform"), tag: "") {
            $0.classFrequency = $1.text == "zipf" ? .zipf(alpha: 1) : nil
        },
        SpecField(path: "training.zipf_alpha", kind: .number(min: 0, exclusive: false), defaultValue: .double(1), tag: "alpha") {
            if case .zipf? = $0.classFrequency { $0.classFrequency = .zipf(alpha: $1.double) }
        },
        SpecField(path: "evaluation.sequences", kind: .count(min: 1), defaultValue: .int(5000), tag: "evseq") { $0.evalSequences = $1.int },
        SpecField(path: "evaluation.seed", kind: .seed, defaultValue: .int(1234), tag: "evseed") { $0.evalSeed = UInt64($1.int) },
        SpecField(path: "evaluation.burstiness", kind: .count(min: 1), defaultValue: nil, tag: "evB") { $0.evalBurstiness = $1.int },
        SpecField(path: "evaluation.classes", kind: .count(min: 1), defaultValue: nil, tag: "evK") { $0.evalClasses = $1.int },
        SpecField(path: "evaluation.exemplars", kind: .count(min: 1), defaultValue: nil, tag: "evE") { $0.evalExemplars = $1.int },
    ]

    static let byPath = Dictionary(uniqueKeysWithValues: all.map { ($0.path, $0) })

    /// Fields that must be given (in their section or on the grid).
    static let required: Set<String> = ["data.synthetic.classes", "data.synthetic.exemplars", "data.file.path",
                                        "training.sequences", "training.eval_interval"]

    /// Keys each section accepts.
    static func keys(of section: String) -> [String] { all.filter { $0.section == section }.map(\.key) }
}

/// The four axes every grid has, under their grid names. Each is a field of
/// the run itself, not of a spec section.
enum RunAxis: String, CaseIterable {
    case classes, exemplars, variants, seeds

    var kind: FieldKind {
        switch self {
        case .classes: return .count(min: 2)
        case .exemplars: return .count(min: 1)
        case .variants: return .choice(Variant.allCases.map(\.rawValue))
        case .seeds: return .seed
        }
    }

    func apply(_ c: inout RunConfig, _ v: FieldValue) {
        switch self {
        case .classes: c.classes = v.int
        case .exemplars: c.exemplars = v.int
        case .variants: c.variant = Variant(rawValue: v.text)!
        case .seeds: c.seed = UInt64(v.int)
        }
    }
}

/// Checks that involve more than one field, each reported at the line of
/// the first of its fields that is swept, else the first that is set.
/// Run on every grid cell.
struct CrossCheck {
    let fields: [String]
    let problem: (RunConfig) -> String?

    init(field: String, also: [String] = [], problem: @escaping (RunConfig) -> String?) {
        fields = [field] + also
        self.problem = problem
    }

    static let all: [CrossCheck] = [
        CrossCheck(field: "training.sequences", also: ["training.batch"]) { multiple($0.sequences, $0.batch) },
        CrossCheck(field: "training.eval_interval", also: ["training.batch"]) { multiple($0.evalInterval, $0.batch) },
        CrossCheck(field: "training.checkpoint_interval", also: ["training.batch"]) {
            $0.checkpointInterval == 0 ? nil : multiple($0.checkpointInterval, $0.batch)
        },
        CrossCheck(field: "training.eval_interval", also: ["training.sequences"]) { c in
            c.evalInterval <= c.sequences ? nil
                : "\(c.evalInterval) is larger than training.sequences (\(c.sequences)): the run would only be evaluated at its start and end"
        },
        CrossCheck(field: "model.heads", also: ["model.width"]) { c in c.width % c.heads == 0 ? nil : "heads (\(c.heads)) must divide width (\(c.width))" },
    ]

    static func multiple(_ value: Int, _ batch: Int) -> String? {
        value % batch == 0 ? nil : "\(value) is not a multiple of the batch size \(batch)"
    }
}
