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

/// One scalar field of a run: its dotted path in a spec, what it accepts,
/// its default (or how it is derived from the run), what it requires, the
/// tag it gets in run names when swept, the option `train` and `bench`
/// give it, a help line, and where it goes in a run's `RunConfig`.
/// `SpecField.all` is the one table that parsing, defaults, grid expansion,
/// run naming, spec comparison, the command-line options and the spec
/// reference (`docs/spec.md`) read.
struct SpecField {
    let path: String
    let kind: FieldKind
    /// nil: required, or derived from the run (`derived`).
    let defaultValue: FieldValue?
    /// Prefix of the value in run names when swept; nil: cannot be swept.
    let tag: String?
    /// One line for the reference and `--help`.
    let help: String
    /// The command-line option (without `--`); nil: the key with dashes.
    var optionName: String? = nil
    /// How the value follows from the run when the spec does not set it.
    var derived: Derived? = nil
    /// Another field's value this one needs to mean anything.
    var requires: (path: String, value: String)? = nil
    /// Whether the value is part of what a run computes; false: where it
    /// runs only (`training.ranks`), left out of spec comparisons.
    var recorded = true
    /// Sets the value in a run's config. Fields of a data source apply to
    /// that source only (`applies`).
    let apply: (inout RunConfig, FieldValue) -> Void

    /// A default that follows from the run: its text, and the value (nil:
    /// the field is left unset in the config, which then uses `text`).
    struct Derived {
        let text: String
        var value: ((RunConfig) -> FieldValue)? = nil
    }

    var section: String { path.split(separator: ".").dropLast().joined(separator: ".") }
    var key: String { String(path.split(separator: ".").last!) }
    var sweepable: Bool { tag != nil }
    var option: String { optionName ?? key.replacingOccurrences(of: "_", with: "-") }

    /// Whether the field means anything for this data source.
    func applies(to data: DataSource) -> Bool {
        switch data {
        case .synthetic: return !path.hasPrefix("data.file.")
        case .file: return !path.hasPrefix("data.synthetic.")
        }
    }

    static func synthetic(_ key: String, _ kind: FieldKind, _ defaultValue: FieldValue?, tag: String, help: String,
                          option: String? = nil, _ set: @escaping (inout SyntheticData, FieldValue) -> Void) -> SpecField {
        SpecField(path: "data.synthetic.\(key)", kind: kind, defaultValue: defaultValue, tag: tag, help: help, optionName: option) { c, v in
            if case .synthetic(var s) = c.data { set(&s, v); c.data = .synthetic(s) }
        }
    }

