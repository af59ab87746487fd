import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Rank 0 of several: hands out runs to workers that ask, gathers their
/// reports and progress, and turns a stop (a signal) or a failure on any
/// rank into an orderly end. Constant work per message; nothing it sends
/// grows with the grid.
final class Coordinator {
    let comm: MPIComm
    let spec: SweepSpec
    let log: (String) -> Void
    /// Run ids still to hand out, longest first, from `next` on.
    private var queue: [Int]
    private var next = 0
    /// Workers not yet dismissed.
    private(set) var active: Set<Int32>
    private var progress: SweepProgress
    private var stopSent = false
    /// Runs that stopped with a checkpoint and were not handed on.
    private var unfinished = 0
    /// For the closing figures: assignments sent, reports received, their result-file write time.
    private(set) var handOuts = 0
    private(set) var reports = 0
    private(set) var reportedWriteSeconds = 0.0

    /// Called once when a signal stops the sweep, before anything else: mpirun
    /// kills the ranks 1 s after passing SIGTERM on.
    var onStop: () -> Void = {}

    package init(comm: MPIComm, spec: SweepSpec, todo: [Int], log: @escaping (String) -> Void, progressEvery: TimeInterval) {
        self.comm = comm
        self.spec = spec
        self.log = log
        queue = todo
        active = Set((1..<Int32(comm.size)).map { $0 })
        progress = SweepProgress(spec: spec, todo: todo, log: log, every: progressEvery)
    }

    /// A worker reported an error that ends the sweep; the other workers
    /// have been stopped (they checkpointed) by the time this is thrown.
    struct ReportedFailure: Error, CustomStringConvertible {
        let note: FailureNote
        var description: String { note.line }
    }

    /// Hands out runs until every worker is dismissed.
    /// - Returns: `.complete`, or `.stoppedWorkRemains` when runs are left.
    /// - Throws: `ReportedFailure` when a worker failed.
    func run() throws -> SweepRunner.Exit {
        while !active.isEmpty {
            var handled = false
            if StopSignal.requested && !stopSent {
                stopAll()
                onStop()
                log("\(StopSignal.signalName): stopping every run at its next step and checkpointing")
            }
            if let (bytes, _) = try comm.tryReceive(tag: SweepTag.failure) {
                let note: FailureNote = try decode(bytes)
                active.remove(note.rank)
                log("stopping the sweep: rank \(note.rank) failed; every other run checkpoints at its next step")
                windDown(grace: SweepRunner.failureGrace)
                throw ReportedFailure(note: note)
            }
            while let (bytes, _) = try comm.tryReceive(tag: SweepTag.progress) {
                let note: ProgressNote = try decode(bytes)
                progress.note(run: note.run, sequences: note.sequences)
                handled = true
            }
            if let (bytes, source) = try comm.tryReceive(tag: SweepTag.request) {
                handled = true
                try answer(try decode(bytes), from: source)
            }
            if !handled { usleep(5_000) }  // idle without burning a core
            progress.tick()
        }
        return (next < queue.count || unfinished > 0) ? .stoppedWorkRemains : .complete
    }

    private func answer(_ request: WorkRequest, from source: Rank) throws {
        if let report = request.report {
            reports += 1
            reportedWriteSeconds += report.writeSeconds
            let run = spec.runs[report.run]
            if report.stopped && request.leaving && !stopSent {
                // Signalled alone: its run goes to another worker, from its checkpoint.
                if next > 0 { next -= 1; queue[next] = report.run } else { queue.insert(report.run, at: 0) }
                progress.handedOn(report, run: run)
            } else {
                progress.finished(report, run: run)
                if report.stopped { unfinished += 1 }
            }
        }
        if stopSent || request.leaving || next == queue.count {
            try comm.send(try encode(Assignment(run: nil)), to: source, tag: SweepTag.assign)
            active.remove(source.value)
            if request.leaving && !stopSent {
                log("\(source) stopped on its own signal and takes no more runs; \(active.count) worker\(active.count == 1 ? "" : "s") left")
            }
        } else {
            try comm.send(try encode(Assignment(run: queue[next])), to: source, tag: SweepTag.assign)
            next += 1
            handOuts += 1
        }
    }

    private func stopAll() {
        stopSent = true
        for w in active { try? comm.send(try encode(true), to: Rank(w), tag: SweepTag.stopNow) }
    }

    /// The end of a failed sweep: every worker still active is told to stop
    /// at its next step (it writes a checkpoint) and is dismissed when it
    /// reports, for at most `grace` seconds. Never throws: the job is failing.
    func windDown(grace: TimeInterval) {
        if !stopSent { stopAll() }
        let deadline = Date().addingTimeInterval(grace)
        while !active.isEmpty && Date() < deadline {
            if let (bytes, source) = try? comm.tryReceive(tag: SweepTag.request) {
                if let request = try? decode(bytes, as: WorkRequest.self), let report = request.report {
                    progress.finished(report, run: spec.runs[report.run])
                }
                try? comm.send(try encode(Assignment(run: nil)), to: source, tag: SweepTag.assign)
                active.remove(source.value)
            } else if let (bytes, _) = try? comm.tryReceive(tag: SweepTag.failure),
                      let note = try? decode(bytes, as: FailureNote.self) {
                active.remove(note.rank)  // that rank printed its own error line
            } else {
                usleep(5_000)
            }
        }
        if !active.isEmpty {
            log("\(active.count) worker\(active.count == 1 ? "" : "s") did not stop within \(Int(grace)) s; their runs resume from their last checkpoints")
        }
    }
}
