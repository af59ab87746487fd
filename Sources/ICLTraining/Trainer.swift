import Foundation
import ICLSupport
import ICLData
import ICLModel

/// Why a run ended early.
public enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, loss: Double)
    case checkpoint(String)
    public var description: String {
        switch self {
        case .diverged(let step, let loss): return "training diverged: loss \(loss.isNaN ? "NaN" : "\(loss)") at step \(step)"
        case .checkpoint(let message): return message
        }
    }
}

/// How a call to `Trainer.run` ended.
public enum RunOutcome: Equatable {
    case finished
    /// Stopped on request at a step boundary, after a checkpoint.
    case stopped(atSequences: Int)
}

/// Progress of a run, reported every few seconds and at each evaluation.
public struct Progress {
    public var sequences: Int
    public var total: Int
    public var loss: Double
    public var sequencesPerSecond: Double
    public var etaSeconds: Double
}

/// One training run: model, optimizer, sampler and evaluator sets.
public final class Trainer {
    public let config: RunConfig
    let model: Transformer<Float>
    let params: ParameterSet<Float>
    let grads: ParameterSet<Float>
    let adam: Adam<Float>
    let table: FeatureTable
    let sampler: SequenceSampler
    let evalSampler: SequenceSampler
    /// The `icl` and `flip` sets' sampler: the run's, or with `evaluation.burstiness`.
    let incontextSampler: SequenceSampler
    let workspace: Workspace<Float>
    lazy var evalWorkspace = Workspace<Float>(model.config, batch: min(Trainer.evalChunk, config.evalSequences))
    /// The training sampler's generator: part of the checkpoint.
    var rng: RNG
    /// Fixed evaluator sequences, drawn once from the eval seed.
    private(set) lazy var evalSets: [Evaluator: Batch] = makeEvalSets()
    public internal(set) var history = History()
    /// Sum and count of training losses since the last evaluation.
    var lossSum = 0.0
    var lossCount = 0
    package var batch: Batch
    public var times = StepTimes()
    /// The ranks training this run together (nil: this rank alone).
    public let gang: MPIGang?
    /// The step of a run with several shards or ranks; nil: the whole batch at once.
    let sharded: ShardedStep?

    static let evalChunk = 256

    public var sequencesDone: Int { adam.step * config.batch }

    /// A fresh run from `config` over `table` (already restricted to the run's
    /// classes and exemplars). With `gang`, its members train the run
    /// together: each calls this, then every other method, at the same points.
    public init(config: RunConfig, table: FeatureTable, gang: MPIGang? = nil) throws {
        try config.validate()
        precondition(table.classes >= config.classes && table.exemplars >= config.exemplars,
                     "the table must hold the run's classes and exemplars (it may hold more)")
        self.config = config
        self.table = table
        let modelConfig = config.model  // reads the data source's shape once
        let layout = ParameterLayout(modelConfig)
        model = Transformer(config: modelConfig)
        // a gang on one node keeps its parameters in shared memory: one member writes them
        let sharded = config.shardCount > 1 || (gang?.size ?? 1) > 1
            ? try ShardedStep(config: config, layout: layout, gang: gang) : nil
        let params = sharded?.sharedParams ?? ParameterSet(layout)
        try ShardedStep.setParameters(sharded) { params.initializeFloat(seed: config.initSeed ?? config.seed) }
        self.params = params
        self.sharded = sharded
        grads = ParameterSet(layout)
        adam = Adam(layout, settings: config.adam, frozen: config.start?.frozen(model: modelConfig) ?? [])
        sampler = SequenceSampler(classes: config.classes, exemplars: config.exemplars,
                                  tableExemplars: table.exemplars, pairs: config.pairs, relabelSet: config.relabelLabels,
                                  frequency: config.classFrequency ?? .uniform, burstiness: config.trainingBurstiness)
        evalSampler = SequenceSampler(classes: config.evalClasses, exemplars: config.evalExemplars,
                                      tableExemplars: table.exemplars, pairs: config.pairs, relabelSet: config.relabelLabels,
                                      burstiness: config.trainingBurstiness)
        incontextSampler = SequenceSampler(classes: config.evalClasses, exemplars: config.evalExemplars,
                                           tableExemplars: table.exemplars, pairs: config.pairs, relabelSet: config.relabelLabels,
                                           burstiness: config.evaluationBurstiness)
        self.gang = gang
        workspace = Workspace(modelConfig, batch: config.batch / config.shardCount)
        rng = RNG(seed: config.dataSeed ?? config.seed, stream: 0xDA7A)
        batch = Batch(size: config.batch, pairs: config.pairs)
    }