    /// Every field a spec may set, in the order runs apply them.
    static let all: [SpecField] = [
        .synthetic("classes", .count(min: 2), nil, tag: "dataK", help: "Classes in the synthetic table (a spec with synthetic data gives it; `train`: --classes).",
                   option: "data-classes") { $0.classes = $1.int },
        .synthetic("exemplars", .count(min: 1), nil, tag: "dataE", help: "Exemplars per class in the table (a spec with synthetic data gives it; `train`: --exemplars).",
                   option: "data-exemplars") { $0.exemplars = $1.int },
        .synthetic("dim", .count(min: 1), .int(512), tag: "dim", help: "Size of each exemplar vector.") { $0.dim = $1.int },
        .synthetic("noise", .number(min: 0, exclusive: false), .double(0.1), tag: "noise",
                   help: "Within-class noise scale: exemplar = class prototype + noise x N(0, I).") { $0.noise = $1.double },
        .synthetic("prototypes", .count(min: 0), .int(0), tag: "proto",
                   help: "Prototypes the classes share (class c varies prototype c mod N, as Omniglot's classes are characters in rotations); 0: each class its own.") {
            $0.prototypes = $1.int == 0 ? nil : $1.int
        },
        .synthetic("spread", .number(min: 0, exclusive: false), .double(SyntheticData.defaultSpread), tag: "spread",
                   help: "With prototypes: scale of a class's variation around its prototype (exemplar = prototype + spread x N(0, I) + noise x N(0, I)).") {
            $0.spread = $1.double == SyntheticData.defaultSpread ? nil : $1.double
        },
        .synthetic("seed", .seed, .int(0), tag: "dseed", help: "Seed of the synthetic table.", option: "data-seed") { $0.seed = UInt64($1.int) },
        SpecField(path: "data.file.path", kind: .text, defaultValue: nil, tag: nil,
                  help: "HDF5 file of exemplar features [classes, exemplars, dim] (relative to the spec's folder).", optionName: "features") { c, v in
            if case .file(var f) = c.data { f.path = v.text; c.data = .file(f) }
        },
        SpecField(path: "data.file.dataset", kind: .text, defaultValue: .text("resnet18/224/feat"), tag: nil,
                  help: "Dataset path inside the features file.") { c, v in
            if case .file(var f) = c.data { f.dataset = v.text; c.data = .file(f) }
        },
        SpecField(path: "model.width", kind: .count(min: 1), defaultValue: .int(PaperValues.width), tag: "w", help: "Model width d_model.") { $0.width = $1.int },
        SpecField(path: "model.heads", kind: .count(min: 1), defaultValue: .int(PaperValues.heads), tag: "h", help: "Attention heads (they divide the width).") {
            $0.heads = $1.int
        },
        SpecField(path: "model.layers", kind: .count(min: 1), defaultValue: .int(PaperValues.layers), tag: "L", help: "Transformer layers.") { $0.layers = $1.int },
        SpecField(path: "model.pairs", kind: .count(min: 1), defaultValue: .int(PaperValues.pairs), tag: "pairs", help: "Exemplar-label pairs in context.") {
            $0.pairs = $1.int
        },
        SpecField(path: "model.positions", kind: .count(min: 1), defaultValue: .int(PaperValues.positions), tag: "pos", help: "Rows of the learned position table.") {
            $0.maxPositions = $1.int
        },
        SpecField(path: "model.positional", kind: .choice(PositionalEncoding.allCases.map(\.rawValue)), defaultValue: .text("learned"),
                  tag: "", help: "Positions: learned (the paper's 2-layer model) or sinusoidal (its 12-layer model).") {
            $0.positional = $1.text == "learned" ? nil : PositionalEncoding(rawValue: $1.text)
        },
        SpecField(path: "model.sin_time", kind: .number(min: 0, exclusive: true), defaultValue: .double(PaperValues.sinusoidTime), tag: "sint",
                  help: "Time scale S of sinusoidal positions, sin(t / S^(2i/D)) (the authors' 12-layer runs: 30).",
                  requires: ("model.positional", "sinusoidal")) { $0.sinTime = $1.double == PaperValues.sinusoidTime ? nil : $1.double },
        SpecField(path: "model.mlp", kind: .choice(["off", "on"]), defaultValue: .text("off"), tag: "mlp",
                  help: "A GELU MLP in every layer (the paper's 12-layer model); off: attention only.") {
            $0.mlp = $1.text == "on" ? true : nil
        },
        SpecField(path: "model.mlp_ratio", kind: .count(min: 1), defaultValue: .int(PaperValues.mlpRatio), tag: "mlpr", help: "MLP hidden width over the model width.",
                  requires: ("model.mlp", "on")) {
            $0.mlpRatio = $1.int == PaperValues.mlpRatio ? nil : $1.int
        },
        SpecField(path: "training.sequences", kind: .count(min: 1), defaultValue: nil, tag: "seq",
                  help: "Training length in sequences (a multiple of the batch).") { $0.sequences = $1.int },
        SpecField(path: "training.batch", kind: .count(min: 1), defaultValue: .int(PaperValues.batch), tag: "b", help: "Sequences per Adam step.") {
            $0.batch = $1.int
        },
        SpecField(path: "training.shards", kind: .count(min: 1), defaultValue: .int(1), tag: "sh",
                  help: "Equal parts of each step's batch, each part's gradient computed alone and the parts added in order: the run's bits depend on this, never on its ranks; 1: the whole batch at once.") {
            $0.shards = $1.int == 1 ? nil : $1.int
        },
        SpecField(path: "training.ranks", kind: .count(min: 1), defaultValue: .int(1), tag: nil,
                  help: "Ranks that train the run together, on one node, each taking a share of the shards (at most training.shards); where the run trains, not what it computes: changing it on a resume is no change to the spec.",
                  recorded: false) {
            $0.ranks = $1.int == 1 ? nil : $1.int
        },
        SpecField(path: "training.learning_rate", kind: .number(min: 0, exclusive: true), defaultValue: .double(PaperValues.learningRate),
                  tag: "lr", help: "Adam's learning rate (constant, as the paper).") { $0.adam.learningRate = $1.double },
        SpecField(path: "training.warmup_steps", kind: .count(min: 0), defaultValue: .int(0), tag: "wu",
                  help: "Adam steps over which the learning rate rises linearly from learning_rate / warmup_steps to learning_rate (as the authors' --warmup_steps, whose warmup_decay optimiser starts at 1e-5 and adds a decay and gradient clipping); 0: constant, as the paper's main runs.") {
            $0.adam.warmupSteps = $1.int > 0 ? $1.int : nil
        },
        SpecField(path: "training.decay_steps", kind: .count(min: 0), defaultValue: .int(0), tag: "dec",
                  help: "Adam step at which the learning rate, after the warm-up, has fallen to 0 along a half cosine, and stays (as the authors' --optimizer cosine --decay_steps, which count the warm-up); 0: constant, as the paper.") {
            $0.adam.decaySteps = $1.int > 0 ? $1.int : nil
        },
        SpecField(path: "training.weight_decay", kind: .number(min: 0, exclusive: false), defaultValue: .double(0), tag: "wd",
                  help: "Decoupled weight decay (AdamW): each step multiplies every parameter by 1 - lr x wd; 0: none, as the paper.") {
            $0.adam.weightDecay = $1.double > 0 ? $1.double : nil
        },
        SpecField(path: "training.init_seed", kind: .seed, defaultValue: nil, tag: "init", help: "Seed of the model's initialisation.",
                  derived: Derived(text: "the run's seed")) { $0.initSeed = UInt64($1.int) },
        SpecField(path: "training.data_seed", kind: .seed, defaultValue: nil, tag: "data", help: "Seed of the training sequences.",
                  optionName: "train-data-seed", derived: Derived(text: "the run's seed")) { $0.dataSeed = UInt64($1.int) },
        SpecField(path: "training.eval_interval", kind: .count(min: 1), defaultValue: nil, tag: "evi",
                  help: "Sequences between evaluations (a multiple of the batch; the run is also evaluated at 0 and at its end).") {
            $0.evalInterval = $1.int
        },
        SpecField(path: "training.checkpoint_interval", kind: .count(min: 0), defaultValue: .int(0), tag: "cki",
                  help: "Sequences between checkpoints (a multiple of the batch); 0: only when stopped.") {
            $0.checkpointInterval = $1.int
        },
        SpecField(path: "training.burstiness", kind: .count(min: 1), defaultValue: .int(PaperValues.burstiness), tag: "B",
                  help: "Exemplars of the query class (and as many of one distractor) in a bursty context: 1, or at most half the pairs.") {
            $0.burstiness = $1.int == PaperValues.burstiness ? nil : $1.int
        },
        SpecField(path: "training.relabel_set", kind: .count(min: 1), defaultValue: nil, tag: "relabel",
                  help: "icl_only: size of the label set labels are drawn from (its number of outputs).",
                  derived: Derived(text: "the run's class count, as the paper")) { $0.relabelSet = $1.int },
        SpecField(path: "training.class_frequency", kind: .choice(["uniform", "zipf"]), defaultValue: .text("uniform"), tag: "",
                  help: "How training sequences pick classes: uniform, or zipf (class k with probability proportional to (k+1)^-alpha).") {
            $0.classFrequency = $1.text == "zipf" ? .zipf(alpha: 1) : nil
        },
        SpecField(path: "training.zipf_alpha", kind: .number(min: 0, exclusive: false), defaultValue: .double(1), tag: "alpha",
                  help: "The Zipf exponent alpha.", requires: ("training.class_frequency", "zipf")) {
            if case .zipf? = $0.classFrequency { $0.classFrequency = .zipf(alpha: $1.double) }
        },
        SpecField(path: "evaluation.sequences", kind: .count(min: 1), defaultValue: .int(PaperValues.evalSequences), tag: "evseq",
                  help: "Sequences per evaluator set (the paper: 5,000).", optionName: "eval-sequences") { $0.evalSequences = $1.int },
        SpecField(path: "evaluation.seed", kind: .seed, defaultValue: .int(Int(PaperValues.evalSeed)), tag: "evseed", help: "Seed of the evaluator sets.",
                  optionName: "eval-seed") { $0.evalSeed = UInt64($1.int) },
        SpecField(path: "evaluation.burstiness", kind: .count(min: 1), defaultValue: nil, tag: "evB",
                  help: "Burstiness of the icl and flip evaluator sets (the authors' 12-layer evaluators: 4).", optionName: "eval-burstiness",
                  derived: Derived(text: "the run's training burstiness")) { $0.evalBurstiness = $1.int },
        SpecField(path: "evaluation.classes", kind: .count(min: 1), defaultValue: nil, tag: "evK",
                  help: "Evaluator sets draw from the first N classes.", optionName: "eval-classes",
                  derived: Derived(text: "min(classes, \(PaperValues.evalClasses))") { .int(Swift.min($0.classes, PaperValues.evalClasses)) }) { $0.evalClasses = $1.int },
        SpecField(path: "evaluation.exemplars", kind: .count(min: 1), defaultValue: nil, tag: "evE",
                  help: "Evaluator sets draw from the first N exemplars of each class.", optionName: "eval-exemplars",
                  derived: Derived(text: "min(exemplars, \(PaperValues.evalExemplars))") { .int(Swift.min($0.exemplars, PaperValues.evalExemplars)) }) { $0.evalExemplars = $1.int },
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
