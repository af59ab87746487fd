import ArgumentParser
import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import ICLSweep

/// Options that define one run, shared by `train` and `bench`.
struct RunOptions: ParsableArguments {
    @Option(help: "HDF5 file of exemplar features [classes, exemplars, dim]; synthetic data when absent.")
    var features: String?
    @Option(help: "Dataset path inside --features.")
    var dataset = "resnet18/224/feat"
    @Option(help: "Synthetic data: vector size.") var dim = 512
    @Option(help: "Synthetic data: within-class noise scale.") var noise = 0.1
    @Option(name: .customLong("data-seed"), help: "Synthetic data: seed of the table.") var dataSeed: UInt64 = 0

    @Option(help: "Training classes K (the first K of the data).") var classes = 64
    @Option(help: "Exemplars per class E (the first E of each class).") var exemplars = 20
    @Option(help: "Data variant: bursty, matched, icl_only, ciwl_only.") var variant = Variant.bursty
    @Option(help: "Seed of the initialisation and the training sampler.") var seed: UInt64 = 0
    @Option(help: "Training sequences (a multiple of --batch).") var sequences = 64_000
    @Option(help: "Sequences per Adam step.") var batch = 32
    @Option(name: .customLong("learning-rate"), help: "Adam learning rate.") var learningRate = 1e-5
    @Option(name: .customLong("eval-interval"), help: "Sequences between evaluations.") var evalInterval = 16_000
    @Option(name: .customLong("eval-sequences"), help: "Sequences per evaluator (the paper: 5,000).") var evalSequences = 5000
    @Option(name: .customLong("eval-seed"), help: "Seed of the evaluator sets.") var evalSeed: UInt64 = 1234
    @Option(name: .customLong("eval-classes"), help: "Evaluators draw from the first N classes [min(classes, 1600)].")
    var evalClasses: Int?
    @Option(name: .customLong("eval-exemplars"), help: "Evaluators draw from the first N exemplars [min(exemplars, 5)].")
    var evalExemplars: Int?
    @Option(name: .customLong("relabel-set"), help: "icl_only: size of the label set labels are drawn from [classes, as the paper].")
    var relabelSet: Int?
    @Option(name: .customLong("zipf-alpha"),
            help: "Training classes drawn with probability proportional to (k+1)^-alpha [uniform].")
    var zipfAlpha: Double?
    @Option(name: .customLong("weight-decay"),
            help: "Decoupled weight decay (AdamW): each step multiplies every parameter by 1 - lr * wd [none, as the paper].")
    var weightDecay: Double?
    @Option(name: .customLong("init-seed"), help: "Seed of the initialisation [--seed].") var initSeed: UInt64?
    @Option(name: .customLong("train-data-seed"), help: "Seed of the training sequences [--seed].") var trainDataSeed: UInt64?
    @Option(help: "Model width d_model.") var width = 64
    @Option(help: "Attention heads.") var heads = 8
    @Option(help: "Transformer layers.") var layers = 2
    @Option(help: "Exemplar-label pairs in context.") var pairs = 2
    @Option(help: "Rows of the learned position table.") var positions = 32
    @Option(help: "Exemplars of the query class (and of one distractor) in a bursty context [1].") var burstiness = 1
    @Flag(help: "An MLP (GELU) in every layer, as the paper's 12-layer model.") var mlp = false
    @Option(name: .customLong("mlp-ratio"), help: "MLP hidden width over the model width [4].") var mlpRatio: Int?
    @Option(help: "Positions: learned or sinusoidal.") var positional = PositionalEncoding.learned

