import Foundation
import ICLSupport

/// Who holds a results file, as written into `RESULTS.claim`.
public struct ClaimHolder: Codable, Equatable {
    public var host: String
    public var pid: Int32
    public var slurmJob: String?
    public var slurmRestart: Int?
    public var since: String
    /// Unique per claim: tells two claims of the same process apart.
    public var token: String

    static func current() -> ClaimHolder {
        let env = ProcessInfo.processInfo.environment
        return ClaimHolder(host: hostName, pid: getpid(), slurmJob: env["SLURM_JOB_ID"],
                           slurmRestart: env["SLURM_RESTART_COUNT"].flatMap(Int.init) ?? (env["SLURM_JOB_ID"] == nil ? nil : 0),
                           since: timestamp(Date()), token: UUID().uuidString)
    }

    var described: String {
        var s = "host \(host), pid \(pid)"
        if let slurmJob { s += ", Slurm job \(slurmJob)" }
        return s + ", since \(since)"
    }
}

/// Whether a claim's holder still runs.
public enum ClaimLiveness: Equatable {
    case live(heartbeatAge: TimeInterval)
    case stale(reason: String)
}

/// A second sweep on a results file that a live sweep holds.
public struct ClaimError: Error, CustomStringConvertible {
    public let results: String
    public let holder: ClaimHolder
    public let heartbeatAge: TimeInterval
    public var description: String {
        "\(results) is in use by another sweep (\(holder.described), last heartbeat \(Int(heartbeatAge)) s ago); "
            + "wait for it to end or stop it. A claim is taken over automatically once its process is gone "
            + "(same host) or it has been silent for \(Int(ResultsClaim.staleSeconds)) s"
    }
}

/// An exclusive claim on a results file for the life of a sweep: the file
/// `RESULTS.claim`, made with `link(2)` (atomic on local and network file
/// systems, where `flock` may not work), holding who made it, and touched
/// every `heartbeatSeconds` by a background thread. A claim whose process is
/// gone (same host), whose Slurm job has been restarted since, or that has
/// been silent for `staleSeconds` is stale and is taken over.
public final class ResultsClaim {
    public static let heartbeatSeconds: TimeInterval = 10
    public static let staleSeconds: TimeInterval = 120

    public let path: String
    public let holder: ClaimHolder
    private let lock = NSLock()
    private var released = false
    private var thread: Thread?

    public static func path(for results: String) -> String { ResultsPaths(results).claim }

    private init(path: String, holder: ClaimHolder) {
        self.path = path
        self.holder = holder
    }

    /// Takes the claim on `results`, taking over a stale one (said through `log`).
    /// - Throws: `ClaimError` when a live sweep holds it; a one-line error when
    ///   the claim file cannot be written.
    public static func acquire(results: String, log: (String) -> Void) throws -> ResultsClaim {
        let path = path(for: results)
        let me = ClaimHolder.current()
        let bytes = try JSONEncoder().encode(me)
        let tmp = ResultsPaths(results).claimCandidate(token: me.token)
        do { try FileSystem.createFile(tmp, Array(bytes)) } catch { throw ClaimFileError("cannot claim \(results): \(error)") }
        defer { unlink(tmp) }
        for _ in 0..<5 {
            var linked = true
            do { try FileSystem.link(tmp, to: path) } catch let e as FileSystemError {
                linked = linkCount(tmp) == 2  // NFS may report a failed link that happened
                if !linked && e.errno != EEXIST { throw ClaimFileError("cannot claim \(results): \(e)") }
            }
            if linked {
                let claim = ResultsClaim(path: path, holder: me)
                claim.startHeartbeat()
                return claim
            }
            guard let (holder, liveness) = inspect(results: results) else { continue }  // it went away meanwhile
            switch liveness {
            case .live(let age):
                throw ClaimError(results: results, holder: holder, heartbeatAge: age)
            case .stale(let reason):
                // Move the stale claim aside; only one contender can. If what we
                // moved is not what we judged (someone took over in between),
                // put it back and yield to them.
                let aside = ResultsPaths(results).claimAside(token: me.token)
                guard (try? FileSystem.rename(path, to: aside)) != nil else { continue }
                let moved = readHolder(aside)
                if moved?.token != holder.token {
                    _ = link(aside, path)
                    unlink(aside)
                    if let moved { throw ClaimError(results: results, holder: moved, heartbeatAge: 0) }
                    continue
                }
                unlink(aside)
                log("taking over the claim on \(results) of \(holder.described): \(reason)")
            }
        }
        throw ClaimFileError("could not claim \(results): the claim file kept changing; is another sweep starting on it?")
    }

    /// The current claim on `results` and whether it is live, or nil when
    /// nobody holds it.
    public static func inspect(results: String) -> (ClaimHolder, ClaimLiveness)? {
        let path = path(for: results)
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let age = Date().timeIntervalSince1970 - (Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) * 1e-9)
        guard let holder = readHolder(path) else {
            let unknown = ClaimHolder(host: "?", pid: 0, since: "?", token: "?")
            return (unknown, age < staleSeconds ? .live(heartbeatAge: age) : .stale(reason: "an unreadable claim, silent for \(Int(age)) s"))
        }
        return (holder, judge(holder, heartbeatAge: age))
    }

    static func judge(_ holder: ClaimHolder, heartbeatAge age: TimeInterval) -> ClaimLiveness {
        let me = ClaimHolder.current()
        if holder.host == me.host && holder.pid != me.pid && processIsGone(holder.pid) {
            return .stale(reason: "its process \(holder.pid) on \(holder.host) is gone")
        }
        if let job = holder.slurmJob, job == me.slurmJob, let then = holder.slurmRestart, let now = me.slurmRestart, then < now {
            return .stale(reason: "it was made by an earlier start (restart \(then)) of this Slurm job, which Slurm ended")
        }
        if age > staleSeconds {
            return .stale(reason: "no heartbeat for \(Int(age)) s")
        }
        return .live(heartbeatAge: max(age, 0))
    }

    /// Whether `pid` no longer runs on this host. A zombie (killed, not yet
    /// reaped by its parent, as happens to ranks that mpirun killed) is gone.
    static func processIsGone(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Stops the heartbeat and removes the claim file if it is still ours.
    public func release() {
        lock.lock()
        released = true
        lock.unlock()
        if ResultsClaim.readHolder(path)?.token == holder.token { unlink(path) }
    }

    private func startHeartbeat() {
        let t = Thread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: ResultsClaim.heartbeatSeconds)
                guard let self else { return }
                self.lock.lock()
                let done = self.released
                self.lock.unlock()
                if done { return }
                utimes(self.path, nil)
            }
        }
        t.name = "iclsweep claim heartbeat"
        t.start()
        thread = t
    }

    private static func readHolder(_ path: String) -> ClaimHolder? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ClaimHolder.self, from: data)
    }

    private static func linkCount(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_nlink) : 0
    }
}

struct ClaimFileError: Error, CustomStringConvertible {
    let description: String
    package init(_ d: String) { description = d }
}

func timestamp(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: date)
}
