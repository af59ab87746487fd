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
    private var ready: ReadyRuns
    private var readiness: Readiness
    private let graph: RunGraph
    /// For each world rank, the group its gangs stay in: its node (`NodeLayout`), or one for all.
    private let nodeOf: [Int]
    /// For each world rank, its node, for the log.
    private let realNodeOf: [Int]
    /// Work of each run (FLOPs), for the estimates that decide backfilling.
    private let costs: RunCosts
    /// Workers free now: nothing was ready, or they wait for a gang to form.
    private var parked: [Rank] = []
    /// Runs handed out and not yet reported: their ranks, when they started, their progress.
    private var running: [Int: Running] = [:]
    private struct Running {
        let members: [Rank]
        let started: Date
        var sequences: Int? = nil
        var at = Date()
    }
    /// Work per second per rank, from the runs' progress notes (nil until the first).
    private var workRate: Double?
    private var gangTag: Int32 = 100
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

    package init(comm: MPIComm, spec: SweepSpec, results: ResultsFile, todo: [Int], layout: NodeLayout, graph: RunGraph,
                 log: @escaping (String) -> Void, progressEvery: TimeInterval) throws {
        self.comm = comm
        self.spec = spec
        self.results = results
        self.log = log
        self.graph = graph
        nodeOf = layout.gangGroupOf
        realNodeOf = layout.nodeOf
        costs = spec.runCosts()
        let (readiness, ready, blocked) = Readiness.make(spec: spec, todo: todo, graph: graph)
        self.readiness = readiness
        let runs = spec.runs
        self.ready = ReadyRuns(ready, graph: graph) { runs.config(of: $0).rankCount }
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
                log("\(StopSignal.cause): stopping every run at its next step and checkpointing")
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
                measure(note)
                handled = true
            }
            while let (bytes, _) = try comm.tryReceive(tag: SweepTag.kept) {
                let note: KeptNote = try decode(bytes)
                readiness.kept(run: note.run, at: note.sequences).forEach { ready.release($0) }
                handled = true
            }
            if let (bytes, source) = try comm.tryReceive(tag: SweepTag.request) {
                handled = true
                try answer(try decode(bytes), from: source)
            }
            try schedule()
            try dismissIdle()
            if !handled { usleep(5_000) }  // idle without burning a core
            progress.tick()
        }
        return (!ready.isEmpty || !readiness.waiting.isEmpty || unfinished > 0) ? .stoppedWorkRemains : .complete
    }

    // MARK: - Giving runs to workers

    /// Gives ready runs to free workers, best run first. A run on one rank
    /// takes any free worker; a gang takes free workers on one node. A gang
    /// that cannot start yet holds the node that has the most of its
    /// workers free (the others go on with other runs), and the free
    /// workers held there take single-rank runs only when those are
    /// estimated to end before the gang could start (backfilling, as
    /// batch schedulers do), so no worker idles that could work and the
    /// critical path is not pushed back.
    private func schedule() throws {
        guard !stopSent else { return }
        var held = Set<Int>()  // nodes held for gangs that wait
        var waiting = Set<Int>()  // lanes whose first run cannot start now
        while !parked.isEmpty, let (run, asked) = ready.heads.first(where: { !waiting.contains($0.ranks) }) {
            let ranks = placeable(asked)
            let free = Dictionary(grouping: parked.filter { !held.contains(nodeOf[Int($0.value)]) }) { nodeOf[Int($0.value)] }
            // the node with the most free workers: a gang there leaves room, and its ranks more memory bandwidth
            if let node = free.keys.filter({ free[$0]!.count >= ranks }).max(by: { (free[$0]!.count, -$0) < (free[$1]!.count, -$1) }) {
                try start(ready.take(ranks: asked), on: Array(free[node]!.prefix(ranks)))
                continue
            }
            waiting.insert(asked)
            guard ranks > 1 else { continue }
            // the node this gang will start on: enough workers, the most of them free
            let nodes = Set(active.map { nodeOf[Int($0)] }).filter { n in active.filter { nodeOf[Int($0)] == n }.count >= ranks && !held.contains(n) }
            guard let node = nodes.max(by: { (free[$0]?.count ?? 0, -$0) < (free[$1]?.count ?? 0, -$1) }) else { continue }
            held.insert(node)
            try backfill(node: node, gang: ranks, for: run)
        }
    }

    /// The ranks a run gets: what it asks for, or fewer when workers left
    /// and no node has that many now (its bits do not depend on it).
    private func placeable(_ asked: Int) -> Int {
        guard asked > 1 else { return 1 }
        var perNode: [Int: Int] = [:]
        for w in active { perNode[nodeOf[Int(w)], default: 0] += 1 }
        let most = perNode.values.max() ?? 1
        return min(asked, max(most, 1))
    }

    /// Single-rank runs for the free workers of `node`, which wait for a gang
    /// of `gang` ranks: the best ready run estimated to end before the gang
    /// can start, again while one is (a longer run ahead of it waits for
    /// the gang; the order is otherwise kept).
    private func backfill(node: Int, gang: Int, for run: Int) throws {
        while let worker = parked.first(where: { nodeOf[Int($0.value)] == node }),
              let rate = workRate, let wait = gangStart(node: node, ranks: gang),
              let single = ready.first(ranks: 1, where: { Backfill.fits(cost: costs[$0], rate: rate, before: wait) }) {
            log("run \(single) \(spec.runs.name(of: single)): backfills \(worker) (estimated \(Format.duration(costs[single] / rate))) "
                + "while \(spec.runs.name(of: run)) waits about \(Format.duration(wait)) for \(gang) ranks")
            ready.take(single)
            try start(single, on: [worker])
        }
    }

    /// Seconds until `ranks` workers of `node` are free, from the runs they
    /// train (`Backfill`); nil without estimates.
    private func gangStart(node: Int, ranks: Int) -> Double? {
        guard let rate = workRate else { return nil }
        let now = Date()
        var ends: [Double] = []
        for (id, r) in running {
            let end = Backfill.left(cost: costs[id], done: r.sequences, total: spec.runs.config(of: id).sequences,
                                    ranks: r.members.count, rate: rate, since: now.timeIntervalSince(r.sequences == nil ? r.started : r.at))
            for m in r.members where nodeOf[Int(m.value)] == node { ends.append(end) }
        }
        return Backfill.wait(needed: ranks - parked.filter { nodeOf[Int($0.value)] == node }.count, ends: ends)
    }

    /// Learns the work per second per rank from a run's progress.
    private func measure(_ note: ProgressNote) {
        guard var r = running[note.run] else { return }
        let now = Date()
        if let before = r.sequences, note.sequences > before, now > r.at {
            let total = Double(max(spec.runs.config(of: note.run).sequences, 1))
            let rate = costs[note.run] * Double(note.sequences - before) / total / now.timeIntervalSince(r.at) / Double(r.members.count)
            workRate = workRate.map { 0.7 * $0 + 0.3 * rate } ?? rate
        }
        r.sequences = note.sequences
        r.at = now
        running[note.run] = r
    }

    /// Hands `run` to `members` (free workers, parked): one, or a gang whose first member leads.
    private func start(_ run: Int, on members: [Rank]) throws {
        parked.removeAll { members.contains($0) }
        var assignment = Assignment(run: run)
        if members.count > 1 {
            gangTag += 1
            assignment.gang = members.map(\.value)
            assignment.gangTag = gangTag
            log("run \(run) \(spec.runs.name(of: run)): on ranks \(members.map { String($0.value) }.joined(separator: ", ")) "
                + "(node \(Array(Set(members.map { realNodeOf[Int($0.value)] })).sorted().map(String.init).joined(separator: ", ")))")
        }
        let bytes = try encode(assignment)
        for m in members { try comm.send(bytes, to: m, tag: SweepTag.assign) }
        running[run] = Running(members: members, started: Date())
        handOuts += 1
    }

    /// Free workers are dismissed when no run is left for them: none is
    /// ready and none can become ready (runs whose sources can no longer
    /// keep their checkpoints are blocked when nothing runs).
    private func dismissIdle() throws {
        guard !parked.isEmpty else { return }
        if stopSent || (ready.isEmpty && readiness.waiting.isEmpty) {
            for w in parked { try dismiss(w) }
            parked = []
        } else if ready.isEmpty && running.isEmpty {
            try block(readiness.blockAll())
            for w in parked { try dismiss(w) }
            parked = []
        }
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
            running[report.run] = nil
            if report.stopped && request.leaving && !stopSent {
                // Signalled alone: its run goes to another worker, from its checkpoint.
                ready.release(report.run)
                progress.handedOn(report, run: run)
            } else {
                progress.finished(report, run: run)
                if report.stopped { unfinished += 1 }
                else if graph.dependants[report.run] != nil {
                    let (freed, blocked) = readiness.ended(run: report.run)
                    freed.forEach { ready.release($0) }
                    try block(blocked)
                }
            }
        }
        if stopSent || request.leaving {
            try dismiss(source)
            if request.leaving && !stopSent {
                log("\(source) stopped on its own signal and takes no more runs; \(active.count) worker\(active.count == 1 ? "" : "s") left")
            }
        } else {
            parked.append(source)  // given a run by schedule, or dismissed by dismissIdle
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
