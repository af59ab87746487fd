import ICLSupport
import ICLData

/// The measurements taken at one evaluation point.
public struct EvalRecord: Equatable {
    /// Training sequences seen when measured.
    public var sequences: Int
    /// Mean training loss over the steps since the previous point (NaN at 0).
    public var trainLoss: Double
    /// Per evaluator, in `Evaluator.allCases` order; NaN where not applicable.
    public var accuracy: [Double]
    /// Argmax restricted to the labels present in context.
    public var inContextAccuracy: [Double]
    /// Mean cross-entropy at the query.
    public var loss: [Double]
    /// Mechanism measures (empty in records that predate them):
    /// attention from the query position to each position, per evaluator
    /// set in `Mechanism.sets` order, layer and head, averaged over the set
    /// (`[2, layers, heads, tokens]`), and the induction strength per layer
    /// and head on `flip` data (`[layers, heads]`): mean attention to the
    /// label tokens after exemplars of the query's class minus the mean
    /// attention to the other label tokens. NaN where the set does not apply.
    public var attention: [Double] = []
    public var induction: [Double] = []
    /// The dimensions of `attention` and `induction`; nil when empty.
    public var mechanism: MechanismShape?

    public func headline(_ e: Evaluator) -> Double {
        let i = Evaluator.allCases.firstIndex(of: e)!
        return e.headlineIsInContext ? inContextAccuracy[i] : accuracy[i]
    }
}

/// The dimensions of the mechanism measures of a record.
public struct MechanismShape: Equatable, Codable {
    public var layers: Int
    public var heads: Int
    public var tokens: Int
    public init(layers: Int, heads: Int, tokens: Int) { self.layers = layers; self.heads = heads; self.tokens = tokens }
    public var attentionCount: Int { Mechanism.sets.count * layers * heads * tokens }
    public var inductionCount: Int { layers * heads }
}

/// The paper's mechanism measures (Fig. 2a, 3a).
extension EvalRecord {
    /// A gang's record from its members' shares: member `k mod size`
    /// measured the k-th of `evaluators`. Each value has one owner and the
    /// others add 0, so every member ends with the owners' exact values.
    mutating func combine(over gang: MPIGang, evaluators: [Evaluator]) throws {
        let n = mechanism.map { $0.attentionCount / Mechanism.sets.count } ?? 0
        // the places of one evaluator's values: (array, start, count)
        func places(_ e: Evaluator) -> [(WritableKeyPath<EvalRecord, [Double]>, Int, Int)] {
            let i = Evaluator.allCases.firstIndex(of: e)!
            var out: [(WritableKeyPath<EvalRecord, [Double]>, Int, Int)] = [(\.accuracy, i, 1), (\.inContextAccuracy, i, 1), (\.loss, i, 1)]
            if let s = Mechanism.sets.firstIndex(of: e), n > 0 { out.append((\.attention, s * n, n)) }
            if e == .flip, !induction.isEmpty { out.append((\.induction, 0, induction.count)) }
            return out
        }
        var values: [Double] = []
        for (k, e) in evaluators.enumerated() {
            let mine = k % gang.size == gang.index
            for (path, start, count) in places(e) { values += mine ? Array(self[keyPath: path][start ..< start + count]) : Array(repeating: 0, count: count) }
        }
        try gang.combine(&values)
        var at = 0
        for e in evaluators {
            for (path, start, count) in places(e) {
                self[keyPath: path].replaceSubrange(start ..< start + count, with: values[at ..< at + count])
                at += count
            }
        }
    }
}

public enum Mechanism {
    /// Evaluator sets whose attention patterns are stored.
    public static let sets: [Evaluator] = [.flip, .ciwl]
}

/// Every evaluation of a run so far.
public struct History: Equatable {
    public var records: [EvalRecord] = []
    public init(records: [EvalRecord] = []) { self.records = records }
}

extension History {
    /// Flattened `(points, evaluators)` arrays, the layout stored in HDF5.
    var sequences: [Int64] { records.map { Int64($0.sequences) } }

