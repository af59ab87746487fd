import ArgumentParser
import Foundation
import ICLData
import ICLModel
import ICLSupport
import ICLSweep
import ICLTraining

struct RunSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run (or resume) a sweep: mpirun -np N iclsweep run SPEC.",
        discussion: """
        Rank 0 coordinates and the other ranks train; started without mpirun, one process \
        does everything. Running the same command again resumes: finished runs are skipped, \
        interrupted ones continue from their checkpoints.
        Exit codes: 0 sweep complete, 1 error (on any rank: the whole job ends), 75 stopped by \
        SIGTERM/SIGINT/SIGUSR1 with work remaining (checkpoints written; run again to continue). \
        mpirun turns 75 into 1 when it was itself sent SIGTERM or SIGINT: `iclsweep status SPEC` \
        then tells which it was (same codes).
        """
    )

    @Argument(help: "Sweep spec (YAML).") var spec: String
    @Flag(name: .customLong("retry-failed"), help: "Run failed and diverged runs again.") var retryFailed = false
    @Flag(name: .customLong("rerun-damaged"),
          help: "Run again the done runs whose rows fail their checksum (see `iclsweep verify`).") var rerunDamaged = false
    @Option(name: .customLong("progress-every"), help: "Seconds between progress lines.") var progressEvery = 30.0

    func validate() throws {
        if !(progressEvery > 0) { throw ValidationError("--progress-every must be a positive number of seconds") }
    }

    func run() throws {
        let note = prepareProcess()
        StopSignal.install()
        let comm = try MPI.initialize()
        if comm.rank == .coordinator, let note { print(note) }
        var options = SweepRunner.Options()
        options.retryFailed = retryFailed
        options.rerunDamaged = rerunDamaged
        options.progressEvery = progressEvery
        // Errors on any rank end the whole job inside run(); what returns is an exit code.
        let exit = SweepRunner(comm: comm, specPath: spec, options: options).run()
        MPI.finalize()
        if exit != .complete { throw ExitCode(exit.rawValue) }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a sweep spec and its features; print the grid and the compute it needs.")
    @Argument(help: "Sweep spec (YAML).") var spec: String
    @Option(help: "Assumed training speed in GFLOP/s per core for the estimate (see `iclsweep bench`).") var gflops = 40.0

    func validate() throws {
        if !(gflops > 0) { throw ValidationError("--gflops must be a positive number") }
    }

    func run() throws {
        let s = try SweepSpec.load(path: spec)
        let runs = s.runs
        let sequences = runs.count * s.base.sequences
        var flops = 0.0, longest = 0.0
        let costs = s.cellCosts()
        for (index, cell) in stride(from: 0, to: runs.count, by: s.seeds.count).enumerated() {
            // training steps, plus the evaluations: forward only, about a third of a step per sequence
            let config = runs[cell].config, cost = costs[index]
            let evals = Double(config.evalPoints.count * config.applicableEvaluators.count * config.evalSequences)
            flops += Double(s.seeds.count) * (cost + evals / Double(config.batch) * cost / Double(config.steps) / 3)
            longest = max(longest, cost)
        }
        if case .file = s.data {
            let size = s.tableSize
            _ = try s.data.table(classes: size.classes, exemplars: size.exemplars)  // shape and finite values
        }
        print("spec \(spec): valid")
        print("sweep '\(s.name)': \(s.classes.count) class counts x \(s.exemplars.count) exemplar counts x "
              + "\(s.variants.count) variants x \(s.seeds.count) seeds = \(runs.count) runs")
        print("results: \(s.results)")
        if case .file(let f) = s.data {
            print("features: \(f.path) '\(f.dataset)': the first \(s.tableSize.classes) classes x \(s.tableSize.exemplars) exemplars "
                  + "the sweep uses are all finite")
        }
        print("training: \(Format.count(sequences)) sequences in all, \(s.evalPoints.count) evaluation points per run")
        print(String(format: "compute: %.3g FLOPs, about %@ core-hours at %.0f GFLOP/s per core; the longest run about %@",
                     flops, Format.fixed(flops / (gflops * 1e9) / 3600, 2), gflops, Format.duration(longest / (gflops * 1e9))))
        print("with W workers the sweep takes about max(total / W, longest run).")
    }
}
