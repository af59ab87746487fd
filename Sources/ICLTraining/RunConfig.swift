import Foundation
import ICLSupport
import ICLData
import ICLModel

/// The paper's values of a run's settings, each written once: a `RunConfig`
/// starts from them, the spec's field table (`SpecField`) gives them as its
/// defaults, and an optional field left nil means the value here.
public enum PaperValues {
    public static let batch = 32, evalSequences = 5000, width = 64, heads = 8, layers = 2, pairs = 2, positions = 32
    public static let evalSeed: UInt64 = 1234
    /// MLP hidden width over the model width, when the model has MLPs.
    public static let mlpRatio = 4
    /// Exemplars of the query class in a bursty context (the paper's 2-pair setup).
    public static let burstiness = 1
    /// Time scale of sinusoidal positions.
    public static let sinusoidTime = 10000.0
    /// Evaluator sets draw from at most the first 1,600 classes and 5 exemplars.
    public static let evalClasses = 1600, evalExemplars = 5
    public static let learningRate = AdamSettings.paperLearningRate
}

/// Everything that defines one training run (one grid point of a sweep).
/// Two runs with equal configs compute bitwise-identical results.
public struct RunConfig: Codable, Equatable {
    public var data: DataSource
    public var classes: Int
    public var exemplars: Int
    public var variant: Variant
    public var seed: UInt64
    /// Seeds of the model's initialisation and of the training sequences, as
    /// the authors seed them apart; nil (stored configs without them too):
    /// `seed`, which is what a grid's `seeds` sets.
    public var initSeed: UInt64?
    public var dataSeed: UInt64?
    /// Training length in sequences; a multiple of `batch`.
    public var sequences: Int
    public var batch: Int = PaperValues.batch
    /// Sequences between evaluations; a multiple of `batch`.
    public var evalInterval: Int
    /// Sequences per evaluator set.
    public var evalSequences: Int = PaperValues.evalSequences
    public var evalSeed: UInt64 = PaperValues.evalSeed
    /// Evaluator sets are drawn from the first `evalClasses` classes and
    /// first `evalExemplars` exemplars (the paper: 1,600 and 5).
    public var evalClasses: Int
    public var evalExemplars: Int
    /// Label set `icl_only` relabels into; it is that run's number of
    /// outputs. nil: the run's class count, as the paper (`fs_relabel` over
    /// 12,800 labels); stored configs without it read as nil.
    public var relabelSet: Int?
    /// The burstiness of training sequences, and of the icl and flip evaluator sets.
    public var trainingBurstiness: Int { burstiness ?? PaperValues.burstiness }
    public var evaluationBurstiness: Int { evalBurstiness ?? trainingBurstiness }
    /// The size of the relabel set in effect.
    public var relabelLabels: Int { relabelSet ?? classes }
    /// How training sequences pick classes; nil is uniform (and leaves the
    /// stored config, and so existing checkpoints, as they were).
    public var classFrequency: ClassFrequency?
    public var width: Int = PaperValues.width
    public var heads: Int = PaperValues.heads
    public var layers: Int = PaperValues.layers
    public var pairs: Int = PaperValues.pairs
    /// Exemplars of the query class in a bursty context (and as many of one
    /// distractor); nil: 1, the paper's 2-pair setup. The 12-layer model: 3 of 8 pairs.
    public var burstiness: Int?
    /// Burstiness of the `icl` and `flip` evaluator sets; nil: the run's
    /// (the authors' 12-layer evaluators use 4 with training burstiness 3).
    public var evalBurstiness: Int?
    public var maxPositions: Int = PaperValues.positions
    /// An MLP in every layer (the paper's 12-layer model); nil: none, the
    /// paper's attention-only model (and stored configs as they were).
    public var mlp: Bool?
    /// The MLP's hidden width over the model width; nil: 4.
    public var mlpRatio: Int?
    /// `sinusoidal` positions; nil: learned, the paper's 2-layer model.
    public var positional: PositionalEncoding?
    /// Time scale of sinusoidal positions; nil: 10,000 (and stored configs as they were).
    public var sinTime: Double?
    public var adam = AdamSettings()
    /// Sequences between checkpoints (0: none); a multiple of `batch`.
    public var checkpointInterval: Int = 0
    /// Weights from other runs' checkpoints and groups held fixed; nil: a
    /// fresh start training everything (and stored configs as they were).
    public var start: RunStart?
    /// Equal parts each step's batch is split into (`training.shards`): each
    /// part's gradient is computed alone and the parts are added in their
    /// order, so the run's bits depend on this number and never on how many
    /// ranks share the parts. nil: 1, the whole batch at once (and stored
    /// configs as they were).
    public var shards: Int?
    public var shardCount: Int { shards ?? 1 }
    /// Ranks that train the run together (`training.ranks`; nil: 1). Where
    /// the run trains, not what it computes: never stored, never compared.
    @Unrecorded public var ranks: Int?
    public var rankCount: Int { ranks ?? 1 }

