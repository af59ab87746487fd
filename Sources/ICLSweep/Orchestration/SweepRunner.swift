import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Runs a sweep across the ranks of `comm`: rank 0 coordinates (or trains
/// everything itself when it is alone), the others pull runs and train.
///
/// The phases, and how each ends on an error:
/// 1. Rank 0 decides (`StartDecision`): spec, path, claim, existing file,
///    features. Every rank learns the verdict by broadcast; on a problem
///    every rank returns `.error` and nothing was created.
/// 2. The results file is created or opened, collectively.
/// 3. Runs are trained (`Coordinator`, `Worker`).
/// 4. The file is closed, collectively: only on the success path.
/// From 2 to 4 any error on any rank goes to `fail`, which ends the whole
/// job within seconds and never enters a collective call. In 2 and 4 the
/// other ranks may be waiting inside a collective HDF5 call for the one that
/// failed, so that rank records the error and ends the job at once.
public final class SweepRunner {
    public struct Options {
        public var retryFailed = false
        /// Gangs may take ranks of several nodes (by default a gang's ranks share one).
        public var gangsAcrossNodes = false
        public var rerunDamaged = false
        public var progressEvery: TimeInterval = 30
        public init() {}
    }

    /// Exit codes of `iclsweep run`.
    public enum Exit: Int32 {
        case complete = 0, error = 1, stoppedWorkRemains = 75
        /// Every run final, but done runs' rows fail their checksum (left out of the summary).
        case damaged = 65
    }

    /// Seconds the other workers get to checkpoint when one rank failed.
    static let failureGrace: TimeInterval = 5
    /// Seconds a failed worker waits for rank 0 to end the job before it
    /// ends it itself (rank 0 may be stuck in a collective call, or gone).
    static let failureBackstop: TimeInterval = 8

    let comm: MPIComm
    let specPath: String
    let options: Options
    let host = MPI.processorName
    var isRoot: Bool { comm.rank == .coordinator }

    // What `fail` must clean up.
    private var claim: ResultsClaim?
    private var claimToken = ""
    private var coordinator: Coordinator?
    private var results: ResultsFile?
    private var resultsPath: String?
    /// Whether the ranks are training (rank 0 listens for failures) or
    /// inside collective calls (creating, opening or closing the file).
    private enum Phase { case start, collective, training, finish }
    private var phase = Phase.start { didSet { IOCalls.collective = phase == .collective } }
    private var training: Bool { phase == .training }

    public init(comm: MPIComm, specPath: String, options: Options) {
        self.comm = comm
        self.specPath = specPath
        self.options = options
    }

    func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    /// Runs the sweep. Returns the exit code every rank should end with,
    /// or ends the whole job (see `fail`).
    public func run() -> Exit {
        // 1. Rank 0 decides; everyone learns the verdict.
        var decision = StartDecision()
        let layout: NodeLayout
        do { layout = try NodeLayout.make(world: comm, gangsAcrossNodes: options.gangsAcrossNodes) } catch { fail(error) }
        if isRoot {
            decision = StartDecision.make(specPath: specPath, options: options, layout: layout, log: say)
            decision.verdict.host = host
            decision.verdict.arithmetic = Kernels.arithmetic
        }
        claim = decision.claim
        let verdict: StartVerdict, spec: SweepSpec
        do {
            verdict = try decode(try comm.broadcast(try encode(decision.verdict)))
            if let error = verdict.error {
                var line = "error: \(error)"
                if case .environment(let hint) = Fault.classify(error) { line += " -- \(hint), then run the same command again" }
                if isRoot { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
                return .error
            }
            spec = try SweepSpec.parse(verdict.specText, file: specPath)
        } catch {
            fail(error)
        }
        claimToken = verdict.claim
        resultsPath = spec.results
        let workers = comm.size - 1
        if isRoot {
            say("sweep '\(spec.name)': \(verdict.total) runs, \(verdict.todoCount) to do, "
                + (workers == 0 ? "1 process (no coordinator rank)" : "\(workers) worker rank\(workers == 1 ? "" : "s") + coordinator")
                + "; results \(spec.results)")
        }

        // 2-4. Open, train, close.
        let exit: Exit
        do {
            exit = try sweep(spec: spec, create: verdict.create, todo: decision.todo, graph: decision.graph, layout: layout,
                             reference: (verdict.host, verdict.arithmetic))
        } catch {
            fail(error)
        }

        // 5. Rank 0 summarises what is in the file and records the outcome.
        if isRoot { return finish(spec: spec, exit: exit) }
        return exit
    }

    private func sweep(spec: SweepSpec, create: Bool, todo: [Int], graph: RunGraph?, layout: NodeLayout,
                       reference: (host: String, arithmetic: String)) throws -> Exit {
        phase = .collective
        let file = create ? try ResultsFile.create(spec: spec, comm: comm)
                          : try ResultsFile.open(path: spec.results, writable: true, comm: comm)
        results = file
        let features = try NodeTable.load(spec, world: comm, layout: layout)
        if isRoot { say(features.summary) }
        // One line per node whose arithmetic is not rank 0's: where a run trains then decides its last bits.
        if !isRoot, features.node.rank == .coordinator, Kernels.arithmetic != reference.arithmetic {
            say("warning: \(host) (rank \(comm.rank.value)) trains with \(Kernels.arithmetic), but rank 0 "
                + "(\(reference.host)) has \(reference.arithmetic): a run's last bits depend on the kind of node it "
                + "trains on, and a run resumed on the other kind goes on with other last bits; "
                + "keep a sweep on one kind of node (Slurm: --constraint)")
        }
        var executor = RunExecutor(spec: spec, tables: features, results: file, rank: comm.rank, host: host, log: say)
        executor.noteEvery = min(5, options.progressEvery)  // the coordinator's estimates and lines come from these notes
        var exit = Exit.complete
        phase = .training
        if comm.size == 1 {
            exit = try Worker.solo(spec: spec, executor: executor, todo: todo, log: say, progressEvery: options.progressEvery)
        } else if isRoot {
            let started = Date(), cpuBefore = processCPUSeconds()
            let c = try Coordinator(comm: comm, spec: spec, results: file, todo: todo, layout: layout,
                                    graph: graph ?? RunGraph(spec.runs, costs: spec.runCosts(wall: true)), log: say,
                                    progressEvery: options.progressEvery)
            coordinator = c
            c.onStop = { [claimToken] in
                try? SweepOutcome(.stopped, message: "stopped by \(StopSignal.cause)", claim: claimToken).write(besides: spec.results)
            }
            exit = try c.run()
            let cpu = processCPUSeconds() - cpuBefore, wall = Date().timeIntervalSince(started)
            say(String(format: "coordinator: %.2f s of CPU in %.1f s of scheduling (%.2f%% of a core), %.0f µs of CPU per hand-out; "
                       + "results-file writes %.2f ms per run",
                       cpu, wall, 100 * cpu / max(wall, 1e-9), 1e6 * cpu / Double(max(c.handOuts, 1)),
                       1e3 * c.reportedWriteSeconds / Double(max(c.reports, 1))))
        } else {
            try Worker(comm: comm, spec: spec, executor: executor).run()
        }
        phase = .collective
        try file.close()  // collectively, on every rank: every worker has been dismissed
        results = nil
        try features.free()
        phase = .finish
        // Rank 0's word decides: a worker that left on its own signal may have
        // had its run finished by another.
        let code = try comm.broadcast(Int64(exit.rawValue))
        return Exit(rawValue: Int32(code)) ?? .error
    }

    private func finish(spec: SweepSpec, exit: Exit) -> Exit {
        var exit = exit
        var damaged: [DamagedRun] = []
        var summaryError = ""
        do {
            let checked = try ResultsFile.openForReading(spec.results).checkedTable()
            damaged = checked.damaged
            let summary = Summary(checked.table)
            let written = try summary.write(besides: spec.results)
            say("\n" + summary.markdown)
            say("summary written to \(written.joined(separator: ", "))")
            if !damaged.isEmpty {
                FileHandle.standardError.write(Data((DamagedRun.warning(damaged, results: spec.results) + "\n").utf8))
                if exit == .complete { exit = .damaged }
            }
        } catch {
            summaryError = "writing the summary: \(describe(error))"
            FileHandle.standardError.write(Data("error: \(summaryError)\n".utf8))
            exit = .error
        }
        let outcome: SweepOutcome
        switch exit {
        case .complete: outcome = SweepOutcome(.complete, message: "every run finished", claim: claimToken)
        case .damaged:
            outcome = SweepOutcome(.complete, message: "every run finished; \(damaged.count) done runs are damaged", claim: claimToken)
        case .stoppedWorkRemains:
            outcome = SweepOutcome(.stopped, message: StopSignal.requested ? "stopped by \(StopSignal.cause)" : "every worker stopped",
                                   claim: claimToken)
            say("stopped with work remaining (exit \(Exit.stoppedWorkRemains.rawValue); `iclsweep status` exits "
                + "\(Exit.stoppedWorkRemains.rawValue) too); run the same command again to resume")
        case .error: outcome = SweepOutcome(.error, message: summaryError, claim: claimToken)
        }
        do { try outcome.write(besides: spec.results) } catch {
            FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8))
            exit = .error
        }
        claim?.release()
        return exit
    }

    // MARK: - The one error path

    /// Ends the whole job after an error on this rank, without entering any
    /// collective call (another rank may never reach it):
    /// - a worker prints its one-line error, reports it to rank 0 and waits
    ///   for rank 0 to end the job; if that does not happen within
    ///   `failureBackstop` seconds it ends the job itself;
    /// - rank 0 stops the other workers (each checkpoints at its next step,
    ///   for at most `failureGrace` seconds), records the outcome, releases
    ///   the claim and aborts the job (`MPI_Abort`: every process ends).
    /// The results file stays readable (its metadata was flushed when it was
    /// made; rows are raw writes), and the next start resumes.
    func fail(_ error: Error) -> Never {
        let reported = error as? Coordinator.ReportedFailure
        let line = reported?.note.line
            ?? (error as? SweepFailure ?? SweepFailure(rank: comm.rank.value, host: host, run: nil, error: error)).description
        if reported == nil { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
        if !isRoot {
            if training {
                try? comm.send(try encode(FailureNote(rank: comm.rank.value, line: line)), to: .coordinator, tag: SweepTag.failure)
                Thread.sleep(forTimeInterval: SweepRunner.failureBackstop)
            } else if let resultsPath {
                // Rank 0 may wait in the collective call this rank left: it cannot hear a note.
                try? SweepOutcome(.error, message: line, claim: claimToken).write(besides: resultsPath)
            }
            comm.abort(Exit.error.rawValue)
        }
        if reported == nil, training, let coordinator { coordinator.windDown(grace: SweepRunner.failureGrace) }
        if let resultsPath {
            if (try? SweepOutcome(.error, message: line, claim: claimToken).write(besides: resultsPath)) == nil {
                FileHandle.standardError.write(Data("warning: could not record the error in \(SweepOutcome.path(for: resultsPath))\n".utf8))
            }
            if FileManager.default.fileExists(atPath: resultsPath) {
                say("the sweep ended with an error; \(resultsPath) stays readable, and the same command resumes once the cause is fixed")
            } else {
                unlink(ResultsPaths(resultsPath).partial)  // made in part: the next start makes it anew
                say("the sweep ended with an error while creating \(resultsPath); the same command starts it once the cause is fixed")
            }
        }
        claim?.release()
        if comm.size == 1 {
            // Alone, closing is not collective. A file HDF5 could not close
            // (a failed create or flush) crashes HDF5's own close in
            // MPI_Finalize, so a process that could not close it ends without.
            if results.map({ (try? $0.close()) != nil }) ?? (resultsPath == nil) { MPI.finalize() }
            fflush(nil)
            _exit(Exit.error.rawValue)
        }
        comm.abort(Exit.error.rawValue)
    }
}
