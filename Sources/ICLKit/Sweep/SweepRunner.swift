import Foundation

/// Message tags between the coordinator (rank 0) and the workers.
enum SweepTag {
    /// worker -> coordinator: "ready", carrying the report of the run just ended
    static let request = Tag(11)
    /// coordinator -> worker: the next run, or stop
    static let assign = Tag(12)
    /// worker -> coordinator: sequences done in the current run
    static let progress = Tag(13)
    /// coordinator -> worker: stop the current run at the next step (a signal reached rank 0)
    static let stopNow = Tag(14)
}

struct WorkRequest: Codable { var report: RunReport? }
struct Assignment: Codable { var run: Int? }
struct ProgressNote: Codable { var run: Int; var sequences: Int }

/// What rank 0 decided before anything was opened, shared with every rank.
struct StartVerdict: Codable {
    var error: String?
    var specText = ""
    var create = false
    var todo: [Int] = []
    var total = 0
}

/// Messages travel as JSON; NaN (an evaluator that does not apply) as a string.
func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return Array(try encoder.encode(value))
}
func decode<T: Decodable>(_ bytes: [UInt8], as: T.Type = T.self) throws -> T {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try decoder.decode(T.self, from: Data(bytes))
}

/// Runs a sweep across the ranks of `comm`: rank 0 coordinates (or trains
/// everything itself when it is alone), the others pull runs and train.
public final class SweepRunner {
    public struct Options {
        public var retryFailed = false
        public var progressEvery: TimeInterval = 30
        public init() {}
    }

    /// Exit codes of `iclsweep run`.
    public enum Exit: Int32 {
        case complete = 0, error = 1, stoppedWorkRemains = 75
    }

    let comm: MPIComm
    let specPath: String
    let options: Options
    var isRoot: Bool { comm.rank == .coordinator }

    public init(comm: MPIComm, specPath: String, options: Options) {
        self.comm = comm
        self.specPath = specPath
        self.options = options
    }

