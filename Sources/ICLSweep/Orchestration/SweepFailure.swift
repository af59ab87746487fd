import Foundation
import ICLSupport

/// An error that ends the whole sweep, with where it happened.
public struct SweepFailure: Error, CustomStringConvertible {
    public var rank: Int32
    public var host: String
    /// The run in hand when it happened, as "run 5 K64-E8-bursty-s0".
    public var run: String?
    public var cause: String

    public init(rank: Int32, host: String, run: String?, error: Error) {
        self.rank = rank
        self.host = host
        self.run = run
        self.cause = (error as? SweepFailure)?.cause ?? describe(error)
    }

    /// The one line every such error prints: rank, run, cause and what to do.
    public var description: String {
        var line = "error on rank \(rank) (\(host))"
        if let run { line += ", \(run)" }
        line += ": \(cause)"
        switch Fault.classify(cause) {
        case .environment(let hint): line += " -- \(hint), then run the same command again: finished runs are kept and interrupted ones resume"
        case .other: line += " -- fix the cause and run the same command again: finished runs are kept and interrupted ones resume"
        }
        return line
    }
}
