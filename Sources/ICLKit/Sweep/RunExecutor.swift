import Foundation

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
}

/// Trains one grid point of a sweep and writes its rows into the results
/// file, resuming from the run's checkpoint when there is a usable one.
struct RunExecutor {
    let spec: SweepSpec
    let table: FeatureTable
    let results: ResultsFile
    let rank: Rank
    let host: String
    let log: (String) -> Void

    func execute(_ run: GridPoint, shouldStop: @escaping () -> Bool,
                 onProgress: @escaping (Int) -> Void) throws -> RunReport {
        let started = Date()
        let points = spec.evalPoints
        try results.markRunning(run.id, host: host, rank: rank.value)
        var report = RunReport(run: run.id, status: RunStatus.running.rawValue, stopped: false, message: "",
                               sequences: 0, sequencesPerSecond: .nan, final: [])
        let trainer: Trainer
        do {
            trainer = try Trainer(config: run.config, table: table)
        } catch {
            return try fail(run, &report, .failed, "\(error)")
        }
        let checkpoint = spec.checkpoint(for: run)
        if FileManager.default.fileExists(atPath: checkpoint.path) {
            do {
                try trainer.loadCheckpoint(from: checkpoint)
                log("run \(run.id) \(run.name): resuming from checkpoint at \(Format.count(trainer.sequencesDone)) sequences")
            } catch {
                log("warning: run \(run.id) \(run.name): \(error); starting the run over")
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
            if case .diverged = error { return try fail(run, &report, .diverged, "\(error)") }
            return try fail(run, &report, .failed, "\(error)")
        } catch {
            return try fail(run, &report, .failed, "\(error)")
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
            try results.setStatus(run.id, .done)
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