    var config: RunConfig {
        let source: DataSource = features.map { .file(FeatureFile(path: $0, dataset: dataset)) }
            ?? .synthetic(SyntheticData(classes: classes, exemplars: exemplars, dim: dim, noise: noise, seed: dataSeed))
        var c = RunConfig(data: source, classes: classes, exemplars: exemplars, variant: variant, seed: seed,
                          sequences: sequences, evalInterval: evalInterval,
                          evalClasses: evalClasses, evalExemplars: evalExemplars)
        c.batch = batch; c.evalSequences = evalSequences; c.evalSeed = evalSeed; c.relabelSet = relabelSet
        c.classFrequency = zipfAlpha.map { .zipf(alpha: $0) }
        c.width = width; c.heads = heads; c.layers = layers; c.pairs = pairs; c.maxPositions = positions
        c.mlp = mlp ? true : nil
        c.burstiness = burstiness == 1 ? nil : burstiness
        c.mlpRatio = mlpRatio
        c.positional = positional == .learned ? nil : positional
        c.adam = AdamSettings(learningRate: learningRate)
        c.adam.weightDecay = weightDecay
        c.initSeed = initSeed
        c.dataSeed = trainDataSeed
        return c
    }

    func validate() throws {
        let problems = config.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one grid point and write its metrics history.",
        discussion: """
        Exit codes: 0 finished, 1 error, 75 stopped by SIGTERM/SIGINT/SIGUSR1 after \
        writing a checkpoint (run the same command with --resume to continue).
        """
    )

    @OptionGroup var options: RunOptions
    @Option(help: "Metrics history output (HDF5).") var out = "train-metrics.h5"
    @Option(help: "Checkpoint file.") var checkpoint: String?
    @Option(name: .customLong("checkpoint-interval"), help: "Sequences between checkpoints (0: only on stop).")
    var checkpointInterval = 0
    @Flag(help: "Continue from --checkpoint if it exists.") var resume = false
    @Option(help: "Write the first training step in full to this HDF5 file.") var trace: String?
    @Option(name: .customLong("progress-every"), help: "Seconds between progress lines.") var progressEvery = 10.0

    func validate() throws {
        if checkpointInterval < 0 { throw ValidationError("--checkpoint-interval must not be negative") }
        if checkpointInterval > 0 && checkpointInterval % options.batch != 0 {
            throw ValidationError("--checkpoint-interval (\(checkpointInterval)) must be a multiple of --batch (\(options.batch))")
        }
        if resume && checkpoint == nil { throw ValidationError("--resume needs --checkpoint") }
    }

    func run() throws {
        if let note = prepareProcess() { print(note) }
        StopSignal.install()
        var config = options.config
        config.checkpointInterval = checkpointInterval
        let table = try config.data.table(classes: config.classes, exemplars: config.exemplars)
        let trainer = try Trainer(config: config, table: table)
        let checkpointURL = checkpoint.map { URL(fileURLWithPath: $0) }
        if resume, let url = checkpointURL, FileManager.default.fileExists(atPath: url.path) {
            let note = try trainer.loadCheckpoint(from: url)
            print("resumed from \(url.path) at \(Format.count(trainer.sequencesDone)) sequences")
            if let note { print("warning: \(note)") }
        }
        print("train: \(config.variant.rawValue), \(config.classes) classes x \(config.exemplars) exemplars, seed \(config.seed), "
              + "\(Format.count(trainer.parameterCount)) parameters, \(Format.count(config.sequences)) sequences")
        let recorder = try trace.map { try TraceRecorder(path: $0) }
        let outcome = try trainer.run(
            checkpoint: checkpointURL,
            trace: recorder,
            shouldStop: { StopSignal.requested },
            onEval: { print(Format.evaluation($0)) },
            onProgress: { p in
                print("\(Format.count(p.sequences))/\(Format.count(p.total)) seq  loss \(Format.fixed(p.loss))  "
                      + "\(Format.count(Int(p.sequencesPerSecond))) seq/s  ETA \(Format.duration(p.etaSeconds))")
            },
            progressEvery: progressEvery)
        fflush(nil)
        if let recorder, let trace {
            try recorder.finish()
            print("trace of one training step written to \(trace)")
        }
        if case .stopped(let at) = outcome {
            print("stopped by \(StopSignal.signalName) at \(Format.count(at)) sequences; "
                  + (checkpoint.map { "checkpoint \($0); rerun with --resume" } ?? "no --checkpoint, progress not kept"))
            throw ExitCode(StopSignal.exitCodeWorkRemains)
        }
        try trainer.writeMetrics(to: out)
        print("metrics written to \(out)")
    }
}