    /// The other fields start at the paper's values; the spec's field table
    /// (`SpecField`, which a test holds these to) sets every one.
    public init(data: DataSource, classes: Int, exemplars: Int, variant: Variant, seed: UInt64,
                sequences: Int, evalInterval: Int, evalClasses: Int, evalExemplars: Int) {
        self.data = data; self.classes = classes; self.exemplars = exemplars; self.variant = variant
        self.seed = seed; self.sequences = sequences; self.evalInterval = evalInterval
        self.evalClasses = evalClasses
        self.evalExemplars = evalExemplars
    }

    /// The model this run trains; `icl_only` outputs the relabel set.
    /// Reads the data source's shape (an HDF5 open for a features file).
    public var model: ModelConfig { model(inputDim: (try? data.available().dim) ?? 0) }

    /// The model for inputs of size `inputDim`, without reading the data.
    public func model(inputDim: Int) -> ModelConfig {
        var m = ModelConfig(inputDim: inputDim, labels: variant == .iclOnly ? relabelLabels : classes,
                            width: width, heads: heads, layers: layers, pairs: pairs, maxPositions: maxPositions)
        m.mlpRatio = mlp == true ? mlpRatio ?? PaperValues.mlpRatio : 0
        m.positional = positional ?? .learned
        m.sinusoidTime = sinTime ?? PaperValues.sinusoidTime
        return m
    }

    public var steps: Int { sequences / batch }

    /// Sequence counts at which the run evaluates: 0, every interval, and the end.
    public var evalPoints: [Int] {
        var points = Array(stride(from: 0, through: sequences, by: max(evalInterval, 1)))
        if points.last != sequences { points.append(sequences) }
        return points
    }

    /// Evaluators this run can measure: every one (as the paper), except
    /// that an `icl_only` model with a relabel set smaller than the class
    /// count cannot output most true class labels, so the evaluators that
    /// use them (train, iwl, ciwl, flip) do not apply to it.
    public var applicableEvaluators: [Evaluator] {
        variant == .iclOnly && relabelLabels < classes ? [.icl, .trainVariant] : Evaluator.allCases
    }

