import Foundation

/// Graceful stop on SIGTERM, SIGINT or SIGUSR1: the handler only sets a flag
/// that the training loop reads at every step boundary.
public enum StopSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

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

    public static var requested: Bool { flag != 0 }
    public static var signalName: String {
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