    func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    /// Runs the sweep. Returns the exit code every rank should end with.
    public func run() throws -> Exit {
        // 1. Rank 0 reads the spec and any existing results; everyone learns the verdict.
        var verdict = StartVerdict()
        if isRoot { verdict = decide() }
        verdict = try decode(try comm.broadcast(try encode(verdict)))
        if let error = verdict.error {
            if isRoot { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
            return .error
        }
        let spec = try SweepSpec.parse(verdict.specText, file: specPath)
        let workers = comm.size - 1
        if isRoot {
            say("sweep '\(spec.name)': \(verdict.total) runs, \(verdict.todo.count) to do, "
                + (workers == 0 ? "1 process (no coordinator rank)" : "\(workers) worker rank\(workers == 1 ? "" : "s") + coordinator")
                + "; results \(spec.results)")
        }

        // 2. Open the results file collectively.
        var exit = Exit.complete
        do {
            let results = verdict.create ? try ResultsFile.create(spec: spec, comm: comm)
                                         : try ResultsFile.open(path: spec.results, writable: true, comm: comm)
            try FileManager.default.createDirectory(atPath: spec.checkpointFolder, withIntermediateDirectories: true)
            let todo = spec.schedule.filter { verdict.todo.contains($0.id) }
            if workers == 0 {
                exit = try solo(spec: spec, results: results, todo: todo)
            } else if isRoot {
                let started = Date(), cpuBefore = processCPUSeconds()
                exit = try coordinate(spec: spec, todo: todo, total: verdict.total, workers: workers)
                let cpu = processCPUSeconds() - cpuBefore, wall = Date().timeIntervalSince(started)
                say(String(format: "coordinator: %.2f s of CPU in %.1f s of scheduling (%.2f%% of a core)",
                           cpu, wall, 100 * cpu / max(wall, 1e-9)))
            } else {
                exit = try work(spec: spec, results: results)
            }
            try results.close()  // collectively, on every rank
        }
        let worst = try comm.allMax(Int64(exit.rawValue == 0 ? 0 : exit == .stoppedWorkRemains ? 1 : 2))
        exit = worst == 0 ? .complete : worst == 1 ? .stoppedWorkRemains : .error

        // 3. Rank 0 summarises what is in the file.
        if isRoot {
            let table = try ResultsFile.openForReading(spec.results).table()
            let summary = Summary(table)
            let written = try summary.write(besides: spec.results)
            say("\n" + summary.markdown)
            say("summary written to \(written.joined(separator: ", "))")
            if exit == .stoppedWorkRemains {
                say("stopped with work remaining (exit \(Exit.stoppedWorkRemains.rawValue)); run the same command again to resume")
            }
        }
        return exit
    }

    // MARK: - Start-up decision (rank 0)

    private func decide() -> StartVerdict {
        var v = StartVerdict()
        do {
            let spec = try SweepSpec.load(path: specPath)
            v.specText = spec.text
            v.total = spec.runs.count
            let path = spec.results
            if FileManager.default.fileExists(atPath: path) {
                let existing = try ResultsFile.openForReading(path)
                let storedText = try existing.spec()
                // Parsed as if it sat where the new spec sits, so relative paths resolve alike.
                let stored = try SweepSpec.parse(storedText, file: specPath)
                let differences = spec.differences(from: stored)
                if !differences.isEmpty {
                    v.error = "\(specPath) differs from the spec stored in \(path); refusing to mix results. "
                        + "Differing fields (stored -> new): " + differences.joined(separator: "; ")
                        + ". Use a new results path for a new sweep."
                    return v
                }
                let statuses = try existing.statuses()
                v.todo = statuses.indices.filter { !statuses[$0].isFinal || (options.retryFailed && statuses[$0] != .done) }
            } else {
                try? FileManager.default.removeItem(atPath: path + ".partial")  // a creation that was cut short
                v.create = true
                v.todo = Array(0..<v.total)
            }
        } catch {
            v.error = "\(error)"
        }
        return v
    }

    // MARK: - One process does everything

    private func solo(spec: SweepSpec, results: ResultsFile, todo: [GridPoint]) throws -> Exit {
        let table = try loadTable(spec)
        let executor = RunExecutor(spec: spec, table: table, results: results, rank: comm.rank,
                                   host: MPI.processorName, log: say)
        var progress = SweepProgress(total: spec.runs.count, todo: todo, log: say, every: options.progressEvery)
        for run in todo {
            if StopSignal.requested { return .stoppedWorkRemains }
            let report = try executor.execute(run, shouldStop: { StopSignal.requested },
                                              onProgress: { progress.note(run: run.id, sequences: $0); progress.tick() })
            progress.finished(report, run: run)
            if report.stopped { return .stoppedWorkRemains }
        }
        return .complete
    }

    private func loadTable(_ spec: SweepSpec) throws -> FeatureTable {
        let size = spec.tableSize
        return try spec.data.table(classes: size.classes, exemplars: size.exemplars)
    }

    // MARK: - Coordinator (rank 0 of several)

    private func coordinate(spec: SweepSpec, todo: [GridPoint], total: Int, workers: Int) throws -> Exit {
        var queue = todo[...]
        var active = workers
        var stopSent = false
        var anyStopped = false
        var progress = SweepProgress(total: total, todo: todo, log: say, every: options.progressEvery)
        let runs = spec.runs
        while active > 0 {
            var handled = false
            if StopSignal.requested && !stopSent {
                stopSent = true
                say("\(StopSignal.signalName): stopping every run at its next step and checkpointing")
                for w in 1...workers { try comm.send(try encode(true), to: Rank(Int32(w)), tag: SweepTag.stopNow) }
            }
            while let (bytes, _) = try comm.tryReceive(tag: SweepTag.progress) {
                let note: ProgressNote = try decode(bytes)
                progress.note(run: note.run, sequences: note.sequences)
                handled = true
            }
            if let (bytes, source) = try comm.tryReceive(tag: SweepTag.request) {
                handled = true
                let request: WorkRequest = try decode(bytes)
                if let report = request.report {
                    progress.finished(report, run: runs[report.run])
                    anyStopped = anyStopped || report.stopped
                }
                if StopSignal.requested || queue.isEmpty {
                    try comm.send(try encode(Assignment(run: nil)), to: source, tag: SweepTag.assign)
                    active -= 1
                } else {
                    let next = queue.removeFirst()
                    try comm.send(try encode(Assignment(run: next.id)), to: source, tag: SweepTag.assign)
                }
            }
            if !handled { usleep(5_000) }  // idle without burning a core
            progress.tick()
        }
        // A stop-now that a worker never read must not linger in the MPI queues.
        return (!queue.isEmpty || anyStopped) ? .stoppedWorkRemains : .complete
    }

    // MARK: - Worker

    private func work(spec: SweepSpec, results: ResultsFile) throws -> Exit {
        let table = try loadTable(spec)
        let executor = RunExecutor(spec: spec, table: table, results: results, rank: comm.rank,
                                   host: MPI.processorName, log: say)
        let runs = spec.runs
        var report: RunReport?
        var stopped = false
        var steps = 0
        let stopNow: () -> Bool = { [comm] in
            if StopSignal.requested { return true }
            steps += 1
            if steps % 64 == 0, (try? comm.tryReceive(tag: SweepTag.stopNow, from: .coordinator)) != nil {
                StopSignal.request()
                return true
            }
            return false
        }
        while true {
            try comm.send(try encode(WorkRequest(report: report)), to: .coordinator, tag: SweepTag.request)
            let assignment: Assignment = try decode(try comm.receive(from: .coordinator, tag: SweepTag.assign).bytes)
            guard let id = assignment.run else { break }
            var lastSent = Date.distantPast
            report = try executor.execute(runs[id], shouldStop: stopNow, onProgress: { [comm] sequences in
                let now = Date()
                guard now.timeIntervalSince(lastSent) >= 5 else { return }
                lastSent = now
                try? comm.send(try encode(ProgressNote(run: id, sequences: sequences)), to: .coordinator, tag: SweepTag.progress)
            })
            stopped = stopped || report!.stopped
        }
        // Drain a stop-now that arrived after our last run.
        _ = try comm.tryReceive(tag: SweepTag.stopNow, from: .coordinator)
        return stopped ? .stoppedWorkRemains : .complete
    }
}

/// Rank 0's progress lines: one per finished run, and a periodic total.
struct SweepProgress {
    let total: Int
    let log: (String) -> Void
    let every: TimeInterval
    var done = 0
    let todoCount: Int
    var remainingSequences: Int
    var inFlight: [Int: Int] = [:]
    var sequencesThisSession = 0
    let started = Date()
    var lastTick = Date()