    public var parameterCount: Int { params.layout.count }

    /// Frees what the gang shares for this run (collective over the gang; the
    /// parameters may be in it): the last call on a trainer.
    public func release() throws { try sharded?.release() }

    /// Sets the parameters whole: `body` on every rank, or on one of a gang
    /// that shares them, and then the others see them.
    func setParameters(_ body: () -> Void) throws { try ShardedStep.setParameters(sharded, body) }

    /// Whether this rank writes the run's files and rows: it alone, or its gang's leader.
    public var leads: Bool { gang?.leads ?? true }

    /// A decision every member of the gang takes alike: yes if any says yes.
    func agree(_ flag: Bool) throws -> Bool { try gang?.any(flag) ?? flag }

    // MARK: - Training

    /// One Adam step on a fresh batch. Returns the batch-mean loss.
    /// - Throws: `TrainingError.diverged` when the loss is NaN or infinite.
    @discardableResult
    public func step(trace: TraceRecorder? = nil) throws -> Double {
        let sampled = DispatchTime.now().uptimeNanoseconds
        sampler.fill(&batch, kind: .train(config.variant), rng: &rng)
        times.sampling += Double(DispatchTime.now().uptimeNanoseconds - sampled) * 1e-9
        trace?.before(self)
        if let sharded {
            let loss = try withUnsafeMutablePointer(to: &times) { t in
                try sharded.step(self, batch: batch, times: t) { trace?.afterBackward(self, loss: $0) }
            }
            guard loss.isFinite else { throw TrainingError.diverged(step: adam.step + 1, loss: loss) }
            trace?.afterUpdate(self)
            lossSum += loss
            lossCount += 1
            return loss
        }
        let loss = withUnsafeMutablePointer(to: &times) { t -> Double in
            let loss = model.forwardFloat(params, workspace, batch: batch, table: table, gradient: true, times: t)
            model.backwardFloat(params, grads, workspace, batch: batch, times: t)
            return loss
        }
        guard loss.isFinite else { throw TrainingError.diverged(step: adam.step + 1, loss: loss) }
        trace?.afterBackward(self, loss: loss)
        let start = DispatchTime.now().uptimeNanoseconds
        adam.updateFloat(params, grads)
        times.adam += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        trace?.afterUpdate(self)
        lossSum += loss
        lossCount += 1
        return loss
    }

    /// Trains to `config.sequences`, evaluating at every eval point and
    /// checkpointing every `checkpointInterval` sequences when `checkpoint`
    /// is given. With `trace`, records the first step it takes. Checks `shouldStop` at every step boundary; on a stop it
    /// writes a checkpoint and returns `.stopped`. At every sequence count
    /// in `keep` it writes a checkpoint to `keep[count]` (once: a file there
    /// is left as it is) and calls `onKept`: the series other runs start from.
    public func run(checkpoint: URL? = nil,
                    keep: [Int: URL] = [:],
                    onKept: (Int) -> Void = { _ in },
                    trace: TraceRecorder? = nil,
                    shouldStop: () -> Bool = { false },
                    onEval: (EvalRecord) -> Void = { _ in },
                    onProgress: (Progress) -> Void = { _ in },
                    progressEvery: TimeInterval = 10) throws -> RunOutcome {
        let points = Set(config.evalPoints)
        let started = Date()
        let startSequences = sequencesDone
        var lastReport = started
        func evaluateIfDue() throws {
            if points.contains(sequencesDone) && history.records.last?.sequences != sequencesDone {
                let record = try evaluate()
                history.records.append(record)
                onEval(record)
            }
        }
        func keepIfDue() throws {
            guard let url = keep[sequencesDone] else { return }
            try saveCheckpoint(to: url, unlessPresent: true)
            onKept(sequencesDone)
        }
        try evaluateIfDue()
        try keepIfDue()
        while sequencesDone < config.sequences {
            if try agree(shouldStop()) {
                if let checkpoint { try saveCheckpoint(to: checkpoint) }
                return .stopped(atSequences: sequencesDone)
            }
            let loss = try step(trace: sequencesDone == startSequences ? trace : nil)
            try evaluateIfDue()
            try keepIfDue()
            if let checkpoint, config.checkpointInterval > 0, sequencesDone % config.checkpointInterval == 0,
               sequencesDone < config.sequences {
                try saveCheckpoint(to: checkpoint)
            }
            let now = Date()
            if now.timeIntervalSince(lastReport) >= progressEvery {
                lastReport = now
                let rate = Double(sequencesDone - startSequences) / now.timeIntervalSince(started)
                onProgress(Progress(sequences: sequencesDone, total: config.sequences, loss: loss,
                                    sequencesPerSecond: rate,
                                    etaSeconds: Double(config.sequences - sequencesDone) / max(rate, 1e-9)))
            }
        }
        return .finished
    }

