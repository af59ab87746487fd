import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// What a finished (or stopped) run reports to the coordinator.
public struct RunReport: Codable {
    public var run: Int
    public var status: Int32
    public var stopped: Bool
    public var message: String
    public var sequences: Int
    public var sequencesPerSecond: Double
    /// Headline accuracy of each evaluator at the last evaluation.
    public var final: [Double]
    /// Seconds spent writing this run's rows into the results file.
    public var writeSeconds = 0.0
}

extension RunReport {
    /// A run that cannot start: a checkpoint it is built on will not exist.
    init(blocked run: Int, message: String) {
        self.init(run: run, status: RunStatus.blocked.rawValue, stopped: false, message: message,
                  sequences: 0, sequencesPerSecond: .nan, final: [])
    }
}

/// Trains one grid point of a sweep and writes its rows into the results
/// file, resuming from the run's checkpoint when there is a usable one.
struct RunExecutor {
    let spec: SweepSpec
    let tables: NodeTable
    let results: ResultsFile
    let rank: Rank
    let host: String
    let log: (String) -> Void
    /// Seconds between a run's progress notes (`onProgress`): 5, or the
    /// sweep's progress lines when those are more frequent.
    var noteEvery: TimeInterval = 5

    /// Trains `run` (resuming from its checkpoint) and writes its rows.
    /// With `gang`, every member calls this for the run and trains it
    /// together (`Trainer`); the leader alone writes rows and checkpoints.
    ///
    /// Only what is a property of the run itself is recorded in the file and
    /// final: divergence (`diverged`) and a configuration the trainer refuses
    /// (`failed`). Every other error (a full disk, an I/O error, a vanished
    /// file) is thrown: the sweep stops, the run stays resumable, and a plain
    /// rerun continues it.
    func execute(_ run: GridPoint, gang: MPIGang? = nil, shouldStop: @escaping () -> Bool,
                 onProgress: @escaping (Int) -> Void, onKept: @escaping (Int) -> Void = { _ in }) throws -> RunReport {
        let started = Date()
        let points = run.config.evalPoints  // the run's own rows in the results file
        let leads = gang?.leads ?? true
        if leads { try results.markRunning(run, host: host, rank: rank.value) }
        var report = RunReport(run: run.id, status: RunStatus.running.rawValue, stopped: false, message: "",
                               sequences: 0, sequencesPerSecond: .nan, final: [])
        let trainer: Trainer
        do {
            trainer = try Trainer(config: run.config, table: tables.table(for: run.config.data), gang: gang)
        } catch let error as ConfigError {
            return try fail(run, &report, .failed, describe(error), leads: leads)
        }
        let checkpoint = spec.checkpoint(for: run)
        if FileManager.default.fileExists(atPath: checkpoint.path) {
            do {
                let note = try trainer.loadCheckpoint(from: checkpoint)
                if leads { log("run \(run.id) \(run.name): resuming from checkpoint at \(Format.count(trainer.sequencesDone)) sequences")
                if let note { log("warning: run \(run.id) \(run.name): \(note)") } }
            } catch {
                // A damaged checkpoint is dropped; one the machine cannot read right now is not.
                if case .environment = Fault.classify(describe(error)) { throw error }
                try gang?.comm.barrier()  // every member has read it before the leader removes it
                if leads {
                    log("warning: run \(run.id) \(run.name): \(describe(error)); starting the run over")
                    try? FileManager.default.removeItem(at: checkpoint)
                }
            }
        }
        if trainer.sequencesDone == 0, let start = run.config.start, !start.parts.isEmpty {
            // built on other runs: their kept checkpoints, read whole and checked
            do {
                let contents = try zip(run.sources, start.parts).map { source, part -> CheckpointContents in
                    let c = try CheckpointContents.read(spec.keptCheckpoint(run: source, at: part.at))
                    guard c.config == spec.runs[source].config, c.sequences == part.at else {
                        throw TrainingError.checkpoint("checkpoint \(c.path) is not \(spec.runs.name(of: source)) at \(part.at) sequences")
                    }
                    return c
                }
                try trainer.assemble(from: contents)
            } catch {
                if case .environment = Fault.classify(describe(error)) { throw error }
                return try fail(run, &report, .blocked, "source checkpoint unusable: \(describe(error))", leads: leads)
            }
            if leads { log("run \(run.id) \(run.name): \(start.mode?.rawValue ?? "start") from "
                + zip(run.sources, start.parts).map { "\(spec.runs.name(of: $0)) at \(Format.count($1.at))" }.joined(separator: ", ")) }
        }
        let keep = Dictionary(uniqueKeysWithValues: run.keep.map { ($0, spec.keptCheckpoint(run: run.id, at: $0)) })
        let startSequences = trainer.sequencesDone
        // Re-write what the checkpoint already measured (identical values).
        for r in trainer.history.records where leads { try results.writeEval(run.id, point: points.firstIndex(of: r.sequences)!, r) }
        var writeError: Error?
        let outcome: RunOutcome
        do {
            outcome = try trainer.run(
                checkpoint: checkpoint,
                keep: keep,
                onKept: onKept,
                shouldStop: shouldStop,
                onEval: { record in
                    guard leads else { return }
                    do { try results.writeEval(run.id, point: points.firstIndex(of: record.sequences)!, record) }
                    catch { writeError = writeError ?? error }
                },
                onProgress: { onProgress($0.sequences) },
                progressEvery: noteEvery)
        } catch let error as TrainingError {
            guard case .diverged = error else { throw error }
            if let writeError { throw writeError }  // its rows are not all in the file: not final
            // final, so its rows get a checksum as a done run's do
            if leads { try results.markDone(run, history: trainer.history, as: .diverged, message: describe(error)) }
            report.status = RunStatus.diverged.rawValue
            report.message = describe(error)
            return report
        }
        if let writeError { throw writeError }
        let seconds = Date().timeIntervalSince(started)
        report.sequences = trainer.sequencesDone
        report.sequencesPerSecond = Double(trainer.sequencesDone - startSequences) / max(seconds, 1e-9)
        report.final = trainer.history.records.last.map { r in Evaluator.allCases.map { r.headline($0) } } ?? []
        switch outcome {
        case .stopped:
            report.stopped = true
        case .finished:
            if run.config.start?.evaluatesOnly != true {
                try trainer.saveCheckpoint(to: checkpoint)  // the final weights stay beside the results
            }
            if leads {
                try results.writeTiming(run.id, wallSeconds: seconds, sequencesPerSecond: report.sequencesPerSecond)
                try results.markDone(run, history: trainer.history)
            }
            report.status = RunStatus.done.rawValue
        }
        return report
    }

    private func fail(_ run: GridPoint, _ report: inout RunReport, _ status: RunStatus, _ message: String,
                      leads: Bool) throws -> RunReport {
        if leads { try results.setStatus(run.id, status, message: message) }
        report.status = status.rawValue
        report.message = message
        return report
    }
}
