import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// How the last sweep on a results file ended, written by rank 0 into
/// `RESULTS.outcome` (atomically) as the sweep ends. mpirun cannot carry
/// exit code 75 through SIGTERM or SIGINT, so this file, read by
/// `iclsweep status`, is what tells "stopped with work left" from "error".
public struct SweepOutcome: Codable, Equatable {
    public enum Ending: String, Codable { case complete, stopped, error }
    public var ending: Ending
    public var message: String
    public var ended: String
    public var host: String
    public var pid: Int32

    public init(_ ending: Ending, message: String) {
        self.ending = ending
        self.message = message
        ended = timestamp(Date())
        host = hostName
        pid = getpid()
    }

    public static func path(for results: String) -> String { results + ".outcome" }

    public func write(besides results: String) throws {
        let path = Self.path(for: results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic) }
        catch { throw ClaimFileError("cannot write \(path): \(describe(error))") }
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
        if let (holder, liveness) = ResultsClaim.inspect(results: results) {
            switch liveness {
            case .live: return .running(holder)
            case .stale(let reason): return .resumable(why: "the sweep that held it was killed: \(reason)")
            }
        }
        let outcome = SweepOutcome.read(besides: results)
        if statuses.allSatisfy(\.isFinal) { return .complete }
        switch outcome?.ending {
        case .error?: return .failed(message: outcome!.message)
        case .stopped?: return .resumable(why: "stopped at \(outcome!.ended): \(outcome!.message)")
        case .complete?, nil: return .resumable(why: "\(statuses.filter { !$0.isFinal }.count) runs not finished")
        }
    }
}
