import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// State of one run in the results file.
public enum RunStatus: Int32, CaseIterable, CustomStringConvertible {
    case pending = 0, running = 1, done = 2, failed = 3, diverged = 4, blocked = 5
    public var description: String { ["pending", "running", "done", "failed", "diverged", "blocked"][Int(rawValue)] }
    /// Finished for good: a rerun would compute the same thing (a blocked
    /// run waits on a source that failed; `--retry-failed` retries both).
    public var isFinal: Bool { self == .done || self == .failed || self == .diverged || self == .blocked }
}

/// The sweep's one parallel HDF5 file. Every dataset of the whole grid is
/// created collectively up front (R runs, P evaluation points, 5 evaluators);
/// afterwards each rank writes only its own runs' rows, independently.
///
///     /runs/{name, variant, message, host}        (R) fixed-length strings
///     /runs/{classes, exemplars, seed, sequences, sequences_done}   (R) int64
///     /runs/{status, rank}                        (R) int32
///     /runs/{wall_seconds, seq_per_sec}           (R) float64
///     /runs/checksum                              (R) uint64, 0 until the run is done
///     /runs/axes/<field path>                     (R) float64 (numbers) or strings: one per swept
///                                                 field besides classes, exemplars, variants, seeds
///     /metrics/mechanism/...                      where the query attends and the induction
///                                                 strength, per model shape (`MechanismLayout`)
///     /metrics/sequences                          (P) int64
///     /metrics/train_loss                         (R, P) float64, NaN until written
///     /metrics/{accuracy, in_context_accuracy, loss}    (R, P, 6) float64
///
/// Root attributes: format, name, spec (the YAML text), spec_hash,
/// evaluators, statuses, axes (the swept fields' paths, comma-separated;
/// absent in files without any).
public final class ResultsFile {
    public static let format = "iclsweep-results-3"
    let file: H5File
    let runCount: Int
    let pointCount: Int
    /// Where the mechanism measures go; nil in files made before them (they
    /// are then not written).
    let mechanism: MechanismLayout?
    private var datasets: [String: H5Dataset] = [:]
    /// Seconds this process has spent writing rows (for the sweep's figures).
    public private(set) var writeSeconds = 0.0

    private var timing = false

