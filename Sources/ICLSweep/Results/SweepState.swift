import Foundation
import ICLSupport

/// How the last sweep on a results file ended, written by rank 0 into
/// `RESULTS.outcome` as the sweep ends. mpirun cannot carry exit code 75
/// through SIGTERM or SIGINT, so this file, read by `iclsweep status`, is
/// what tells "stopped with work left" from "error".
///
/// A sweep writes `running` when it starts, with room for any ending
/// (`reservedBytes`); at its end it replaces the file atomically, or, when
/// the disk is too full for that, overwrites it in place. A `running` file
/// that no live sweep holds is a sweep that could record nothing: `status`
/// reports it as an error.
public struct SweepOutcome: Codable, Equatable {
    public enum Ending: String, Codable { case running, complete, stopped, error }
    public var ending: Ending
    public var message: String
    public var ended: String
    public var host: String
    public var pid: Int32
    /// The token of the claim of the sweep that wrote it (absent before it was recorded).
    public var claim: String?

    /// Bytes the file takes from the start, so that an ending fits in place.
    static let reservedBytes = 4096

    public init(_ ending: Ending, message: String, claim: String? = nil) {
        self.ending = ending
        self.message = String(message.prefix(3000))
        ended = timestamp(Date())
        host = hostName
        pid = getpid()
        self.claim = claim
    }

    public static func path(for results: String) -> String { ResultsPaths(results).outcome }

    /// The JSON, padded with spaces to `reservedBytes`.
    var bytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = Array((try? encoder.encode(self)) ?? Data("{}".utf8))
        return json + [UInt8](repeating: 0x20, count: max(0, Self.reservedBytes - 1 - json.count)) + [0x0A]
    }

    /// Records this ending, except that an error recorded by any rank of
    /// the same sweep (same `claim`) stands: when a worker fails and aborts
    /// the job, mpirun's SIGTERM reaches rank 0 afterwards, and rank 0's
    /// "stopped" (or a "complete" from a rank 0 that had already passed the
    /// last collective call) must not hide the worker's error.
    public func write(besides results: String) throws {
        let path = Self.path(for: results)
        if ending != .error, ending != .running, let claim,
           let recorded = Self.read(besides: results), recorded.ending == .error, recorded.claim == claim {
            return
        }
        do { try FileSystem.writeAtomically(bytes, to: path) } catch {
            // A full disk: the start's reserved bytes still take the ending.
            if ending != .running, (try? FileSystem.overwrite(path, bytes)) != nil { return }
            throw ClaimFileError("cannot write \(path): \(describe(error))")
        }
    }

    public static func read(besides results: String) -> SweepOutcome? {
        guard let data = FileManager.default.contents(atPath: path(for: results)) else { return nil }
        return try? JSONDecoder().decode(SweepOutcome.self, from: data)
    }
}

/// Where a sweep stands, from its results file, its claim and its last
/// outcome: what `iclsweep status` prints and exits with.
public enum SweepState: Equatable {
    /// Every run is final (done, failed, diverged or blocked) and no sweep runs.
    case complete
    /// A live sweep holds the file.
    case running(ClaimHolder)
    /// Work remains and a plain rerun continues it.
    case resumable(why: String)
    /// The last sweep ended with an error: fix it, then rerun.
    case failed(message: String)

    /// `iclsweep status` when there is no results file yet and no error is
    /// recorded beside it (`EX_NOINPUT`): the batch script requeues a job it
    /// stopped this early.
    public static let noResultsExitCode: Int32 = 66

    /// Exit codes of `iclsweep status`; 75 is also `run`'s "stopped, work remains".
    public var exitCode: Int32 {
        switch self {
        case .complete: return 0
        case .failed: return 1
        case .running: return 3
        case .resumable: return SweepRunner.Exit.stoppedWorkRemains.rawValue
        }
    }

    public var summary: String {
        switch self {
        case .complete: return "complete"
        case .running(let h): return "running now (\(h.described))"
        case .resumable(let why): return "work remains (\(why)); run the same command again to continue"
        case .failed(let m): return "the last sweep ended with an error: \(m)"
        }
    }

    public static func of(results: String, statuses: [RunStatus]) -> SweepState {
        let outcome = SweepOutcome.read(besides: results)
        if let (holder, liveness) = ResultsClaim.inspect(results: results) {
            switch liveness {
            case .live: return .running(holder)
            case .stale(let reason):
                // A worker that failed where rank 0 could not hear it records the error and ends the job.
                if let outcome, outcome.ending == .error, outcome.claim == holder.token { return .failed(message: outcome.message) }
                return .resumable(why: "the sweep that held it was killed: \(reason)")
            }
        }
        switch outcome?.ending {
        case .error?: return .failed(message: outcome!.message)
        case .running?:
            return .failed(message: "the sweep started at \(outcome!.ended) ended without recording how (its outcome "
                           + "could not be written: is the disk full?); its log has the error")
        case .stopped? where !statuses.allSatisfy(\.isFinal):
            return .resumable(why: "stopped at \(outcome!.ended): \(outcome!.message)")
        default:
            if statuses.allSatisfy(\.isFinal) { return .complete }
            return .resumable(why: "\(statuses.filter { !$0.isFinal }.count) runs not finished")
        }
    }
}
