import Foundation
import ICLData

/// The results file's layout, named once: every dataset's path, element type
/// and shape, read by `ResultsFile` (create, write, read, verify) and the tests.
///
/// R runs; each run `r` has its own evaluation points (0, every interval, its
/// end), stored as rows `first_point[r] ..< first_point[r] + points[r]` of one
/// flat points table of N rows (N = the sum of every run's points), so the
/// file grows with what its runs write, not with runs x the longest run.
/// E = 6 evaluators (root attribute `evaluators`).
///
///     /runs/{name, variant, message, host}        (R) fixed-length strings
///     /runs/{classes, exemplars, seed}            (R) int64
///     /runs/{sequences, sequences_done}           (R) int64: length, progress
///     /runs/{first_point, points}                 (R) int64: the run's rows of the points table
///     /runs/{status, rank}                        (R) int32
///     /runs/{wall_seconds, seq_per_sec}           (R) float64
///     /runs/checksum                              (R) uint64, 0 until the run is final
///     /runs/axes/<field path>                     (R) float64 (numbers) or strings: one per swept
///                                                 field besides classes, exemplars, variants, seeds
///     /metrics/run                                (N) int64: the row's run
///     /metrics/sequences                          (N) int64: the row's evaluation point
///     /metrics/train_loss                         (N) float64, NaN until written
///     /metrics/{accuracy, in_context_accuracy, loss}    (N, E) float64
///     /metrics/mechanism/...                      where the query attends and the induction
///                                                 strength, per model shape (`MechanismLayout`)
///
/// Root attributes: format, name, spec (the YAML text), spec_hash,
/// evaluators, statuses, axes (the swept fields' paths, comma-separated;
/// absent in files without any), mechanism_groups.
enum ResultsSchema {
    static let format = "iclsweep-results-4"

    /// Older formats this version refuses, with the reason.
    static let older: [String: String] = [
        "iclsweep-results-3": "format 3: every run padded to the longest run's evaluation points",
        "iclsweep-results-2": "format 2: five evaluators, whose `train` was the run's own variant",
        "iclsweep-results-1": "format 1, no checksums",
    ]

    /// One dataset of R values, one per run.
    struct RunColumn {
        enum Kind { case int64(fill: Int64), int32(fill: Int32), float64(fill: Double), uint64, string(length: Int) }
        let path: String
        let kind: Kind
    }

    static let name = "runs/name", variant = "runs/variant", message = "runs/message", host = "runs/host"
    static let classes = "runs/classes", exemplars = "runs/exemplars", seed = "runs/seed"
    static let sequences = "runs/sequences", sequencesDone = "runs/sequences_done"
    static let firstPoint = "runs/first_point", pointCount = "runs/points"
    static let status = "runs/status", rank = "runs/rank"
    static let wallSeconds = "runs/wall_seconds", sequencesPerSecond = "runs/seq_per_sec"
    static let checksum = "runs/checksum"
    static func axis(_ field: String) -> String { "runs/axes/\(field)" }

    static let rowRun = "metrics/run", rowSequences = "metrics/sequences", trainLoss = "metrics/train_loss"
    static let accuracy = "metrics/accuracy", inContextAccuracy = "metrics/in_context_accuracy", loss = "metrics/loss"
    /// The (N, E) tables, in the order a record's values are stored.
    static let evaluatorTables = [accuracy, inContextAccuracy, loss]

    /// Room for every run name: 64 characters, and 32 more per swept field.
    static func nameLength(_ runs: RunList) -> Int { 64 + 32 * runs.grid.fieldAxes.count }

    /// Every per-run dataset but the swept fields', in creation order.
    static func runColumns(_ runs: RunList) -> [RunColumn] {
        [RunColumn(path: name, kind: .string(length: nameLength(runs))), RunColumn(path: variant, kind: .string(length: 16)),
         RunColumn(path: message, kind: .string(length: 256)), RunColumn(path: host, kind: .string(length: 64)),
         RunColumn(path: classes, kind: .int64(fill: 0)), RunColumn(path: exemplars, kind: .int64(fill: 0)),
         RunColumn(path: seed, kind: .int64(fill: 0)), RunColumn(path: sequencesDone, kind: .int64(fill: 0)),
         RunColumn(path: sequences, kind: .int64(fill: 0)), RunColumn(path: firstPoint, kind: .int64(fill: 0)),
         RunColumn(path: pointCount, kind: .int64(fill: 0)),
         RunColumn(path: status, kind: .int32(fill: RunStatus.pending.rawValue)), RunColumn(path: rank, kind: .int32(fill: -1)),
         RunColumn(path: wallSeconds, kind: .float64(fill: .nan)), RunColumn(path: sequencesPerSecond, kind: .float64(fill: .nan)),
         RunColumn(path: checksum, kind: .uint64)]
    }

    /// Bytes per run of the per-run datasets, and per row of the points table.
    static func runBytes(_ runs: RunList) -> Int {
        runColumns(runs).reduce(32 * runs.columns.count) { sum, c in
            switch c.kind {
            case .int64, .float64, .uint64: return sum + 8
            case .int32: return sum + 4
            case .string(let length): return sum + length
            }
        }
    }
    static let rowBytes = 8 * (3 + 3 * Evaluator.allCases.count)
}