    private func timed<R>(_ body: () throws -> R) rethrows -> R {
        if timing { return try body() }  // a write inside another is counted once
        timing = true
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            writeSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            timing = false
        }
        return try body()
    }

    private init(file: H5File, runs: Int, points: Int) throws {
        self.file = file
        runCount = runs
        pointCount = points
        mechanism = try MechanismLayout.read(file)
    }

    package func dataset(_ name: String) throws -> H5Dataset {
        if let d = datasets[name] { return d }
        let d = try file.dataset(name)
        datasets[name] = d
        return d
    }

    // MARK: - Creating and opening

    /// Creates the file with every dataset, collectively when `comm` is given.
    /// Built under `PATH.partial` and renamed once complete and flushed, so a
    /// crash during creation never leaves a half-made file at `PATH`.
    public static func create(spec: SweepSpec, comm: MPIComm?) throws -> ResultsFile {
        let path = spec.results
        let partial = path + ".partial"
        let isRoot = comm.map { $0.rank == .coordinator } ?? true
        do {
            let runs = spec.runs, R = runs.count, P = spec.evalPoints.count, E = Evaluator.allCases.count
            let file = try H5File.create(partial, comm: comm)
            try file.setAttribute("format", format)
            try file.setAttribute("name", spec.name)
            try file.setAttribute("spec", spec.text)
            try file.setAttribute("spec_hash", spec.hash)
            try file.setAttribute("evaluators", Evaluator.allCases.map(\.rawValue).joined(separator: ","))
            try file.setAttribute("statuses", RunStatus.allCases.map(\.description).joined(separator: ","))
            let columns = runs.columns
            if !columns.isEmpty { try file.setAttribute("axes", columns.joined(separator: ",")) }
            let names = try file.createStringDataset("runs/name", length: Self.nameLength(runs), shape: [R])
            let variants = try file.createStringDataset("runs/variant", length: 16, shape: [R])
            let message = try file.createStringDataset("runs/message", length: 256, shape: [R])
            let host = try file.createStringDataset("runs/host", length: 64, shape: [R])
            let classes = try file.createDataset("runs/classes", of: Int64.self, shape: [R])
            let exemplars = try file.createDataset("runs/exemplars", of: Int64.self, shape: [R])
            let seeds = try file.createDataset("runs/seed", of: Int64.self, shape: [R])
            let done = try file.createDataset("runs/sequences_done", of: Int64.self, shape: [R])
            let total = try file.createDataset("runs/sequences", of: Int64.self, shape: [R])
            let status = try file.createDataset("runs/status", of: Int32.self, shape: [R], fill: RunStatus.pending.rawValue)
            let rank = try file.createDataset("runs/rank", of: Int32.self, shape: [R], fill: -1)
            let wall = try file.createDataset("runs/wall_seconds", of: Double.self, shape: [R], fill: .nan)
            let rate = try file.createDataset("runs/seq_per_sec", of: Double.self, shape: [R], fill: .nan)
            let checksum = try file.createDataset("runs/checksum", of: UInt64.self, shape: [R])
            let points = try file.createDataset("metrics/sequences", of: Int64.self, shape: [P])
            let trainLoss = try file.createDataset("metrics/train_loss", of: Double.self, shape: [R, P], fill: .nan)
            let metrics = try ["accuracy", "in_context_accuracy", "loss"].map {
                try file.createDataset("metrics/\($0)", of: Double.self, shape: [R, P, E], fill: .nan)
            }
            try MechanismLayout.of(spec).create(in: file, points: P, isRoot: isRoot)
            let axes = try columns.map { column in
                runs.columnIsNumber(column) ? try file.createDataset("runs/axes/\(column)", of: Double.self, shape: [R], fill: .nan)
                    : try file.createStringDataset("runs/axes/\(column)", length: column == "run" ? 64 : 32, shape: [R])
            }
            if isRoot {
                // the grid's from its axes' values, without making every run's config; then the named runs
                let grid = runs.grid, G = grid.count
                let values = (0..<G).map { grid.values(of: $0) }
                let at = { (name: String) in grid.axes.firstIndex { $0.name == name }! }
                let (c, e, v, s) = (at("classes"), at("exemplars"), at("variants"), at("seeds"))
                let named = runs.named.map(\.config)
                try names.writeStrings((0..<R).map { runs.name(of: $0) }, start: 0)
                try variants.writeStrings(values.map { $0[v].text } + named.map(\.variant.rawValue), start: 0)
                try classes.write(values.map { Int64($0[c].int) } + named.map { Int64($0.classes) })
                try exemplars.write(values.map { Int64($0[e].int) } + named.map { Int64($0.exemplars) })
                try seeds.write(values.map { Int64($0[s].int) } + named.map { Int64($0.seed) })
                let length = grid.sweeps("training.sequences") || G == 0 ? nil : Int64(grid[0].config.sequences)
                try total.write((0..<G).map { length ?? Int64(grid[$0].config.sequences) } + named.map { Int64($0.sequences) })
                try points.write(spec.evalPoints.map(Int64.init))
                for (column, d) in zip(columns, axes) {
                    let values = (0..<R).map { runs.value(column, of: $0) }
                    if runs.columnIsNumber(column) { try d.write(values.map(\.double)) }
                    else { try d.writeStrings(values.map(\.text), start: 0) }
                }
            }
            for d in [names, variants, message, host, classes, exemplars, seeds, done, total, status, rank, wall, rate,
                      checksum, points, trainLoss] + metrics + axes { try d.close() }
            try file.flush()
            try file.close()
        }
        if isRoot { try FileSystem.rename(partial, to: path) }
        try comm?.barrier()
        return try open(path: path, writable: true, comm: comm, runs: spec.runs.count, points: spec.evalPoints.count)
    }

    /// The size of the file `create` makes for `spec`: every dataset is
    /// allocated up front (parallel HDF5), so this is its size before any run.
    public static func expectedBytes(_ spec: SweepSpec) -> Int {
        let R = spec.runs.count, P = spec.evalPoints.count, E = Evaluator.allCases.count
        let perRun = 8 * (P * (1 + 3 * E) + 12) + nameLength(spec.runs) + 16 + 256 + 64 + 32 * spec.runs.columns.count
        return R * perRun + MechanismLayout.of(spec).bytes(points: P)
    }

    /// Room for every run name: 64 characters, and 32 more per swept field.
    static func nameLength(_ runs: RunList) -> Int { 64 + 32 * runs.grid.fieldAxes.count }

    /// Opens an existing results file (collectively when `comm` is given).
    public static func open(path: String, writable: Bool, comm: MPIComm?, runs: Int? = nil, points: Int? = nil) throws -> ResultsFile {
        let file = try H5File.open(path, writable: writable, comm: comm)
        let found = file.hasAttribute("format") ? try file.attribute("format") : nil
        guard found == format else {
            if found == "iclsweep-results-2" {
                throw HDF5Error(function: "open(\(path))", message: "written by an older iclsweep (format 2: five evaluators, "
                                + "whose `train` was the run's own variant); read it with that version, or start a new results file")
            }
            if found == "iclsweep-results-1" {
                throw HDF5Error(function: "open(\(path))", message: "written by an older iclsweep (format 1, no checksums); "
                                + "start a new results file")
            }
            throw HDF5Error(function: "open(\(path))", message: "not an iclsweep results file")
        }
        let R = try runs ?? file.dataset("runs/status").shape[0]
        let P = try points ?? file.dataset("metrics/sequences").shape[0]
        return try ResultsFile(file: file, runs: R, points: P)
    }

    /// Opens a results file to read while a sweep may be writing it.
    public static func openForReading(_ path: String) throws -> ResultsFile {
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        return try open(path: path, writable: false, comm: nil)
    }

    public var path: String { file.path }
    public func flush() throws { try file.flush() }

    /// Flushes and closes: every rank of a parallel file must call this, at
    /// the same point.
    public func close() throws {
        try file.flush()
        for d in datasets.values { try d.close() }
        datasets.removeAll()
        try file.close()
    }

    // MARK: - Writing one run's rows (independent)

    /// Marks `run` running on `host`/`rank`, writing its grid point again
    /// (a run re-done because its rows were damaged gets them back whole).
    public func markRunning(_ run: GridPoint, host: String, rank: Int32) throws {
        try timed {
            let r = run.id
            try dataset("runs/name").writeStrings([run.name], start: r)
            try dataset("runs/variant").writeStrings([run.config.variant.rawValue], start: r)
            try dataset("runs/classes").writeBlock([Int64(run.config.classes)], start: [r], count: [1])
            try dataset("runs/exemplars").writeBlock([Int64(run.config.exemplars)], start: [r], count: [1])
            try dataset("runs/seed").writeBlock([Int64(run.config.seed)], start: [r], count: [1])
            for (path, value) in run.fields {
                if value.isNumber { try dataset("runs/axes/\(path)").writeBlock([value.double], start: [r], count: [1]) }
                else { try dataset("runs/axes/\(path)").writeStrings([value.text], start: r) }
            }
            try dataset("runs/host").writeStrings([host], start: r)
            try dataset("runs/rank").writeBlock([rank], start: [r], count: [1])
            try dataset("runs/message").writeStrings([""], start: r)
            try dataset("runs/checksum").writeBlock([UInt64(0)], start: [r], count: [1])
            try setStatus(r, .running)
        }
    }

    /// Marks `run` done (or diverged, with `message`), with the checksum of
    /// the rows it wrote (`RunRows`).
    public func markDone(_ run: GridPoint, points: [Int], history: History, as status: RunStatus = .done,
                         message: String? = nil) throws {
        try timed {
            let rows = RunRows(run: run, points: points, history: history, mechanism: mechanism?.shape(of: run.id))
            try dataset("runs/checksum").writeBlock([rows.checksum], start: [run.id], count: [1])
            try setStatus(run.id, status, message: message)
        }
    }

    public func setStatus(_ run: Int, _ status: RunStatus, message: String? = nil) throws {
        try timed {
            if let message { try dataset("runs/message").writeStrings([message], start: run) }
            try dataset("runs/status").writeBlock([status.rawValue], start: [run], count: [1])
        }
    }

    public func writeTiming(_ run: Int, wallSeconds: Double, sequencesPerSecond: Double) throws {
        try timed {
            try dataset("runs/wall_seconds").writeBlock([wallSeconds], start: [run], count: [1])
            try dataset("runs/seq_per_sec").writeBlock([sequencesPerSecond], start: [run], count: [1])
        }
    }

    /// Writes evaluation point `point` of run `run`, and its progress.
    public func writeEval(_ run: Int, point: Int, _ r: EvalRecord) throws {
        try timed {
            let E = Evaluator.allCases.count
            try dataset("metrics/train_loss").writeBlock([r.trainLoss], start: [run, point], count: [1, 1])
            try dataset("metrics/accuracy").writeBlock(r.accuracy, start: [run, point, 0], count: [1, 1, E])
            try dataset("metrics/in_context_accuracy").writeBlock(r.inContextAccuracy, start: [run, point, 0], count: [1, 1, E])
            try dataset("metrics/loss").writeBlock(r.loss, start: [run, point, 0], count: [1, 1, E])
            if let layout = mechanism, let m = r.mechanism, m == layout.shape(of: run) {
                let row = Int(layout.row[run])
                try dataset(MechanismLayout.path(m, "attention")).writeBlock(r.attention.map { Float($0) }, start: [row, point, 0, 0, 0, 0],
                                                                             count: [1, 1, Mechanism.sets.count, m.layers, m.heads, m.tokens])
                try dataset(MechanismLayout.path(m, "induction")).writeBlock(r.induction.map { Float($0) }, start: [row, point, 0, 0],
                                                                             count: [1, 1, m.layers, m.heads])
            }
            try dataset("runs/sequences_done").writeBlock([Int64(r.sequences)], start: [run], count: [1])
        }
    }

    // MARK: - Reading

    public func spec() throws -> String { try file.attribute("spec") }
    public func name() throws -> String { try file.attribute("name") }

    /// Every run's status. A value this program does not know is an error,
    /// not a guess: the file may come from a newer iclsweep, or be damaged.
    public func statuses() throws -> [RunStatus] {
        let raw: [Int32] = try dataset("runs/status").read()
        return try raw.enumerated().map { r, value in
            guard let status = RunStatus(rawValue: value) else {
                throw HDF5Error(function: "runs/status", message: "run \(r) of \(path) has status \(value), which this "
                                + "iclsweep does not know (known: \(RunStatus.allCases.map { "\($0.rawValue) \($0)" }.joined(separator: ", "))); "
                                + "is the file from a newer version, or damaged? `iclsweep verify` checks it")
            }
            return status
        }
    }

    /// Everything about every run, for status, summaries and plots.
    public func table() throws -> ResultsTable {
        func ints(_ n: String) throws -> [Int] { (try dataset(n).read() as [Int64]).map(Int.init) }
        let R = runCount, P = pointCount, E = Evaluator.allCases.count
        let acc: [Double] = try dataset("metrics/accuracy").read()
        let ic: [Double] = try dataset("metrics/in_context_accuracy").read()
        let loss: [Double] = try dataset("metrics/loss").read()
        let trainLoss: [Double] = try dataset("metrics/train_loss").read()
        let points = try ints("metrics/sequences")
        // shared by every run, so in no run's checksum: evaluation points only ever increase
        if zip(points, points.dropFirst()).contains(where: { $0 >= $1 }) || points.contains(where: { $0 < 0 }) {
            throw HDF5Error(function: "metrics/sequences", message: "the evaluation points of \(path) are damaged "
                            + "(not increasing); the file's rows cannot be placed")
        }
        let rank: [Int32] = try dataset("runs/rank").read()
        // each run's length (files before it was stored: every run ran to the last point)
        let totals = file.exists("runs/sequences") ? try ints("runs/sequences") : [Int](repeating: points.last ?? 0, count: R)
        let axisNames = (file.hasAttribute("axes") ? try file.attribute("axes") : "").split(separator: ",").map(String.init)
        let axisValues = try axisNames.map { path -> [String] in
            let d = try dataset("runs/axes/\(path)")
            if try d.holdsStrings { return try d.readStrings() }
            return (try d.read() as [Double]).map { FieldValue.double($0).description }
        }
        var histories = (0..<R).map { r in
            History(sequences: points.map(Int64.init), trainLoss: Array(trainLoss[r * P ..< (r + 1) * P]),
                    accuracy: Array(acc[r * P * E ..< (r + 1) * P * E]),
                    inContextAccuracy: Array(ic[r * P * E ..< (r + 1) * P * E]),
                    loss: Array(loss[r * P * E ..< (r + 1) * P * E]))
        }
        if let layout = mechanism {  // each run in its own model's shape
            for (g, m) in layout.shapes.enumerated() {
                let attention: [Float] = try dataset(MechanismLayout.path(m, "attention")).read()
                let induction: [Float] = try dataset(MechanismLayout.path(m, "induction")).read()
                let A = m.attentionCount, I = m.inductionCount
                for r in 0..<R where layout.group[r] == Int32(g) {
                    let row = Int(layout.row[r])
                    for p in 0..<P {
                        let k = row * P + p
                        histories[r].records[p].mechanism = m
                        histories[r].records[p].attention = attention[k * A ..< (k + 1) * A].map(Double.init)
                        histories[r].records[p].induction = induction[k * I ..< (k + 1) * I].map(Double.init)
                    }
                }
            }
        }
        return ResultsTable(
            name: try name(), names: try dataset("runs/name").readStrings(), classes: try ints("runs/classes"),
            exemplars: try ints("runs/exemplars"),
            variants: try dataset("runs/variant").readStrings(), seeds: try ints("runs/seed"),
            statuses: try statuses(), messages: try dataset("runs/message").readStrings(),
            hosts: try dataset("runs/host").readStrings(), ranks: rank.map(Int.init),
            sequencesDone: try ints("runs/sequences_done"), wallSeconds: try dataset("runs/wall_seconds").read(),
            sequencesPerSecond: try dataset("runs/seq_per_sec").read(), checksums: try dataset("runs/checksum").read(),
            points: points, histories: histories, axes: axisNames, axisValues: axisValues, sequencesTotal: totals)
    }
}

/// A results file read into memory.
public struct ResultsTable {
    public var name: String
    public var names: [String]
    public var classes: [Int]
    public var exemplars: [Int]
    public var variants: [String]
    public var seeds: [Int]
    public var statuses: [RunStatus]
    public var messages: [String]
    public var hosts: [String]
    public var ranks: [Int]
    public var sequencesDone: [Int]
    public var wallSeconds: [Double]
    public var sequencesPerSecond: [Double]
    /// `RunRows` checksum of each done run (0 before).
    public var checksums: [UInt64]
    /// Evaluation points (sequence counts) shared by every run.
    public var points: [Int]
    public var histories: [History]
    /// Swept fields besides classes, exemplars, variants and seeds, and
    /// each one's value per run (canonical text).
    public var axes: [String] = []
    public var axisValues: [[String]] = []
    /// Each run's training length.
    public var sequencesTotal: [Int] = []
    /// Done runs whose rows failed their checksum (`checkedTable`): left out.
    public var damaged: Set<Int> = []
    public var count: Int { names.count }
}