    /// The record at `sequences`, if the run evaluates there (records increase).
    public func record(at sequences: Int) -> EvalRecord? {
        var low = 0, high = records.count
        while low < high {
            let mid = (low + high) / 2
            if records[mid].sequences < sequences { low = mid + 1 } else { high = mid }
        }
        return low < records.count && records[low].sequences == sequences ? records[low] : nil
    }
    package var trainLoss: [Double] { records.map(\.trainLoss) }
    package var accuracy: [Double] { records.flatMap(\.accuracy) }
    package var inContextAccuracy: [Double] { records.flatMap(\.inContextAccuracy) }
    package var loss: [Double] { records.flatMap(\.loss) }
    package var attention: [Double] { records.flatMap(\.attention) }
    package var induction: [Double] { records.flatMap(\.induction) }
    /// The mechanism shape every record shares, or nil (none measured).
    package var mechanism: MechanismShape? { records.first?.mechanism }

    package init(sequences: [Int64], trainLoss: [Double], accuracy: [Double], inContextAccuracy: [Double], loss: [Double]) {
        let E = Evaluator.allCases.count
        records = sequences.indices.map { p in
            EvalRecord(sequences: Int(sequences[p]), trainLoss: trainLoss[p],
                       accuracy: Array(accuracy[p * E ..< (p + 1) * E]),
                       inContextAccuracy: Array(inContextAccuracy[p * E ..< (p + 1) * E]),
                       loss: Array(loss[p * E ..< (p + 1) * E]))
        }
    }

    package func write(to file: H5File, group: String) throws {
        let P = records.count, E = Evaluator.allCases.count
        try file.write("\(group)/sequences", sequences, shape: [P])
        try file.write("\(group)/train_loss", trainLoss, shape: [P])
        try file.write("\(group)/accuracy", accuracy, shape: [P, E])
        try file.write("\(group)/in_context_accuracy", inContextAccuracy, shape: [P, E])
        try file.write("\(group)/loss", loss, shape: [P, E])
        if let m = mechanism, P > 0 {
            try file.write("\(group)/attention", attention, shape: [P, Mechanism.sets.count, m.layers, m.heads, m.tokens])
            try file.write("\(group)/induction", induction, shape: [P, m.layers, m.heads])
        }
    }

    package static func read(from file: H5File, group: String) throws -> History {
        let stored = try file.dataset("\(group)/accuracy").shape
        if stored.count == 2 && stored[1] != Evaluator.allCases.count {
            throw DataError("\(file.path): written by an older iclsweep with \(stored[1]) evaluators (this one has "
                            + "\(Evaluator.allCases.count): \(Evaluator.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var history = History(sequences: try file.read("\(group)/sequences"), trainLoss: try file.read("\(group)/train_loss"),
                              accuracy: try file.read("\(group)/accuracy"),
                              inContextAccuracy: try file.read("\(group)/in_context_accuracy"), loss: try file.read("\(group)/loss"))
        if file.exists("\(group)/attention") {
            let d = try file.dataset("\(group)/attention")  // absent in checkpoints that predate the measures
            let shape = try d.shape
            let m = MechanismShape(layers: shape[2], heads: shape[3], tokens: shape[4])
            let attention: [Double] = try d.read(), induction: [Double] = try file.read("\(group)/induction")
            guard attention.count == history.records.count * m.attentionCount, induction.count == history.records.count * m.inductionCount else {
                throw DataError("\(file.path): \(group)/attention or induction has the wrong size")
            }
            for p in history.records.indices {
                history.records[p].mechanism = m
                history.records[p].attention = Array(attention[p * m.attentionCount ..< (p + 1) * m.attentionCount])
                history.records[p].induction = Array(induction[p * m.inductionCount ..< (p + 1) * m.inductionCount])
            }
        }
        return history
    }
}

extension Format {
    /// One line with every evaluator's headline accuracy.
    public static func evaluation(_ r: EvalRecord) -> String {
        let parts = Evaluator.allCases.map { "\($0.rawValue) \(fixed(r.headline($0)))" }
        return "eval @ \(count(r.sequences)) seq: " + parts.joined(separator: "  ") + "  (train loss \(fixed(r.trainLoss)))"
    }
}
