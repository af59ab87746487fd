import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Rank 0's progress lines: one per finished run, and a periodic total.
struct SweepProgress {
    let log: (String) -> Void
    let every: TimeInterval
    var done = 0
    let todoCount: Int
    var remainingSequences: Int
    var inFlight: [Int: Int] = [:]
    var sequencesThisSession = 0
    let started = Date()
    var lastTick = Date()

    package init(spec: SweepSpec, todo: [Int], log: @escaping (String) -> Void, every: TimeInterval) {
        self.log = log
        self.every = every
        todoCount = todo.count
        remainingSequences = spec.sequences(of: todo)
    }

    mutating func note(run: Int, sequences: Int) {
        let previous = inFlight[run] ?? 0
        inFlight[run] = sequences
        sequencesThisSession += max(0, sequences - previous)
    }

    mutating func finished(_ r: RunReport, run: GridPoint) {
        note(run: run.id, sequences: r.sequences)
        inFlight[run.id] = nil
        guard let status = RunStatus(rawValue: r.status) else { return }
        if r.stopped {
            log("run \(run.id) \(run.name): stopped at \(Format.count(r.sequences)) sequences (checkpointed)")
            return
        }
        done += 1
        remainingSequences -= run.config.sequences
        var line = "[\(done)/\(todoCount)] run \(run.id) \(run.name): \(status)"
        if status == .done {
            let accs = zip(Evaluator.allCases, r.final).map { "\($0.0.rawValue) \(Format.fixed($0.1))" }.joined(separator: " ")
            line += "  \(accs)" + (run.config.sequences > 0 ? "  \(Format.count(Int(r.sequencesPerSecond))) seq/s" : "  (evaluated only)")
        } else {
            line += ": \(r.message)"
        }
        log(line)
    }

    /// A run stopped by its worker's own signal, going to another worker.
    mutating func handedOn(_ r: RunReport, run: GridPoint) {
        note(run: run.id, sequences: r.sequences)
        inFlight[run.id] = nil
        log("run \(run.id) \(run.name): stopped at \(Format.count(r.sequences)) sequences (checkpointed); handed to another worker")
    }

    mutating func tick() {
        let now = Date()
        guard now.timeIntervalSince(lastTick) >= every else { return }
        lastTick = now
        let rate = Double(sequencesThisSession) / now.timeIntervalSince(started)
        let left = Double(remainingSequences - inFlight.values.reduce(0, +))
        log("progress: \(done)/\(todoCount) runs done, \(inFlight.count) running, "
            + "\(Format.count(Int(rate))) seq/s in total, ETA \(rate > 0 ? Format.duration(left / rate) : "?")")
    }
}
