import ArgumentParser
import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import ICLSweep

/// The run `train` trains: its grid point (classes, exemplars, variant,
/// seed) as options, and every other field of the spec's field table as
/// `--OPTION VALUE` or `--set PATH=VALUE` (`iclsweep fields` lists them),
/// read and checked as a spec reads them.
struct RunOptions: ParsableArguments {
    @Option(help: "Training classes K (the first K of the data).") var classes = 64
    @Option(help: "Exemplars per class E (the first E of each class).") var exemplars = 20
    @Option(help: "Data variant: bursty, matched, icl_only, ciwl_only.") var variant = Variant.bursty
    @Option(help: "The run's seed (of the initialisation and the training sequences unless --init-seed, --train-data-seed).")
    var seed: UInt64 = 0
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Any field of the run: --OPTION VALUE or --set PATH=VALUE (see below).",
                                                             valueName: "field options"))
    var fields: [String] = []

    /// What `train` uses for the fields a spec must give.
    static let defaults: [String: FieldValue] = ["training.sequences": .int(64_000), "training.eval_interval": .int(16_000)]

    /// The run's config.
    func config() throws -> RunConfig {
        var settings = RunSettings()
        try settings.read(fields)
        return try settings.config(classes: classes, exemplars: exemplars, variant: variant, seed: seed, defaults: Self.defaults)
    }

    func validate() throws {
        let config: RunConfig
        do { config = try self.config() } catch { throw ValidationError("\(error)") }
        let problems = config.problems()
        if !problems.isEmpty {
            throw ValidationError(problems.map { p in
                (SpecReference.option(for: p.field).map { "--\($0)" } ?? p.field) + ": " + p.message
            }.joined(separator: "\n"))
        }
    }
}

struct Train: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            abstract: "Train one grid point and write its metrics history.",
            discussion: """
            Exit codes: 0 finished, 1 error, 75 stopped by SIGTERM/SIGINT/SIGUSR1 after \
            writing a checkpoint (run the same command with --resume to continue).

            The run's fields, from the spec's field table (spec path, default):
            \(SpecReference.options(defaults: RunOptions.defaults))
            """
        )
    }

    @OptionGroup var options: RunOptions
    @Option(help: "Metrics history output (HDF5).") var out = "train-metrics.h5"
    @Option(help: "Checkpoint file.") var checkpoint: String?
    @Flag(help: "Continue from --checkpoint if it exists.") var resume = false
    @Option(help: "Write the first training step in full to this HDF5 file.") var trace: String?
    @Option(name: .customLong("progress-every"), help: "Seconds between progress lines.") var progressEvery = 10.0

    func validate() throws {
        if resume && checkpoint == nil { throw ValidationError("--resume needs --checkpoint") }
    }

    func run() throws {
        if let note = prepareProcess() { print(note) }
        StopSignal.install()
        var config = try options.config()
        let gang = try trainingGang(&config)
        let leads = gang?.leads ?? true
        func say(_ line: String) { if leads { print(line) } }
        if leads { try checkOutputs() }
        let table = try config.data.table(classes: config.classes, exemplars: config.exemplars)
        let trainer = try Trainer(config: config, table: table, gang: gang)
        defer { MPI.finalize() }  // nothing when MPI was not started
        let checkpointURL = checkpoint.map { URL(fileURLWithPath: $0) }
        if resume, let url = checkpointURL, FileManager.default.fileExists(atPath: url.path) {
            let note = try trainer.loadCheckpoint(from: url)
            say("resumed from \(url.path) at \(Format.count(trainer.sequencesDone)) sequences")
            if let note { say("warning: \(note)") }
        }
        say("train: \(config.variant.rawValue), \(config.classes) classes x \(config.exemplars) exemplars, seed \(config.seed), "
              + "\(Format.count(trainer.parameterCount)) parameters, \(Format.count(config.sequences)) sequences"
              + (gang.map { ", on \($0.size) ranks (" + ($0.sharesMemory ? "one node: shared memory" : "messages") + ")" } ?? ""))
        let recorder = try trace.map { try TraceRecorder(path: $0) }
        let outcome = try trainer.run(
            checkpoint: checkpointURL,
            trace: recorder,
            shouldStop: { StopSignal.requested },
            onEval: { say(Format.evaluation($0)) },
            onProgress: { p in
                say("\(Format.count(p.sequences))/\(Format.count(p.total)) seq  loss \(Format.fixed(p.loss))  "
                      + "\(Format.count(Int(p.sequencesPerSecond))) seq/s  ETA \(Format.duration(p.etaSeconds))")
            },
            progressEvery: progressEvery)
        fflush(nil)
        try trainer.release()  // every member reached here alike (a stop is agreed by the gang)
        if let recorder, let trace {
            try recorder.finish()
            say("trace of one training step written to \(trace)")
        }
        if case .stopped(let at) = outcome {
            say("stopped by \(StopSignal.cause) at \(Format.count(at)) sequences; "
                  + (checkpoint.map { "checkpoint \($0); rerun with --resume" } ?? "no --checkpoint, progress not kept"))
            throw ExitCode(StopSignal.exitCodeWorkRemains)
        }
        if leads { try trainer.writeMetrics(to: out) }
        say("metrics written to \(out)")
    }

    /// The files this run writes, checked before it trains (their folders
    /// made when missing): a bad path fails in a second, not after the run.
    private func checkOutputs() throws {
        for (option, path) in [("--out", out), ("--checkpoint", checkpoint), ("--trace", trace)] {
            guard let path else { continue }
            do { try FileSystem.prepareToWrite(path) } catch {
                throw DescribedError(description: "\(option): \(describe(error))")
            }
        }
    }

    /// Started by `mpirun -np R` (R > 1): the R processes train the run
    /// together, each taking a share of its `--shards`, and the first writes.
    private func trainingGang(_ config: inout RunConfig) throws -> MPIGang? {
        guard let gang = try MPIGang.wholeJob() else { return nil }
        // Every rank finds these alike: the first says it, and no rank exits
        // before it has (mpirun ends the job at the first failed exit).
        func mistake(_ message: String) -> Error {
            if gang.leads { FileHandle.standardError.write(Data("Error: \(message)\n".utf8)) }
            _ = try? gang.any(true)
            return ExitCode.failure
        }
        if let r = config.ranks, r != gang.size {
            throw mistake("--ranks: \(r), but mpirun started \(gang.size) processes (one rank each)")
        }
        if trace != nil { throw mistake("--trace: records one process's step; run it without mpirun") }
        config.ranks = gang.size
        if let p = config.problems().first(where: { $0.field == "training.ranks" }) {
            throw mistake("mpirun started \(gang.size) processes: " + p.message)
        }
        return gang
    }
}
