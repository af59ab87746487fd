import Foundation

/// Graceful stop on SIGTERM, SIGINT or SIGUSR1, or once a watched stop file
/// exists: the handler only sets a flag that the training loop reads at every
/// step boundary.
public enum StopSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0
    nonisolated(unsafe) private static var received: sig_atomic_t = 0
    /// The file whose appearance also asks for a stop (`watch(file:)`), and when it was last looked for.
    nonisolated(unsafe) private static var stopFile: String?
    nonisolated(unsafe) private static var lastLook: UInt64?
    nonisolated(unsafe) private static var stoppedByFile = false

    /// Exit code of a process that stopped on a signal with work remaining
    /// (`EX_TEMPFAIL`): distinct from success (0) and failure (1).
    public static let exitCodeWorkRemains: Int32 = 75

    public static func install() {
        for sig in [SIGTERM, SIGINT, SIGUSR1] {
            signal(sig) { number in
                StopSignal.flag = 1
                StopSignal.received = number
            }
        }
    }

    /// Also stop once `path` exists. Unlike a signal it cannot come too early
    /// (before a process has its handler) or reach no one: it is looked for
    /// at the first `requested` and then at most once a second.
    public static func watch(file path: String) {
        stopFile = path
        lastLook = nil
    }

    public static var requested: Bool {
        if flag != 0 { return true }
        guard let path = stopFile else { return false }
        let now = DispatchTime.now().uptimeNanoseconds
        if let last = lastLook, now &- last < 1_000_000_000 { return false }
        lastLook = now
        guard FileManager.default.fileExists(atPath: path) else { return false }
        stoppedByFile = true
        flag = 1
        return true
    }

    /// What asked for the stop, for messages ("stopped by SIGUSR1").
    public static var cause: String {
        if stoppedByFile, let stopFile { return "stop file \(stopFile)" }
        switch received {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(received)"
        }
    }
    /// Used by the sweep when the coordinator tells a worker to stop.
    public static func request() { flag = 1 }
}
