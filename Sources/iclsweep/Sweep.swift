import ArgumentParser
import Foundation
import ICLKit

struct RunSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run (or resume) a sweep: mpirun -np N iclsweep run SPEC.",
        discussion: """
        Rank 0 coordinates and the other ranks train; started without mpirun, one process \
        does everything. Running the same command again resumes: finished runs are skipped, \
        interrupted ones continue from their checkpoints.
        Exit codes: 0 sweep complete, 1 error, 75 stopped by SIGTERM/SIGINT/SIGUSR1 with work \
        remaining (checkpoints written; run again to continue).
        """
    )

    @Argument(help: "Sweep spec (YAML).") var spec: String
    @Flag(name: .customLong("retry-failed"), help: "Run failed and diverged runs again.") var retryFailed = false
    @Option(name: .customLong("progress-every"), help: "Seconds between progress lines.") var progressEvery = 30.0

    func run() throws {
        let note = ICLKit.prepareProcess()
        StopSignal.install()
        let comm = try MPI.initialize()
        if comm.rank == .coordinator, let note { print(note) }
        var options = SweepRunner.Options()
        options.retryFailed = retryFailed
        options.progressEvery = progressEvery
        let exit: SweepRunner.Exit
        do {
            exit = try SweepRunner(comm: comm, specPath: spec, options: options).run()
        } catch {
            // One unhandled error ends the whole job at once instead of leaving ranks blocked.
            FileHandle.standardError.write(Data("error (\(comm.rank)): \(error)\n".utf8))
            if comm.size > 1 { comm.abort(SweepRunner.Exit.error.rawValue) }
            MPI.finalize()
            throw ExitCode(SweepRunner.Exit.error.rawValue)
        }
        MPI.finalize()
        if exit != .complete { throw ExitCode(exit.rawValue) }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a sweep spec; print the grid and the compute it needs.")
    @Argument(help: "Sweep spec (YAML).") var spec: String
    @Option(help: "Assumed training speed in GFLOP/s per core for the estimate (see `iclsweep bench`).") var gflops = 40.0

    func run() throws {
        let s = try loadSpec(spec)
        let runs = s.runs
        let sequences = runs.reduce(0) { $0 + $1.config.sequences }
        let flops = runs.reduce(0.0) { total, run in
            // training steps, plus the evaluations: forward only, about a third of a step per sequence
            let evals = Double(run.config.evalPoints.count * run.config.applicableEvaluators.count * run.config.evalSequences)
            return total + run.cost + evals / Double(run.config.batch) * Benchmark.flopsPerStep(run.config) / 3
        }
        let longest = runs.map(\.cost).max()! / (gflops * 1e9)
        print("spec \(spec): valid")
        print("sweep '\(s.name)': \(s.classes.count) class counts x \(s.exemplars.count) exemplar counts x "
              + "\(s.variants.count) variants x \(s.seeds.count) seeds = \(runs.count) runs")
        print("results: \(s.results)")
        print("training: \(Format.count(sequences)) sequences in all, \(s.evalPoints.count) evaluation points per run")
        print(String(format: "compute: %.3g FLOPs, about %@ core-hours at %.0f GFLOP/s per core; the longest run about %@",
                     flops, Format.fixed(flops / (gflops * 1e9) / 3600, 2), gflops, Format.duration(longest)))
        print("with W workers the sweep takes about max(total / W, longest run).")
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print each run's state and progress (safe while a sweep writes the file).")
    @Argument(help: "Results file (HDF5).") var results: String

    func run() throws {
        let t = try ResultsFile.openForReading(results).table()
        let total = t.points.last ?? 0
        print("sweep '\(t.name)': \(t.count) runs")
        var counts: [RunStatus: Int] = [:]
        for s in t.statuses { counts[s, default: 0] += 1 }
        print(RunStatus.allCases.compactMap { s in counts[s].map { "\($0) \(s)" } }.joined(separator: ", "))
        print("")
        print("  id  run                              status     progress               seq/s  where")
        for r in 0..<t.count {
            let done = t.statuses[r] == .done ? total : t.sequencesDone[r]
            let pct = total > 0 ? 100 * Double(done) / Double(total) : 0
            let progress = "\(Format.count(done))/\(Format.count(total)) (\(Int(pct))%)"
            let rate = t.sequencesPerSecond[r].isNaN ? "-" : Format.count(Int(t.sequencesPerSecond[r]))
            let place = t.ranks[r] < 0 ? "-" : "\(t.hosts[r]):\(t.ranks[r])"
            var line = "\(String(r).leftPad(4))  \(t.names[r].rightPad(32)) \(t.statuses[r].description.rightPad(10)) "
                + "\(progress.rightPad(22)) \(rate.leftPad(6))  \(place)"
            if !t.messages[r].isEmpty { line += "  \(t.messages[r])" }
            print(line)
        }
        if counts[.running, default: 0] > 0 {
            print("\n'running' also marks runs whose process was killed; `iclsweep run` resumes them from their checkpoints.")
        }
    }
}

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise a results file per grid cell (Markdown and CSV beside it).")
    @Argument(help: "Results file (HDF5).") var results: String

    func run() throws {
        let summary = Summary(try ResultsFile.openForReading(results).table())
        print(summary.markdown)
        let written = try summary.write(besides: results)
        print("\nwritten: \(written.joined(separator: ", "))")
    }
}

func loadSpec(_ path: String) throws -> SweepSpec {
    try SweepSpec.load(path: path)  // a SpecError prints as "Error: FILE:LINE: FIELD: problem", exit 1
}

extension String {
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write SVG figures (one per grid cell, plus an overview).")
    @Argument(help: "Results file (HDF5).") var results: String
    @Option(help: "Output folder [RESULTS without .h5, plus .plots].") var out: String?

    func run() throws {
        let folder = out ?? ((results.hasSuffix(".h5") ? String(results.dropLast(3)) : results) + ".plots")
        let paths = try Plotter(try ResultsFile.openForReading(results).table()).write(to: folder)
        print("wrote \(paths.count) figures to \(folder) (overview.svg first)")
    }
}
