import ArgumentParser
import Foundation
import ICLSupport
import ICLTraining
import ICLSweep

/// A results file named directly, or through the spec that writes it.
struct ResultsArgument: ParsableArguments {
    @Argument(help: "Results file (HDF5), or the sweep spec (YAML) that writes it.") var target: String

    var path: String {
        get throws {
            let lower = target.lowercased()
            return lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") ? try SweepSpec.load(path: target).results : target
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each run's state and progress (safe while a sweep writes the file).",
        discussion: """
        Exit codes: 0 complete (every run done, failed, diverged or blocked), 1 the last sweep ended with \
        an error (or the file cannot be read), 3 a sweep is running on it now, 65 complete but done runs \
        are damaged (their rows fail their checksum), 66 no results yet (not started, or ended before \
        making them; 1 if an error was recorded beside them), 75 work remains and the same \
        `iclsweep run` continues it (stopped by a signal, or killed).
        """)
    @OptionGroup var results: ResultsArgument
    @Flag(help: "Print only the one-line state.") var brief = false

    func run() throws {
        let path = try results.path
        guard FileManager.default.fileExists(atPath: path) else {
            // An error before the file was made is still recorded beside it.
            if let outcome = SweepOutcome.read(besides: path), outcome.ending == .error {
                print("no results at \(path): the last sweep ended with an error before making them: \(outcome.message)")
                throw ExitCode(1)
            }
            print("no results at \(path) yet: the sweep has not started (or was stopped before creating them)")
            throw ExitCode(SweepState.noResultsExitCode)
        }
        let (t, damaged) = try ResultsFile.openForReading(path).checkedTable()
        let state = SweepState.of(results: path, statuses: t.statuses)
        let code = state == .complete && !damaged.isEmpty ? DamagedRun.exitCode : state.exitCode
        let damage = damaged.isEmpty ? "" : "; \(damaged.count) done run\(damaged.count == 1 ? "" : "s") damaged "
            + "(rows fail their checksum: `iclsweep verify`, then `iclsweep run SPEC --rerun-damaged`)"
        // A run marked running while no sweep holds the file was stopped or killed mid-way.
        var live = false
        if case .running = state { live = true }
        let shown = t.statuses.indices.map { r in
            t.damaged.contains(r) ? "damaged" : t.statuses[r] == .running && !live ? "stopped" : t.statuses[r].description
        }
        var counts: [String: Int] = [:]
        for s in shown { counts[s, default: 0] += 1 }
        let tally = (RunStatus.allCases.map(\.description) + ["stopped", "damaged"]).compactMap { s in counts[s].map { "\($0) \(s)" } }
            .joined(separator: ", ")
        if brief {
            print("sweep '\(t.name)': \(tally); \(state.summary)\(damage)")
            throw ExitCode(code)
        }
        let width = max(32, t.names.map(\.count).max() ?? 0)
        print("sweep '\(t.name)': \(t.count) runs")
        print(tally)
        print("")
        print("  id  \("run".rightPad(width)) status     progress               seq/s  where")
        for r in 0..<t.count {
            let total = t.sequencesTotal[r]
            let done = t.statuses[r] == .done ? total : t.sequencesDone[r]
            let pct = total > 0 ? 100 * Double(done) / Double(total) : 0
            let progress = "\(Format.count(done))/\(Format.count(total)) (\(Int(pct))%)"
            let rate = t.sequencesPerSecond[r].isNaN ? "-" : Format.count(Int(t.sequencesPerSecond[r]))
            let place = t.ranks[r] < 0 ? "-" : "\(t.hosts[r]):\(t.ranks[r])"
            var line = "\(String(r).leftPad(4))  \(t.names[r].rightPad(width)) \(shown[r].rightPad(10)) "
                + "\(progress.rightPad(22)) \(rate.leftPad(6))  \(place)"
            if !t.messages[r].isEmpty { line += "  \(t.messages[r])" }
            print(line)
        }
        print("\nsweep: \(state.summary)\(damage)")
        throw ExitCode(code)
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every done run's rows against the checksum written with them.",
        discussion: "Exit codes: 0 intact, 65 damage found, 1 the file cannot be read. "
            + "`iclsweep run SPEC --rerun-damaged` runs the damaged ones again.")
    @OptionGroup var results: ResultsArgument

    func run() throws {
        let path = try results.path
        let file = try ResultsFile.openForReading(path)
        let damaged = try file.verify()
        let done = try file.statuses().filter { $0 == .done }.count
        if damaged.isEmpty {
            print("\(path): all \(done) done runs intact")
            return
        }
        for d in damaged { print("damaged: \(d)") }
        print("\(path): \(damaged.count) of \(done) done runs damaged; `iclsweep run SPEC --rerun-damaged` runs them again "
              + "(from their final checkpoints where those are intact)")
        throw ExitCode(DamagedRun.exitCode)
    }
}

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a results file per grid cell (Markdown and CSV beside it).",
        discussion: "Done runs whose rows fail their checksum are left out and named; the exit code is then 65.")
    @OptionGroup var results: ResultsArgument

    func run() throws {
        let path = try results.path
        let (table, damaged) = try ResultsFile.openForReading(path).checkedTable()
        let summary = Summary(table)
        print(summary.markdown)
        let written = try summary.write(besides: path)
        print("\nwritten: \(written.joined(separator: ", "))")
        try exitIfDamaged(damaged, results: path)
    }
}

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write SVG figures (one per grid cell, plus an overview).",
        discussion: "Done runs whose rows fail their checksum are left out and named; the exit code is then 65.")
    @OptionGroup var results: ResultsArgument
    @Option(help: "Output folder [RESULTS without .h5, plus .plots].") var out: String?

    func run() throws {
        let path = try results.path
        let folder = out ?? ResultsPaths(path).plots
        let (table, damaged) = try ResultsFile.openForReading(path).checkedTable()
        let paths = try Plotter(table).write(to: folder)
        print("wrote \(paths.count) figures to \(folder) (overview.svg first)")
        try exitIfDamaged(damaged, results: path)
    }
}

/// After tables or figures were made without them: the warning line and exit code 65.
func exitIfDamaged(_ damaged: [DamagedRun], results: String) throws {
    guard !damaged.isEmpty else { return }
    FileHandle.standardError.write(Data((DamagedRun.warning(damaged, results: results) + "\n").utf8))
    throw ExitCode(DamagedRun.exitCode)
}

extension String {
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// `iclsweep fields`: the spec reference (`docs/spec.md`), from the field table.
struct Fields: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every run field: spec path, accepted values, default, run-name tag, train option, help (Markdown).")

    func run() throws { print(SpecReference.markdown(), terminator: "") }
}
