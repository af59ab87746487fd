import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// The rows of one run that its checksum covers: the grid point (name,
/// variant, classes, exemplars, seed), the progress, its evaluation points
/// and every metric there (train loss, accuracy, in-context accuracy and
/// loss; NaN where nothing was written). Timing, host and rank are not
/// covered: they describe where a run ran, not what it computed.
struct RunRows {
    var name: String
    var variant: String
    /// classes, exemplars, seed, sequences done
    var numbers: [Int64]
    var points: [Int64]                 // (P) the run's own
    package var trainLoss: [Double]     // (P)
    package var accuracy: [Double]      // (P, E)
    var inContext: [Double]     // (P, E)
    package var loss: [Double]          // (P, E)
    /// The mechanism measures as stored (float32); empty in files without them.
    var attention: [Double] = []        // (P, 2, L, H, T) of the run's model
    var induction: [Double] = []        // (P, L, H)

    /// The rows a run writes from its evaluation history, at its own evaluation points.
    package init(run: GridPoint, history: History, mechanism: MechanismShape?) {
        // `mechanism`: the run's shape in the file, nil when the file has no measures
        let E = Evaluator.allCases.count, points = run.config.evalPoints
        self.points = points.map(Int64.init)
        let nan = [Double](repeating: .nan, count: E)
        let byPoint = Dictionary(history.records.map { ($0.sequences, $0) }, uniquingKeysWith: { $1 })
        let records = points.map { byPoint[$0] }
        name = run.name
        variant = run.config.variant.rawValue
        numbers = [Int64(run.config.classes), Int64(run.config.exemplars), Int64(run.config.seed),
                   Int64(history.records.last?.sequences ?? 0)]
        trainLoss = records.map { $0?.trainLoss ?? .nan }
        accuracy = records.flatMap { $0?.accuracy ?? nan }
        inContext = records.flatMap { $0?.inContextAccuracy ?? nan }
        loss = records.flatMap { $0?.loss ?? nan }
        if let m = mechanism {
            attention = records.flatMap { r in
                r.flatMap { $0.mechanism == m ? MechanismShape.stored($0.attention) : nil } ?? [Double](repeating: .nan, count: m.attentionCount)
            }
            induction = records.flatMap { r in
                r.flatMap { $0.mechanism == m ? MechanismShape.stored($0.induction) : nil } ?? [Double](repeating: .nan, count: m.inductionCount)
            }
        }
    }

    /// The rows of run `r` as stored in a results file.
    package init(table t: ResultsTable, run r: Int) {
        let h = t.histories[r]
        name = t.names[r]
        variant = t.variants[r]
        numbers = [Int64(t.classes[r]), Int64(t.exemplars[r]), Int64(t.seeds[r]), Int64(t.sequencesDone[r])]
        points = h.records.map { Int64($0.sequences) }
        trainLoss = h.trainLoss
        accuracy = h.accuracy
        inContext = h.inContextAccuracy
        loss = h.loss
        attention = h.attention
        induction = h.induction
    }

    /// Never 0, which marks "no checksum yet".
    var checksum: UInt64 {
        var sum = Checksum()
        sum.add(name); sum.add(variant); sum.add(numbers); sum.add(points)
        sum.add(trainLoss); sum.add(accuracy); sum.add(inContext); sum.add(loss)
        if !attention.isEmpty { sum.add(attention); sum.add(induction) }  // files before the measures: as they were
        return sum.value == 0 ? 1 : sum.value
    }
}

/// A done run whose stored rows do not match their checksum.
public struct DamagedRun: CustomStringConvertible {
    public var run: Int
    public var name: String
    public var reason: String
    public var description: String { "run \(run) \(name): \(reason)" }

    /// Exit code of `run`, `status`, `summarize`, `plot` and `verify` when
    /// done runs are damaged (sysexits' EX_DATAERR).
    public static let exitCode: Int32 = 65

    /// The one warning line for damaged runs left out of tables and figures.
    public static func warning(_ damaged: [DamagedRun], results: String) -> String {
        let names = damaged.prefix(5).map { "run \($0.run) \($0.name)" }.joined(separator: ", ") + (damaged.count > 5 ? ", ..." : "")
        return "warning: \(damaged.count) done run\(damaged.count == 1 ? "" : "s") of \(results) left out of the summary and "
            + "figures, \(damaged.count == 1 ? "its" : "their") rows failing \(damaged.count == 1 ? "its" : "their") checksum (\(names)): "
            + "`iclsweep verify` names the damage, `iclsweep run SPEC --rerun-damaged` runs \(damaged.count == 1 ? "it" : "them") again"
    }
}

extension ResultsFile {
    /// Checks every done run's rows against the checksum written with them.
    /// - Returns: the damaged runs (empty when all is intact).
    /// - Throws: when the file cannot be read at all (its structure is damaged).
    public func verify() throws -> [DamagedRun] { ResultsFile.damagedRuns(in: try table()) }

    /// The table for summaries and figures: each done run's rows checked
    /// against their checksum, and a damaged run's rows left out (blanked,
    /// and the run listed in `damaged`), never averaged in.
    public func checkedTable() throws -> (table: ResultsTable, damaged: [DamagedRun]) {
        var t = try table()
        let damaged = ResultsFile.damagedRuns(in: t)
        for d in damaged {
            t.damaged.insert(d.run)
            t.histories[d.run] = History(records: t.histories[d.run].records.map { EvalRecord(blank: $0) })
        }
        return (t, damaged)
    }

    static func damagedRuns(in t: ResultsTable) -> [DamagedRun] {
        (0..<t.count).compactMap { r in
            let stored = t.checksums[r]
            // done runs always have a checksum; diverged ones since they were given one
            guard t.statuses[r] == .done || (t.statuses[r] == .diverged && stored != 0) else { return nil }
            if stored == 0 { return DamagedRun(run: r, name: t.names[r], reason: "marked done but has no checksum") }
            let computed = RunRows(table: t, run: r).checksum
            if computed != stored {
                return DamagedRun(run: r, name: t.names[r],
                                  reason: String(format: "rows do not match their checksum (stored %016llx, computed %016llx)", stored, computed))
            }
            return nil
        }
    }
}

extension EvalRecord {
    /// `record` with every measured value NaN: how a damaged run's rows are left out.
    init(blank record: EvalRecord) {
        self = record
        let nan = { (values: [Double]) in [Double](repeating: .nan, count: values.count) }
        trainLoss = .nan
        accuracy = nan(accuracy)
        inContextAccuracy = nan(inContextAccuracy)
        loss = nan(loss)
        attention = nan(attention)
        induction = nan(induction)
    }
}
