import Foundation

/// Every path that sits beside a results file, named once. For
/// `results: out/sweep.h5`:
///
///     out/sweep.h5                      the results file (`ResultsFile`)
///     out/sweep.h5.partial              the results file while it is being made
///     out/sweep.h5.claim                the running sweep's claim (`ResultsClaim`);
///       .claim.TOKEN, .claim.stale-TOKEN  briefly, while it is taken or taken over
///     out/sweep.h5.outcome              how the last sweep ended (`SweepOutcome`)
///     out/sweep.h5.checkpoints/         run-ID-NAME.h5 per unfinished run (+ .tmp while
///                                       written), run-ID-NAME-at-N.h5 kept for runs built on it
///     out/sweep.summary.md, .summary.csv  the summary (`.h5` dropped)
///     out/sweep.plots/                  `iclsweep plot`'s figures
///
/// Temporary files of atomic writes (`FileSystem.writeAtomically`) add
/// `.tmp-PID` to the path they replace.
public struct ResultsPaths: Equatable {
    public let results: String

    public init(_ results: String) { self.results = results }

    public var partial: String { results + ".partial" }
    public var claim: String { results + ".claim" }
    public var outcome: String { results + ".outcome" }
    public var checkpoints: String { results + ".checkpoints" }

    /// The results path without `.h5`: the stem of the summary and plots.
    public var stem: String { results.hasSuffix(".h5") ? String(results.dropLast(3)) : results }
    public var summaryMarkdown: String { stem + ".summary.md" }
    public var summaryCSV: String { stem + ".summary.csv" }
    public var plots: String { stem + ".plots" }

    /// The claim file a start links into place, and the name a stale claim is moved to while it is taken over.
    public func claimCandidate(token: String) -> String { "\(claim).\(token)" }
    public func claimAside(token: String) -> String { "\(claim).stale-\(token)" }

    /// Run `id`'s checkpoint while it trains.
    public func checkpoint(run id: Int, name: String) -> URL {
        URL(fileURLWithPath: checkpoints).appendingPathComponent("run-\(id)-\(name).h5")
    }

    /// The checkpoint run `id` keeps at `sequences` for the runs built on it.
    public func kept(run id: Int, name: String, at sequences: Int) -> URL {
        URL(fileURLWithPath: checkpoints).appendingPathComponent("run-\(id)-\(name)-at-\(sequences).h5")
    }

    /// The longest path and the longest file name made from the results
    /// path, in bytes, for `runs` runs whose names are at most
    /// `longestRunName` bytes and whose kept checkpoints are at most at
    /// `longestKept` sequences (nil: none kept): a checkpoint's temporary
    /// file, or the claim's while it is taken over.
    public func longest(runs: Int, longestRunName: Int, longestKept: Int?) -> (path: Int, name: Int) {
        let id = String(repeating: "9", count: String(max(runs - 1, 0)).count)
        let run = String(repeating: "n", count: longestRunName)
        let checkpoint = (longestKept.map { kept(run: 0, name: run, at: $0) } ?? self.checkpoint(run: 0, name: run))
            .lastPathComponent.replacingOccurrences(of: "run-0-", with: "run-\(id)-") + ".tmp"
        let aside = (claimAside(token: ResultsPaths.tokenExample) as NSString).lastPathComponent
        let name = max(checkpoint.utf8.count, aside.utf8.count, (summaryMarkdown as NSString).lastPathComponent.utf8.count)
        let path = max(checkpoints.utf8.count + 1 + checkpoint.utf8.count, claimAside(token: ResultsPaths.tokenExample).utf8.count,
                       summaryMarkdown.utf8.count)
        return (path, name)
    }

    /// A claim token's shape (a UUID).
    static let tokenExample = "00000000-0000-0000-0000-000000000000"
}
