import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Rank 0 of several: hands out runs to workers that ask, gathers their
/// reports and progress, and turns a stop (a signal) or a failure on any
/// rank into an orderly end. Constant work per message; nothing it sends
/// grows with the grid.
///
/// Runs built on other runs' checkpoints wait (`Readiness`) until a worker
/// reports the checkpoint kept; a worker that asks while nothing is ready
/// but such runs may still become ready is parked and served as soon as
/// one does, so no worker idles while other work is ready.
final class Coordinator {
    let comm: MPIComm
    let spec: SweepSpec
    let results: ResultsFile
    let log: (String) -> Void
    /// Run ids ready from the start, most work hanging on them first, from `next` on.
    private var queue: [Int]
    private var next = 0
    /// Runs that became ready later, in the same order.
    private var released: [Int] = []
    private var readiness: Readiness
    private let graph: RunGraph
    /// Workers that asked while nothing was ready.
    private var parked: [Rank] = []
    /// Runs handed out and not yet reported.
    private var inFlight = Set<Int>()
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

    package init(comm: MPIComm, spec: SweepSpec, results: ResultsFile, todo: [Int], graph: RunGraph,
                 log: @escaping (String) -> Void, progressEvery: TimeInterval) throws {
        self.comm = comm
        self.spec = spec
        self.results = results
        self.log = log
        self.graph = graph
        let (readiness, ready, blocked) = Readiness.make(spec: spec, todo: todo, graph: graph)
        self.readiness = readiness
        queue = ready
        active = Set((1..<Int32(comm.size)).map { $0 })
        progress = SweepProgress(spec: spec, todo: todo, log: log, every: progressEvery)
        try block(blocked)
    }

    /// Records runs as blocked (rank 0 writes their status) and counts them done.
    private func block(_ runs: [(run: Int, why: String)]) throws {
        for (id, why) in runs {
            try results.setStatus(id, .blocked, message: why)
            progress.finished(RunReport(blocked: id, message: why), run: spec.runs[id])
        }
    }

    /// Adds runs that became ready, keeping `released` in priority order.
    private func release(_ runs: [Int]) {
        for id in runs {
            let p = graph.priority(id)
            let at = released.firstIndex { graph.priority($0) < p || (graph.priority($0) == p && $0 > id) } ?? released.count
            released.insert(id, at: at)
        }
    }

    private var hasReady: Bool { next < queue.count || !released.isEmpty }

    /// The ready run with the most work hanging on it.
    private func takeReady() -> Int {
        if let r = released.first, next >= queue.count || graph.priority(r) > graph.priority(queue[next]) {
            return released.removeFirst()
        }
        next += 1
        return queue[next - 1]
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
            while let (bytes, _) = try comm.tryReceive(tag: SweepTag.kept) {
                let note: KeptNote = try decode(bytes)
                release(readiness.kept(run: note.run, at: note.sequences))
                handled = true
            }
            if let (bytes, source) = try comm.tryReceive(tag: SweepTag.request) {
                handled = true
                try answer(try decode(bytes), from: source)
            }
            try serveParked()
            if !handled { usleep(5_000) }  // idle without burning a core
            progress.tick()
        }
        return (hasReady || !readiness.waiting.isEmpty || unfinished > 0) ? .stoppedWorkRemains : .complete
    }

    /// Parked workers get ready runs; when nothing is ready or running, the
    /// runs still waiting can never start: they are blocked and the workers dismissed.
    private func serveParked() throws {
        while !parked.isEmpty && hasReady && !stopSent { try assign(takeReady(), to: parked.removeFirst()) }
        guard !parked.isEmpty else { return }
        if stopSent || readiness.waiting.isEmpty {
            for w in parked { try dismiss(w) }
            parked = []
        } else if inFlight.isEmpty {
            try block(readiness.blockAll())
            for w in parked { try dismiss(w) }
            parked = []
        }
    }

    private func assign(_ run: Int, to worker: Rank) throws {
        try comm.send(try encode(Assignment(run: run)), to: worker, tag: SweepTag.assign)
        inFlight.insert(run)
        handOuts += 1
    }

    private func dismiss(_ worker: Rank) throws {
        try comm.send(try encode(Assignment(run: nil)), to: worker, tag: SweepTag.assign)
        active.remove(worker.value)
    }

    private func answer(_ request: WorkRequest, from source: Rank) throws {
        if let report = request.report {
            reports += 1
            reportedWriteSeconds += report.writeSeconds
            let run = spec.runs[report.run]
            inFlight.remove(report.run)
            if report.stopped && request.leaving && !stopSent {
                // Signalled alone: its run goes to another worker, from its checkpoint.
                if next > 0 { next -= 1; queue[next] = report.run } else { queue.insert(report.run, at: 0) }
                progress.handedOn(report, run: run)
            } else {
                progress.finished(report, run: run)
                if report.stopped { unfinished += 1 }
                else if graph.dependants[report.run] != nil {
                    let (freed, blocked) = readiness.ended(run: report.run)
                    release(freed)
                    try block(blocked)
                }
            }
        }
        if stopSent || request.leaving || (!hasReady && readiness.waiting.isEmpty) {
            try dismiss(source)
            if request.leaving && !stopSent {
                log("\(source) stopped on its own signal and takes no more runs; \(active.count) worker\(active.count == 1 ? "" : "s") left")
            }
        } else if hasReady {
            try assign(takeReady(), to: source)
        } else {
            parked.append(source)  // served by serveParked as soon as a run is ready
        }
    }

    private func stopAll() {
        stopSent = true
        for w in active where !parked.contains(where: { $0.value == w }) {
            try? comm.send(try encode(true), to: Rank(w), tag: SweepTag.stopNow)
        }
        for w in parked { try? dismiss(w) }
        parked = []
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
