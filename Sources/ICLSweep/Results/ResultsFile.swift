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

/// The sweep's one parallel HDF5 file, laid out as `ResultsSchema` says.
/// Every dataset of the whole sweep is created collectively up front, each
/// run given rows for its own evaluation points; afterwards each rank writes
/// only its own runs' rows, independently.
public final class ResultsFile {
    public static let format = ResultsSchema.format
    let file: H5File
    let runCount: Int
    /// Each run's first row in the points table, and its number of rows.
    let firstPoint: [Int]
    let pointCounts: [Int]
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

    private init(file: H5File) throws {
        self.file = file
        firstPoint = (try file.read(ResultsSchema.firstPoint) as [Int64]).map(Int.init)
        pointCounts = (try file.read(ResultsSchema.pointCount) as [Int64]).map(Int.init)
        runCount = firstPoint.count
        guard pointCounts.count == runCount else {
            throw HDF5Error(function: ResultsSchema.pointCount, message: "\(file.path) holds \(pointCounts.count) point counts "
                            + "for \(runCount) runs: the file is damaged")
        }
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
        let partial = spec.paths.partial
        let isRoot = comm.map { $0.rank == .coordinator } ?? true
        do {
            let runs = spec.runs, R = runs.count, E = Evaluator.allCases.count
            let counts = runs.pointCounts()
            let N = counts.reduce(0, +)
            let file = try H5File.create(partial, comm: comm)
            try file.setAttribute("format", format)
            try file.setAttribute("name", spec.name)
            try file.setAttribute("spec", spec.text)
            try file.setAttribute("spec_hash", spec.hash)
            try file.setAttribute("evaluators", Evaluator.allCases.map(\.rawValue).joined(separator: ","))
            try file.setAttribute("statuses", RunStatus.allCases.map(\.description).joined(separator: ","))
            let columns = runs.columns
            if !columns.isEmpty { try file.setAttribute("axes", columns.joined(separator: ",")) }
            var made: [String: H5Dataset] = [:]
            for c in ResultsSchema.runColumns(runs) {
                switch c.kind {
                case .int64(let fill): made[c.path] = try file.createDataset(c.path, of: Int64.self, shape: [R], fill: fill)
                case .int32(let fill): made[c.path] = try file.createDataset(c.path, of: Int32.self, shape: [R], fill: fill)
                case .float64(let fill): made[c.path] = try file.createDataset(c.path, of: Double.self, shape: [R], fill: fill)
                case .uint64: made[c.path] = try file.createDataset(c.path, of: UInt64.self, shape: [R])
                case .string(let length): made[c.path] = try file.createStringDataset(c.path, length: length, shape: [R])
                }
            }
            made[ResultsSchema.rowRun] = try file.createDataset(ResultsSchema.rowRun, of: Int64.self, shape: [N])
            made[ResultsSchema.rowSequences] = try file.createDataset(ResultsSchema.rowSequences, of: Int64.self, shape: [N])
            made[ResultsSchema.trainLoss] = try file.createDataset(ResultsSchema.trainLoss, of: Double.self, shape: [N], fill: .nan)
            for table in ResultsSchema.evaluatorTables {
                made[table] = try file.createDataset(table, of: Double.self, shape: [N, E], fill: .nan)
            }
            try MechanismLayout.of(spec, pointCounts: counts).create(in: file, isRoot: isRoot)
            let axes = try columns.map { column in
                runs.columnIsNumber(column)
                    ? try file.createDataset(ResultsSchema.axis(column), of: Double.self, shape: [R], fill: .nan)
                    : try file.createStringDataset(ResultsSchema.axis(column), length: column == "run" ? 64 : 32, shape: [R])
            }
            if isRoot {
                // the grid's from its axes' values, without making every run's config; then the named runs
                let grid = runs.grid, G = grid.count
                let values = (0..<G).map { grid.values(of: $0) }
                let at = { (name: String) in grid.axes.firstIndex { $0.name == name }! }
                let (c, e, v, s) = (at("classes"), at("exemplars"), at("variants"), at("seeds"))
                let named = runs.named.map(\.config)
                try made[ResultsSchema.name]!.writeStrings((0..<R).map { runs.name(of: $0) }, start: 0)
                try made[ResultsSchema.variant]!.writeStrings(values.map { $0[v].text } + named.map(\.variant.rawValue), start: 0)
                try made[ResultsSchema.classes]!.write(values.map { Int64($0[c].int) } + named.map { Int64($0.classes) })
                try made[ResultsSchema.exemplars]!.write(values.map { Int64($0[e].int) } + named.map { Int64($0.exemplars) })
                try made[ResultsSchema.seed]!.write(values.map { Int64($0[s].int) } + named.map { Int64($0.seed) })
                let length = grid.sweeps("training.sequences") || G == 0 ? nil : Int64(grid[0].config.sequences)
                try made[ResultsSchema.sequences]!.write((0..<G).map { length ?? Int64(grid[$0].config.sequences) }
                                                         + named.map { Int64($0.sequences) })
                var first = [Int64](), rowRun = [Int64](), rowSequences = [Int64]()
                first.reserveCapacity(R); rowRun.reserveCapacity(N); rowSequences.reserveCapacity(N)
                let sweepsLength = ["training.sequences", "training.eval_interval"].contains(where: grid.sweeps)
                let gridPoints = G > 0 && !sweepsLength ? grid[0].config.evalPoints.map(Int64.init) : nil
                for r in 0..<R {
                    first.append(Int64(rowRun.count))
                    rowRun += repeatElement(Int64(r), count: counts[r])
                    rowSequences += (r < G ? gridPoints : nil) ?? runs.config(of: r).evalPoints.map(Int64.init)
                }
                try made[ResultsSchema.firstPoint]!.write(first)
                try made[ResultsSchema.pointCount]!.write(counts.map(Int64.init))
                try made[ResultsSchema.rowRun]!.write(rowRun)
                try made[ResultsSchema.rowSequences]!.write(rowSequences)
                for (column, d) in zip(columns, axes) {
                    let values = (0..<R).map { runs.value(column, of: $0) }
                    if runs.columnIsNumber(column) { try d.write(values.map(\.double)) }
                    else { try d.writeStrings(values.map(\.text), start: 0) }
                }
            }
            for d in Array(made.values) + axes { try d.close() }
            try file.flush()
            try file.close()
        }
        if isRoot { try FileSystem.rename(partial, to: path) }
        try comm?.barrier()
        return try open(path: path, writable: true, comm: comm)
    }

