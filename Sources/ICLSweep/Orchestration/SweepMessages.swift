import Foundation
import ICLSupport

/// Message tags between the coordinator (rank 0) and the workers. Every
/// receive names the tag it expects.
enum SweepTag {
    /// worker -> coordinator: "ready" (or "leaving"), carrying the report of the run just ended
    static let request = Tag(11)
    /// coordinator -> worker: the next run, or stop
    static let assign = Tag(12)
    /// worker -> coordinator: sequences done in the current run
    static let progress = Tag(13)
    /// coordinator -> worker: stop the current run at the next step and checkpoint
    static let stopNow = Tag(14)
    /// worker -> coordinator: this rank hit an error that ends the sweep
    static let failure = Tag(15)
    /// worker -> coordinator: a run kept a checkpoint other runs start from
    static let kept = Tag(16)
}

struct WorkRequest: Codable {
    var report: RunReport?
    /// The worker was signalled on its own: it takes no more runs, and the
    /// run it stopped goes back to the queue for another worker.
    var leaving = false
}
struct Assignment: Codable {
    var run: Int?
    /// A run on several ranks: its gang's world ranks, leader first, and the
    /// tag that tells this gang's communicator from any other's.
    var gang: [Int32]? = nil
    var gangTag: Int32? = nil
}
struct ProgressNote: Codable { var run: Int; var sequences: Int }
/// Run `run` wrote its kept checkpoint at `sequences`: the runs waiting on it may start.
struct KeptNote: Codable { var run: Int; var sequences: Int }
/// The one-line message of a `SweepFailure`, for rank 0 to record.
struct FailureNote: Codable { var rank: Int32; var line: String }

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
