import ICLSupport
import ICLData
import ICLModel

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

    public func headline(_ e: Evaluator) -> Double {
        let i = Evaluator.allCases.firstIndex(of: e)!
        return e.headlineIsInContext ? inContextAccuracy[i] : accuracy[i]
    }
}

/// Every evaluation of a run so far.
public struct History: Equatable {
    public var records: [EvalRecord] = []
    public init(records: [EvalRecord] = []) { self.records = records }
}

extension History {
    /// Flattened `(points, evaluators)` arrays, the layout stored in HDF5.
    var sequences: [Int64] { records.map { Int64($0.sequences) } }
    package var trainLoss: [Double] { records.map(\.trainLoss) }
    package var accuracy: [Double] { records.flatMap(\.accuracy) }
    package var inContextAccuracy: [Double] { records.flatMap(\.inContextAccuracy) }
    package var loss: [Double] { records.flatMap(\.loss) }

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
    }

    package static func read(from file: H5File, group: String) throws -> History {
        let stored = try file.dataset("\(group)/accuracy").shape
        if stored.count == 2 && stored[1] != Evaluator.allCases.count {
            throw DataError("\(file.path): written by an older iclsweep with \(stored[1]) evaluators (this one has "
                            + "\(Evaluator.allCases.count): \(Evaluator.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return History(sequences: try file.read("\(group)/sequences"), trainLoss: try file.read("\(group)/train_loss"),
                accuracy: try file.read("\(group)/accuracy"),
                inContextAccuracy: try file.read("\(group)/in_context_accuracy"), loss: try file.read("\(group)/loss"))
    }
}

extension Format {
    /// One line with every evaluator's headline accuracy.
    public static func evaluation(_ r: EvalRecord) -> String {
        let parts = Evaluator.allCases.map { "\($0.rawValue) \(fixed(r.headline($0)))" }
        return "eval @ \(count(r.sequences)) seq: " + parts.joined(separator: "  ") + "  (train loss \(fixed(r.trainLoss)))"
    }
}
