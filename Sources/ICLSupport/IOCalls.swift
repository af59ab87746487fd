import Foundation

/// The one counter every I/O call of this process passes: each call through
/// the HDF5 wrapper (`H5File`, `H5Dataset`, which carry MPI-IO too) and the
/// file-system wrapper (`FileSystem`) counts once, with the place in the
/// project's code that made it.
///
/// Test facility (never for production use), read once at start:
/// - `ICLSWEEP_TEST_FAIL_IO=N[:ERRNO[:RANK]]` makes the Nth call (from 1) of
///   the process with MPI rank RANK (default 0) fail with ERRNO (`ENOSPC`
///   by default; `EIO`, `EDQUOT`, `EROFS` or a number): the call is not
///   made, and it throws what the real call throws, with the system's text
///   for ERRNO. This is how the fault tests fail every call site in turn,
///   as SQLite's tests do.
/// - `ICLSWEEP_TEST_IO_TRACE=PREFIX` appends one line per call,
///   "N SITE OPERATION", to `PREFIX.RANK`, with " collective" after calls
///   made while every rank is inside collective calls (`collective`): what
///   the tests enumerate.
public enum IOCalls {
    /// The planned failure.
    public struct Plan: Equatable {
        public var call: Int
        public var errno: Int32
        public var rank: Int32

        /// Parses `N[:ERRNO[:RANK]]`; nil when it is not of that form.
        public static func parse(_ text: String) -> Plan? {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...3).contains(parts.count), let n = Int(parts[0]), n > 0 else { return nil }
            var plan = Plan(call: n, errno: ENOSPC, rank: 0)
            if parts.count > 1 {
                guard let code = errnoNames[parts[1]] ?? Int32(parts[1]), code > 0 else { return nil }
                plan.errno = code
            }
            if parts.count > 2 {
                guard let r = Int32(parts[2]), r >= 0 else { return nil }
                plan.rank = r
            }
            return plan
        }

        static let errnoNames: [String: Int32] = ["ENOSPC": ENOSPC, "EIO": EIO, "EDQUOT": EDQUOT, "EROFS": EROFS,
                                                   "EACCES": EACCES, "ESTALE": ESTALE]
    }

    /// The error a failed call throws when the wrapper has no error of its own.
    public struct Failure: Error, CustomStringConvertible {
        public let errno: Int32
        public let call: Int
        public var reason: String { String(cString: strerror(errno)) }
        public var description: String { "\(reason) (injected: ICLSWEEP_TEST_FAIL_IO, call \(call))" }
    }

    private static let lock = NSLock()
    private static var count = 0
    private static var rank: Int32 = 0
    private static var trace: UnsafeMutablePointer<FILE>?
    /// Set while the ranks create, open or close a parallel file together,
    /// where one rank's failure leaves the others inside a collective call.
    public static var collective = false
    private static let environment = ProcessInfo.processInfo.environment
    public static let plan: Plan? = environment["ICLSWEEP_TEST_FAIL_IO"].flatMap(Plan.parse)

    /// A setting that is present but not of the documented form (the caller reports it).
    public static var badSetting: String? {
        guard let text = environment["ICLSWEEP_TEST_FAIL_IO"], plan == nil else { return nil }
        return "ICLSWEEP_TEST_FAIL_IO='\(text)' is not N[:ERRNO[:RANK]] (e.g. 12:ENOSPC:0)"
    }

    /// Called once MPI knows this process's rank (`MPI.initialize`).
    static func setRank(_ r: Int32) {
        lock.lock(); defer { lock.unlock() }
        rank = r
    }

    /// Counts one call of `operation` made at `file`:`line`; throws the
    /// planned failure (`Failure`) when this is the planned call.
    public static func enter(_ operation: @autoclosure () -> String, _ file: StaticString, _ line: UInt) throws {
        guard plan != nil || environment["ICLSWEEP_TEST_IO_TRACE"] != nil else { return }
        lock.lock(); defer { lock.unlock() }
        count += 1
        if let prefix = environment["ICLSWEEP_TEST_IO_TRACE"] {
            if trace == nil { trace = fopen("\(prefix).\(rank)", "a") }
            if let trace {
                fputs("\(count) \(file):\(line) \(operation())\(collective ? " collective" : "")\n", trace)
                fflush(trace)
            }
        }
        if let plan, plan.call == count, plan.rank == rank {
            throw Failure(errno: plan.errno, call: count)
        }
    }
}