    init(total: Int, todo: [GridPoint], log: @escaping (String) -> Void, every: TimeInterval) {
        self.total = total
        self.log = log
        self.every = every
        todoCount = todo.count
        remainingSequences = todo.reduce(0) { $0 + $1.config.sequences }
    }

    mutating func note(run: Int, sequences: Int) {
        let previous = inFlight[run] ?? 0
        inFlight[run] = sequences
        sequencesThisSession += max(0, sequences - previous)
    }

    mutating func finished(_ r: RunReport, run: GridPoint) {
        note(run: run.id, sequences: r.sequences)
        inFlight[run.id] = nil
        let status = RunStatus(rawValue: r.status)!
        if r.stopped {
            log("run \(run.id) \(run.name): stopped at \(Format.count(r.sequences)) sequences (checkpointed)")
            return
        }
        done += 1
        remainingSequences -= run.config.sequences
        var line = "[\(done)/\(todoCount)] run \(run.id) \(run.name): \(status)"
        if status == .done {
            let accs = zip(Evaluator.allCases, r.final).map { "\($0.0.rawValue) \(Format.fixed($0.1))" }.joined(separator: " ")
            line += "  \(accs)  \(Format.count(Int(r.sequencesPerSecond))) seq/s"
        } else {
            line += ": \(r.message)"
        }
        log(line)
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