    /// Every problem with the config, each naming its field by its spec
    /// path (`ConfigProblem`). Checks the data source too (file, dataset,
    /// sizes) without loading it.
    public func problems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        func add(_ field: String, _ message: String) { out.append(ConfigProblem(field, message)) }
        func positive(_ value: Int, _ field: String) {
            if value < 1 { add(field, "must be a positive number (got \(value))") }
        }
        if start?.evaluatesOnly == true {
            if sequences != 0 { add("training.sequences", "an evaluate-only run trains nothing: must be 0 (got \(sequences))") }
        } else {
            positive(sequences, "training.sequences")
        }
        positive(batch, "training.batch"); positive(evalInterval, "training.eval_interval")
        positive(evalSequences, "evaluation.sequences"); positive(exemplars, "exemplars")
        if classes < 2 { add("classes", "must be at least 2 (got \(classes))") }
        if batch > 0 {
            for (value, field) in [(sequences, "training.sequences"), (evalInterval, "training.eval_interval"),
                                   (checkpointInterval, "training.checkpoint_interval")]
            where value > 0 && value % batch != 0 {
                add(field, "\(value) is not a multiple of the batch size (\(batch))")
            }
        }
        if checkpointInterval < 0 { add("training.checkpoint_interval", "must not be negative (got \(checkpointInterval))") }
        let lr = adam.learningRate
        if !(lr.isFinite && lr > 0) { add("training.learning_rate", "must be a positive finite number (got \(lr))") }
        if let wd = adam.weightDecay, !(wd.isFinite && wd >= 0 && lr * wd < 1) {
            add("training.weight_decay", "must be a finite number >= 0 with learning rate x weight decay < 1 (got \(wd))")
        }
        if let d = adam.decaySteps, d <= (adam.warmupSteps ?? 0) {
            add("training.decay_steps", "\(d) must exceed training.warmup_steps (\(adam.warmupSteps ?? 0)): the decay starts after the warm-up")
        }
        if !(0..<1).contains(adam.beta1) || !(0..<1).contains(adam.beta2) { add("training", "Adam's betas must lie in [0, 1)") }
        // the iwl and ciwl evaluators need `pairs` context classes besides the query's
        if evalClasses < pairs + 1 || evalClasses > classes {
            add("evaluation.classes", "\(evalClasses) must lie between \(pairs + 1) (context pairs + 1) and the run's classes (\(classes))")
        }
        if evalExemplars < 1 || evalExemplars > exemplars {
            add("evaluation.exemplars", "\(evalExemplars) must lie between 1 and the run's exemplars (\(exemplars))")
        }
        if classes < pairs + 1 && classes >= 2 {
            add("classes", "\(classes) must be at least context pairs + 1 (\(pairs + 1))")
        }
        if case .zipf(let alpha)? = classFrequency, !(alpha.isFinite && alpha >= 0) {
            add("training.zipf_alpha", "must be a finite number >= 0 (got \(alpha))")
        }
        if variant == .iclOnly && relabelLabels < pairs {
            add("training.relabel_set", "\(relabelLabels) labels cannot hold the \(pairs) labels of a context")
        }
        do {
            let (k, e, dim) = try data.available()
            if case .synthetic(let s) = data {
                if dim < 1 { add("data.synthetic.dim", "must be a positive number (got \(dim))") }
                if !(s.noise.isFinite && s.noise >= 0) { add("data.synthetic.noise", "must be a finite number >= 0 (got \(s.noise))") }
                if let p = s.prototypes, p < 1 { add("data.synthetic.prototypes", "must be a positive number (got \(p))") }
                if let v = s.spread, !(v.isFinite && v >= 0) { add("data.synthetic.spread", "must be a finite number >= 0 (got \(v))") }
                if s.spread != nil && s.prototypes == nil {
                    add("data.synthetic.spread", "applies only with data.synthetic.prototypes (the prototypes the classes vary)")
                }
            }
            if classes > k { add("classes", "\(classes) exceeds the \(k) classes the data has") }
            if exemplars > e { add("exemplars", "\(exemplars) exceeds the \(e) exemplars per class the data has") }
        } catch {
            add("data", "\(error)")
        }
        if let b = burstiness, b < 1 || (b > 1 && 2 * b > pairs) {
            add("training.burstiness", "\(b) must be 1, or at most half the context pairs (\(pairs)): a burst of the query "
                + "class and one of a distractor must fit")
        }
        if let b = evalBurstiness, b < 1 || (b > 1 && 2 * b > pairs) {
            add("evaluation.burstiness", "\(b) must be 1, or at most half the context pairs (\(pairs))")
        }
        if let s = shards {
            if s < 1 { add("training.shards", "must be a positive number (got \(s))") }
            else if batch > 0 && batch % s != 0 { add("training.shards", "\(s) does not divide the batch (\(batch)) into equal parts") }
        }
        if let r = ranks {
            if r < 1 { add("training.ranks", "must be a positive number (got \(r))") }
            else if r > shardCount {
                add("training.ranks", "\(r) ranks for \(shardCount) shard\(shardCount == 1 ? "" : "s"): a rank needs a shard of "
                    + "the batch to train (set training.shards to a multiple of the ranks, at most the batch)")
            }
        }
        if let r = mlpRatio, r < 1 { add("model.mlp_ratio", "must be a positive number (got \(r))") }
        if mlpRatio != nil && mlp != true { add("model.mlp_ratio", "applies only with model.mlp: on") }
        if let start { out += start.problems(model: model(inputDim: 1)) }
        var model = self.model
        if model.inputDim == 0 { model.inputDim = 1 }  // already reported above
        out += model.problems().filter { $0.field != "classes" }
        return out
    }

    public func validate() throws {
        let problems = self.problems()
        if !problems.isEmpty { throw ConfigError(problems: problems) }
    }

    /// Canonical JSON, stored in checkpoints and results.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public static func fromJSON(_ text: String) throws -> RunConfig {
        try JSONDecoder().decode(RunConfig.self, from: Data(text.utf8))
    }

    /// Names of the top-level fields whose values differ from `other`.
    public func differingFields(from other: RunConfig) -> [String] {
        func fields(_ c: RunConfig) -> [String: String] {
            let object = try! JSONSerialization.jsonObject(with: Data(c.json.utf8)) as! [String: Any]
            return object.mapValues { value in
                let data = try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
                return String(decoding: data, as: UTF8.self)
            }
        }
        let a = fields(self), b = fields(other)
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }
}

/// An invalid configuration: every problem found, each naming its field.
public struct ConfigError: Error, CustomStringConvertible {
    public let problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}


/// A field that is not part of what it belongs to's identity: left out of
/// its JSON (encoding writes nothing, decoding finds nothing) and of its
/// equality. `RunConfig.ranks`: two runs that differ only in it compute the
/// same bits.
@propertyWrapper
public struct Unrecorded<Value>: Codable, Equatable {
    public var wrappedValue: Value?
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }
    public static func == (a: Self, b: Self) -> Bool { true }
    public func encode(to encoder: Encoder) throws {}
    public init(from decoder: Decoder) throws { wrappedValue = nil }
}

extension KeyedEncodingContainer {
    public mutating func encode<V>(_ value: Unrecorded<V>, forKey key: Key) throws {}
}

extension KeyedDecodingContainer {
    public func decode<V>(_ type: Unrecorded<V>.Type, forKey key: Key) throws -> Unrecorded<V> { Unrecorded(wrappedValue: nil) }
}