    /// The size of the file `create` makes for `spec`: every dataset is
    /// allocated up front (parallel HDF5), each run with rows for its own
    /// evaluation points, so this is its size before any run.
    public static func expectedBytes(_ spec: SweepSpec) -> Int {
        let counts = spec.runs.pointCounts()
        let rows = counts.reduce(0, +)
        return spec.runs.count * ResultsSchema.runBytes(spec.runs) + rows * ResultsSchema.rowBytes
            + MechanismLayout.of(spec, pointCounts: counts).bytes
    }

    /// Opens an existing results file (collectively when `comm` is given).
    public static func open(path: String, writable: Bool, comm: MPIComm?) throws -> ResultsFile {
        let file = try H5File.open(path, writable: writable, comm: comm)
        let found = file.hasAttribute("format") ? try file.attribute("format") : nil
        guard found == format else {
            if let found, let why = ResultsSchema.older[found] {
                throw HDF5Error(function: "open(\(path))", message: "written by an older iclsweep (\(why)); read it with "
                                + "that version, or start a new results file")
            }
            throw HDF5Error(function: "open(\(path))", message: "not an iclsweep results file")
        }
        return try ResultsFile(file: file)
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
            try dataset(ResultsSchema.name).writeStrings([run.name], start: r)
            try dataset(ResultsSchema.variant).writeStrings([run.config.variant.rawValue], start: r)
            for (path, value) in [(ResultsSchema.classes, run.config.classes), (ResultsSchema.exemplars, run.config.exemplars),
                                  (ResultsSchema.seed, Int(run.config.seed))] {
                try dataset(path).writeBlock([Int64(value)], start: [r], count: [1])
            }
            for (path, value) in run.fields {
                if value.isNumber { try dataset(ResultsSchema.axis(path)).writeBlock([value.double], start: [r], count: [1]) }
                else { try dataset(ResultsSchema.axis(path)).writeStrings([value.text], start: r) }
            }
            try dataset(ResultsSchema.host).writeStrings([host], start: r)
            try dataset(ResultsSchema.rank).writeBlock([rank], start: [r], count: [1])
            try dataset(ResultsSchema.message).writeStrings([""], start: r)
            try dataset(ResultsSchema.checksum).writeBlock([UInt64(0)], start: [r], count: [1])
            try setStatus(r, .running)
        }
    }

    /// Marks `run` done (or diverged, with `message`), with the checksum of
    /// the rows it wrote (`RunRows`).
    public func markDone(_ run: GridPoint, history: History, as status: RunStatus = .done, message: String? = nil) throws {
        try timed {
            let rows = RunRows(run: run, history: history, mechanism: mechanism?.shape(of: run.id))
            try dataset(ResultsSchema.checksum).writeBlock([rows.checksum], start: [run.id], count: [1])
            try setStatus(run.id, status, message: message)
        }
    }

    public func setStatus(_ run: Int, _ status: RunStatus, message: String? = nil) throws {
        try timed {
            if let message { try dataset(ResultsSchema.message).writeStrings([message], start: run) }
            try dataset(ResultsSchema.status).writeBlock([status.rawValue], start: [run], count: [1])
        }
    }

    public func writeTiming(_ run: Int, wallSeconds: Double, sequencesPerSecond: Double) throws {
        try timed {
            try dataset(ResultsSchema.wallSeconds).writeBlock([wallSeconds], start: [run], count: [1])
            try dataset(ResultsSchema.sequencesPerSecond).writeBlock([sequencesPerSecond], start: [run], count: [1])
        }
    }

    /// Writes evaluation point `point` (an index into the run's own
    /// `evalPoints`) of run `run`, and its progress.
    public func writeEval(_ run: Int, point: Int, _ r: EvalRecord) throws {
        precondition(point >= 0 && point < pointCounts[run], "run \(run) has \(pointCounts[run]) evaluation points, not \(point + 1)")
        try timed {
            let E = Evaluator.allCases.count, row = firstPoint[run] + point
            try dataset(ResultsSchema.trainLoss).writeBlock([r.trainLoss], start: [row], count: [1])
            for (table, values) in zip(ResultsSchema.evaluatorTables, [r.accuracy, r.inContextAccuracy, r.loss]) {
                try dataset(table).writeBlock(values, start: [row, 0], count: [1, E])
            }
            if let layout = mechanism, let m = r.mechanism, m == layout.shape(of: run) {
                let row = Int(layout.row[run]) + point
                try dataset(MechanismLayout.path(m, "attention")).writeBlock(r.attention.map { Float($0) }, start: [row, 0, 0, 0, 0],
                                                                             count: [1, Mechanism.sets.count, m.layers, m.heads, m.tokens])
                try dataset(MechanismLayout.path(m, "induction")).writeBlock(r.induction.map { Float($0) }, start: [row, 0, 0],
                                                                             count: [1, m.layers, m.heads])
            }
            try dataset(ResultsSchema.sequencesDone).writeBlock([Int64(r.sequences)], start: [run], count: [1])
        }
    }

    // MARK: - Reading

    public func spec() throws -> String { try file.attribute("spec") }
    public func name() throws -> String { try file.attribute("name") }

    /// Every run's status. A value this program does not know is an error,
    /// not a guess: the file may come from a newer iclsweep, or be damaged.
    public func statuses() throws -> [RunStatus] {
        let raw: [Int32] = try dataset(ResultsSchema.status).read()
        return try raw.enumerated().map { r, value in
            guard let status = RunStatus(rawValue: value) else {
                throw HDF5Error(function: ResultsSchema.status, message: "run \(r) of \(path) has status \(value), which this "
                                + "iclsweep does not know (known: \(RunStatus.allCases.map { "\($0.rawValue) \($0)" }.joined(separator: ", "))); "
                                + "is the file from a newer version, or damaged? `iclsweep verify` checks it")
            }
            return status
        }
    }

    /// Everything about every run, for status, summaries and plots.
    public func table() throws -> ResultsTable {
        func ints(_ n: String) throws -> [Int] { (try dataset(n).read() as [Int64]).map(Int.init) }
        let R = runCount, E = Evaluator.allCases.count
        let acc: [Double] = try dataset(ResultsSchema.accuracy).read()
        let ic: [Double] = try dataset(ResultsSchema.inContextAccuracy).read()
        let loss: [Double] = try dataset(ResultsSchema.loss).read()
        let trainLoss: [Double] = try dataset(ResultsSchema.trainLoss).read()
        let rowSequences = try ints(ResultsSchema.rowSequences)
        let N = rowSequences.count
        for r in 0..<R where firstPoint[r] < 0 || pointCounts[r] < 0 || firstPoint[r] + pointCounts[r] > N {
            throw HDF5Error(function: ResultsSchema.firstPoint, message: "run \(r) of \(path) claims rows \(firstPoint[r]) to "
                            + "\(firstPoint[r] + pointCounts[r]) of a points table of \(N): the file is damaged")
        }
        for r in 0..<R {
            let points = rowSequences[firstPoint[r] ..< firstPoint[r] + pointCounts[r]]
            if zip(points, points.dropFirst()).contains(where: { $0 >= $1 }) || points.contains(where: { $0 < 0 }) {
                throw HDF5Error(function: ResultsSchema.rowSequences, message: "the evaluation points of run \(r) of \(path) "
                                + "are damaged (not increasing); its rows cannot be placed")
            }
        }
        let rank: [Int32] = try dataset(ResultsSchema.rank).read()
        let axisNames = (file.hasAttribute("axes") ? try file.attribute("axes") : "").split(separator: ",").map(String.init)
        let axisValues = try axisNames.map { path -> [String] in
            let d = try dataset(ResultsSchema.axis(path))
            if try d.holdsStrings { return try d.readStrings() }
            return (try d.read() as [Double]).map { FieldValue.double($0).description }
        }
        var histories = (0..<R).map { r in
            let rows = firstPoint[r] ..< firstPoint[r] + pointCounts[r]
            return History(sequences: rows.map { Int64(rowSequences[$0]) }, trainLoss: Array(trainLoss[rows]),
                           accuracy: Array(acc[rows.lowerBound * E ..< rows.upperBound * E]),
                           inContextAccuracy: Array(ic[rows.lowerBound * E ..< rows.upperBound * E]),
                           loss: Array(loss[rows.lowerBound * E ..< rows.upperBound * E]))
        }
        if let layout = mechanism {  // each run in its own model's shape
            for (g, m) in layout.shapes.enumerated() {
                let attention: [Float] = try dataset(MechanismLayout.path(m, "attention")).read()
                let induction: [Float] = try dataset(MechanismLayout.path(m, "induction")).read()
                let A = m.attentionCount, I = m.inductionCount
                for r in 0..<R where layout.group[r] == Int32(g) {
                    let first = Int(layout.row[r])
                    guard first >= 0, (first + pointCounts[r]) * A <= attention.count, (first + pointCounts[r]) * I <= induction.count else {
                        throw HDF5Error(function: "runs/mechanism_row", message: "run \(r) of \(path) claims mechanism rows "
                                        + "outside its group's datasets: the file is damaged")
                    }
                    for p in 0..<pointCounts[r] {
                        let k = first + p
                        histories[r].records[p].mechanism = m
                        histories[r].records[p].attention = attention[k * A ..< (k + 1) * A].map(Double.init)
                        histories[r].records[p].induction = induction[k * I ..< (k + 1) * I].map(Double.init)
                    }
                }
            }
        }
        return ResultsTable(
            name: try name(), names: try dataset(ResultsSchema.name).readStrings(), classes: try ints(ResultsSchema.classes),
            exemplars: try ints(ResultsSchema.exemplars),
            variants: try dataset(ResultsSchema.variant).readStrings(), seeds: try ints(ResultsSchema.seed),
            statuses: try statuses(), messages: try dataset(ResultsSchema.message).readStrings(),
            hosts: try dataset(ResultsSchema.host).readStrings(), ranks: rank.map(Int.init),
            sequencesDone: try ints(ResultsSchema.sequencesDone), wallSeconds: try dataset(ResultsSchema.wallSeconds).read(),
            sequencesPerSecond: try dataset(ResultsSchema.sequencesPerSecond).read(),
            checksums: try dataset(ResultsSchema.checksum).read(),
            points: Array(Set(rowSequences)).sorted(), histories: histories, axes: axisNames, axisValues: axisValues,
            sequencesTotal: try ints(ResultsSchema.sequences))
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
    /// Every evaluation point (sequence count) of any run, increasing; each
    /// run's own are its history's records.
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
