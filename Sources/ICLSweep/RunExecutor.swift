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

/// Trains one grid point of a sweep and writes its rows into the results
/// file, resuming from the run's checkpoint when there is a usable one.
struct RunExecutor {
    let spec: SweepSpec
    let tables: NodeTable
    let results: ResultsFile
    let rank: Rank
    let host: String
    let log: (String) -> Void

    /// Trains `run` (resuming from its checkpoint) and writes its rows.
    ///
    /// Only what is a property of the run itself is recorded in the file and
    /// final: divergence (`diverged`) and a configuration the trainer refuses
    /// (`failed`). Every other error (a full disk, an I/O error, a vanished
    /// file) is thrown: the sweep stops, the run stays resumable, and a plain
    /// rerun continues it.
    func execute(_ run: GridPoint, shouldStop: @escaping () -> Bool,
                 onProgress: @escaping (Int) -> Void) throws -> RunReport {
        let started = Date()
        let points = spec.evalPoints
        try results.markRunning(run, host: host, rank: rank.value)
        var report = RunReport(run: run.id, status: RunStatus.running.rawValue, stopped: false, message: "",
                               sequences: 0, sequencesPerSecond: .nan, final: [])
        let trainer: Trainer
        do {
            trainer = try Trainer(config: run.config, table: tables.table(for: run.config.data))
        } catch let error as ConfigError {
            return try fail(run, &report, .failed, describe(error))
        }
        let checkpoint = spec.checkpoint(for: run)
        if FileManager.default.fileExists(atPath: checkpoint.path) {
            do {
                try trainer.loadCheckpoint(from: checkpoint)
                log("run \(run.id) \(run.name): resuming from checkpoint at \(Format.count(trainer.sequencesDone)) sequences")
            } catch {
                // A damaged checkpoint is dropped; one the machine cannot read right now is not.
                if case .environment = Fault.classify(describe(error)) { throw error }
                log("warning: run \(run.id) \(run.name): \(describe(error)); starting the run over")
                try? FileManager.default.removeItem(at: checkpoint)
            }
        }
        let startSequences = trainer.sequencesDone
        // Re-write what the checkpoint already measured (identical values).
        for r in trainer.history.records { try results.writeEval(run.id, point: points.firstIndex(of: r.sequences)!, r) }
        var writeError: Error?
        let outcome: RunOutcome
        do {
            outcome = try trainer.run(
                checkpoint: checkpoint,
                shouldStop: shouldStop,
                onEval: { record in
                    do { try results.writeEval(run.id, point: points.firstIndex(of: record.sequences)!, record) }
                    catch { writeError = writeError ?? error }
                },
                onProgress: { onProgress($0.sequences) },
                progressEvery: 5)
        } catch let error as TrainingError {
            guard case .diverged = error else { throw error }
            return try fail(run, &report, .diverged, describe(error))
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
            try trainer.saveCheckpoint(to: checkpoint)  // the final weights stay beside the results
            try results.writeTiming(run.id, wallSeconds: seconds, sequencesPerSecond: report.sequencesPerSecond)
            try results.markDone(run, points: points, history: trainer.history)
            report.status = RunStatus.done.rawValue
        }
        return report
    }

    private func fail(_ run: GridPoint, _ report: inout RunReport, _ status: RunStatus, _ message: String) throws -> RunReport {
        try results.setStatus(run.id, status, message: message)
        report.status = status.rawValue
        report.message = message
        return report
    }
}