    // MARK: - Starting from other runs

    /// Sets the tensors each part names from its checkpoint: `parts[i]` is
    /// the checkpoint for `config.start.parts[i]`. A fresh run only (before
    /// any step); the optimizer state stays fresh. The source's tensors must
    /// have this model's shapes.
    public func assemble(from sources: [CheckpointContents]) throws {
        guard let start = config.start, sources.count == start.parts.count else {
            throw TrainingError.checkpoint("assemble: \(sources.count) checkpoints for \(config.start?.parts.count ?? 0) parts")
        }
        precondition(sequencesDone == 0, "a run is assembled before it trains")
        let layout = params.layout
        var taken: [(Tensor, [Float])] = []  // every part checked (on every rank) before any is set
        for (source, tensors) in zip(sources, start.tensors(model: layout.config)) {
            for t in tensors ?? [] {
                guard let values = source.params[t], source.layout.tensors.contains(t),
                      source.layout.config.inputDim == layout.config.inputDim || t != .exemplarWeight,
                      t.shape(source.layout.config) == t.shape(layout.config) else {
                    let theirs = source.layout.tensors.contains(t) ? "\(t.shape(source.layout.config))" : "absent"
                    throw TrainingError.checkpoint("checkpoint \(source.path): \(t.name) is \(theirs) there, "
                                                   + "\(t.shape(layout.config)) in this run's model")
                }
                taken.append((t, values))
            }
        }
        try setParameters { for (t, values) in taken { params.set(t, values) } }
    }

    /// The parameters of one tensor (for tests and inspection).
    public func parameters(_ t: Tensor) -> [Float] { params.values(t) }

    // MARK: - Evaluation

    private func makeEvalSets() -> [Evaluator: Batch] {
        var sets: [Evaluator: Batch] = [:]
        for (i, e) in Evaluator.allCases.enumerated() where config.applicableEvaluators.contains(e) {
            var rng = RNG(seed: config.evalSeed, stream: UInt64(i))
            var b = Batch(size: config.evalSequences, pairs: config.pairs)
            let kind: SequenceKind = e == .train ? .train(.bursty) : e == .trainVariant ? .train(config.variant) : .eval(e)
            (e == .icl || e == .flip ? incontextSampler : evalSampler).fill(&b, kind: kind, rng: &rng)
            sets[e] = b
        }
        return sets
    }

    /// Runs every applicable evaluator on its fixed sequences, and takes
    /// the mechanism measures on the `flip` and `ciwl` sets.
    public func evaluate() throws -> EvalRecord {
        let all = Evaluator.allCases
        let c = model.config
        let shape = MechanismShape(layers: c.layers, heads: c.heads, tokens: c.tokens)
        var record = EvalRecord(sequences: sequencesDone,
                                trainLoss: lossCount > 0 ? lossSum / Double(lossCount) : .nan,
                                accuracy: Array(repeating: .nan, count: all.count),
                                inContextAccuracy: Array(repeating: .nan, count: all.count),
                                loss: Array(repeating: .nan, count: all.count),
                                attention: Array(repeating: .nan, count: shape.attentionCount),
                                induction: Array(repeating: .nan, count: shape.inductionCount),
                                mechanism: shape)
        lossSum = 0
        lossCount = 0
        let computed = all.filter { evalSets[$0] != nil }
        for (i, e) in all.enumerated() {
            guard let set = evalSets[e] else { continue }
            // in a gang, each member measures its share of the evaluators
            if let gang, computed.firstIndex(of: e)! % gang.size != gang.index { continue }
            var attention = Mechanism.sets.contains(e) ? MechanismSums(shape, induction: e == .flip) : nil
            let m = measure(set, attention: &attention)
            record.accuracy[i] = m.accuracy
            record.inContextAccuracy[i] = m.inContext
            record.loss[i] = m.loss
            if let a = attention, let s = Mechanism.sets.firstIndex(of: e) {
                let n = shape.attentionCount / Mechanism.sets.count, N = Double(set.size)
                for k in 0..<n { record.attention[s * n + k] = a.attention[k] / N }
                if e == .flip { record.induction = a.induction.map { $0 / N } }
            }
        }
        if let gang, gang.size > 1 { try record.combine(over: gang, evaluators: computed) }
        return record
    }

