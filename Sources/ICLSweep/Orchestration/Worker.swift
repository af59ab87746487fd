import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// A training rank: asks the coordinator for runs until it is dismissed.
/// Any error that is not a property of the run (see `RunExecutor`) is
/// thrown as a `SweepFailure` naming this rank and the run in hand; the
/// sweep then ends (`SweepRunner.fail`).
struct Worker {
    let comm: MPIComm
    let spec: SweepSpec
    let executor: RunExecutor

    func run() throws {
        let runs = spec.runs
        var report: RunReport?
        var steps = 0
        let shouldStop: () -> Bool = { [comm] in
            if StopSignal.requested { return true }
            steps += 1
            if steps % 64 == 0, (try? comm.tryReceive(tag: SweepTag.stopNow, from: .coordinator)) != nil {
                StopSignal.request()
                return true
            }
            return false
        }
        while true {
            try comm.send(try encode(WorkRequest(report: report, leaving: StopSignal.requested)),
                          to: .coordinator, tag: SweepTag.request)
            let assignment: Assignment = try decode(try comm.receive(from: .coordinator, tag: SweepTag.assign).bytes)
            guard let id = assignment.run else { break }
            let run = runs[id]
            var lastSent = Date.distantPast
            let writesBefore = executor.results.writeSeconds
            do {
                let gang = try assignment.gang.map { try MPIGang(world: comm, members: $0.map(Rank.init), tag: assignment.gangTag ?? 0) }
                let leads = gang?.leads ?? true
                report = try executor.execute(run, gang: gang, shouldStop: shouldStop, onProgress: { [comm] sequences in
                    let now = Date()
                    guard leads else { return }
                    guard now.timeIntervalSince(lastSent) >= executor.noteEvery else { return }
                    lastSent = now
                    try? comm.send(try encode(ProgressNote(run: id, sequences: sequences)), to: .coordinator, tag: SweepTag.progress)
                }, onKept: { [comm] sequences in
                    guard leads else { return }
                    try? comm.send(try encode(KeptNote(run: id, sequences: sequences)), to: .coordinator, tag: SweepTag.kept)
                })
                try gang?.free()
                if !leads { report = nil }  // the leader reports the run; the others are simply free
            } catch {
                throw SweepFailure(rank: comm.rank.value, host: executor.host, run: "run \(id) \(run.name)", error: error)
            }
            report?.writeSeconds = executor.results.writeSeconds - writesBefore
        }
        // A stop-now that arrived after our last run must not linger in the MPI queues.
        _ = try comm.tryReceive(tag: SweepTag.stopNow, from: .coordinator)
    }

    /// One process does everything: no coordinator rank.
    static func solo(spec: SweepSpec, executor: RunExecutor, todo: [Int], log: @escaping (String) -> Void,
                     progressEvery: TimeInterval) throws -> SweepRunner.Exit {
        var progress = SweepProgress(spec: spec, todo: todo, log: log, every: progressEvery)
        let runs = spec.runs
        // `todo` is in priority order, so every source comes before the runs built on it
        for id in todo {
            if StopSignal.requested { return .stoppedWorkRemains }
            let run = runs[id]
            if let missing = Readiness.missingSource(of: run, spec: spec) {
                try executor.results.setStatus(id, .blocked, message: missing)
                progress.finished(RunReport(blocked: id, message: missing), run: run)
                continue
            }
            let report: RunReport
            do {
                report = try executor.execute(run, shouldStop: { StopSignal.requested },
                                              onProgress: { progress.note(run: id, sequences: $0); progress.tick() })
            } catch {
                throw SweepFailure(rank: 0, host: executor.host, run: "run \(id) \(run.name)", error: error)
            }
            progress.finished(report, run: run)
            if report.stopped { return .stoppedWorkRemains }
        }
        return .complete
    }
}