    /// Sums over a set of where the query attends, per layer, head and
    /// position, and (on flip data) of the induction strength per layer and head.
    struct MechanismSums {
        let shape: MechanismShape
        var attention: [Double]
        var induction: [Double]
        let measuresInduction: Bool
        init(_ shape: MechanismShape, induction: Bool) {
            self.shape = shape
            attention = Array(repeating: 0, count: shape.layers * shape.heads * shape.tokens)
            self.induction = Array(repeating: 0, count: shape.inductionCount)
            measuresInduction = induction
        }

        /// Adds sequence `b` of `batch` from the attention probabilities of its forward pass.
        mutating func add(_ ws: Workspace<Float>, batch: Batch, b: Int) {
            let L = shape.layers, H = shape.heads, T = shape.tokens, n = batch.pairs
            let target = Int(batch.targets[b])
            // the label tokens carrying the answer (one per exemplar of the query's class), and the others
            let correct = (0..<n).filter { batch.label(b, $0) == target }, other = (0..<n).filter { batch.label(b, $0) != target }
            for l in 0..<L {
                for h in 0..<H {
                    let row = ws.att[l].pointer + ((b * H + h) * T + T - 1) * T  // the query's row
                    let out = (l * H + h) * T
                    for t in 0..<T { attention[out + t] += Double(row[t]) }
                    guard measuresInduction, !correct.isEmpty, !other.isEmpty else { continue }
                    let toCorrect = correct.reduce(0.0) { $0 + Double(row[2 * $1 + 1]) } / Double(correct.count)
                    let toOther = other.reduce(0.0) { $0 + Double(row[2 * $1 + 1]) } / Double(other.count)
                    induction[l * H + h] += toCorrect - toOther
                }
            }
        }
    }

    /// Accuracy, in-context accuracy and mean loss of the model on `set`;
    /// adds to `attention` when given.
    func measure(_ set: Batch, attention: inout MechanismSums?) -> (accuracy: Double, inContext: Double, loss: Double) {
        let ws = evalWorkspace, chunk = ws.batch, n = config.pairs, C = model.config.outputs
        var correct = 0, correctInContext = 0, lossSum = 0.0
        var start = 0
        var part = Batch(size: chunk, pairs: n)
        while start < set.size {
            let count = min(chunk, set.size - start)
            if part.size != count { part = Batch(size: count, pairs: n) }
            part.take(start ..< start + count, of: set)
            model.forwardFloat(params, ws, batch: part, table: table)
            for b in 0..<count {
                let z = ws.logits.pointer + b * C, target = Int(part.targets[b])
                lossSum += Double(ws.losses.pointer[b])
                var best = 0
                for i in 1..<C where z[i] > z[best] { best = i }
                if best == target { correct += 1 }
                var bestInContext = part.label(b, 0)
                for i in 1..<n where z[part.label(b, i)] > z[bestInContext] { bestInContext = part.label(b, i) }
                if bestInContext == target { correctInContext += 1 }
                attention?.add(ws, batch: part, b: b)
            }
            start += count
        }
        let N = Double(set.size)
        return (Double(correct) / N, Double(correctInContext) / N, lossSum / N)
    }
}

// MARK: - Output

extension Trainer {
    /// Writes the config and metrics history to an HDF5 file (atomically).
    public func writeMetrics(to path: String) throws {
        let tmp = path + ".tmp"
        do {
            let file = try H5File.create(tmp)
            try file.setAttribute("config", config.json)
            try file.setAttribute("evaluators", Evaluator.allCases.map(\.rawValue).joined(separator: ","))
            try history.write(to: file, group: "metrics")
        }
        try FileSystem.rename(tmp, to: path)
    }
}
