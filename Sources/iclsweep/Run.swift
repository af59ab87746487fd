import ArgumentParser
import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import ICLSweep

struct RunSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run (or resume) a sweep: mpirun -np N iclsweep run SPEC.",
        discussion: """
        Rank 0 coordinates and the other ranks train; started without mpirun, one process \
        does everything. Running the same command again resumes: finished runs are skipped, \
        interrupted ones continue from their checkpoints.
        Exit codes: 0 sweep complete, 1 error (on any rank: the whole job ends), 65 complete but done \
        runs are damaged (left out of the summary; see `iclsweep verify`), 75 stopped by \
        SIGTERM/SIGINT/SIGUSR1 or --stop-file with work remaining (checkpoints written; run again to continue). \
        mpirun turns 75 into 1 when it was itself sent SIGTERM or SIGINT: `iclsweep status SPEC` \
        then tells which it was (same codes).
        """
    )

    @Argument(help: "Sweep spec (YAML).") var spec: String
    @Flag(name: .customLong("retry-failed"), help: "Run failed, diverged and blocked runs again.") var retryFailed = false
    @Flag(name: .customLong("rerun-damaged"),
          help: "Run again the done runs whose rows fail their checksum (see `iclsweep verify`).") var rerunDamaged = false
    @Option(name: .customLong("progress-every"),
            help: "Seconds between progress lines (the workers' progress notes, which the coordinator's estimates come from, go every 5 s, or this often when it is shorter).")
    var progressEvery = 30.0
    @Flag(name: .customLong("gangs-across-nodes"),
          help: "Let a run on several ranks (training.ranks) take ranks of different nodes (they then exchange over the network).")
    var gangsAcrossNodes = false
    @Option(name: .customLong("stop-file"),
            help: ArgumentHelp("Stop as on SIGUSR1 (every run checkpoints; exit 75) once this file exists: rank 0 looks for it as it starts and then every second. "
                               + "Unlike a signal, it cannot arrive before the ranks are ready for it (slurm/iclsweep.sbatch stops sweeps this way).",
                               valueName: "PATH"))
    var stopFile: String?

    func validate() throws {
        if !(progressEvery > 0) { throw ValidationError("--progress-every must be a positive number of seconds") }
        if let bad = IOCalls.badSetting { throw ValidationError(bad) }
        // A stop file nobody can make would be a stop silently lost.
        if let stopFile {
            let folder = URL(fileURLWithPath: stopFile).deletingLastPathComponent().path
            var isFolder: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) || !isFolder.boolValue {
                throw ValidationError("--stop-file: the folder \(folder) does not exist, so \(stopFile) could never appear")
            }
        }
    }

    func run() throws {
        let note = prepareProcess()
        StopSignal.install()
        let comm = try MPI.initialize()
        if comm.rank == .coordinator, let note { print(note) }
        if comm.rank == .coordinator, let stopFile { StopSignal.watch(file: stopFile) }  // the workers hear it from rank 0
        var options = SweepRunner.Options()
        options.retryFailed = retryFailed
        options.rerunDamaged = rerunDamaged
        options.progressEvery = progressEvery
        options.gangsAcrossNodes = gangsAcrossNodes
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
    @Option(help: ArgumentHelp("Predict the sweep's wall time on NODESxCORES (e.g. 64x48): each run on its training.ranks.",
                               valueName: "NODESxCORES"))
    var cluster: String?
    @Option(help: "With --cluster: a node's memory bandwidth in GB/s, shared by its busy cores (the exchange and Adam move at it).")
    var bandwidth = 200.0
    @Option(help: "With --cluster: the most one core moves alone, in GB/s (`bench` prints it as copy bandwidth).")
    var coreBandwidth = 20.0
    @Option(help: ArgumentHelp("With --cluster: a sharded run's compute rate over its whole batch's, as `bench --spec SPEC --run NAME` prints it "
                               + "(NAME=X, repeatable; X alone for every sharded run not named). Default 1: small shards as fast as whole batches.",
                               valueName: "NAME=X"))
    var shardEfficiency: [String] = []

    func validate() throws {
        if !(gflops > 0) { throw ValidationError("--gflops must be a positive number") }
        if !(bandwidth > 0) { throw ValidationError("--bandwidth must be a positive number") }
        if !(coreBandwidth > 0) { throw ValidationError("--core-bandwidth must be a positive number") }
        _ = try efficiencies()
        if let cluster, clusterShape(cluster) == nil {
            throw ValidationError("--cluster: expected NODESxCORES with positive whole numbers (e.g. 64x48), got '\(cluster)'")
        }
    }

    func clusterShape(_ text: String) -> (nodes: Int, cores: Int)? {
        let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { return nil }
        return (parts[0], parts[1])
    }

    /// `--shard-efficiency` by run name ("*": the runs not named).
    func efficiencies() throws -> [String: Double] {
        var e: [String: Double] = [:]
        for item in shardEfficiency {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let (name, text) = parts.count == 2 ? (parts[0], parts[1]) : ("*", parts.first ?? "")
            guard let x = Double(text), x > 0, x <= 4, !name.isEmpty else {
                throw ValidationError("--shard-efficiency: expected NAME=X or X with X a number in (0, 4] (e.g. 12l=0.7), got '\(item)'")
            }
            e[name] = x
        }
        return e
    }

    /// The prediction of `ClusterModel` for `--cluster`.
    func predict(_ s: SweepSpec, nodes: Int, cores: Int) throws {
        let efficiency = try efficiencies()
        let names = Set((0..<s.runs.count).map { s.runs.name(of: $0) })
        if let unknown = efficiency.keys.filter({ $0 != "*" && !names.contains($0) }).sorted().first {
            throw ValidationError("--shard-efficiency: no run named '\(unknown)' in \(spec)")
        }
        let model = ClusterModel(.init(nodes: nodes, cores: cores, gflops: gflops, bandwidth: bandwidth, coreBandwidth: coreBandwidth),
                                 shardEfficiency: efficiency)
        let p = model.predict(s)
        // Sharded runs whose compute rate nobody gave: the model takes their whole batch's.
        let assumed = Set((0..<s.runs.count).filter {
            s.runs.config(of: $0).shardCount > 1 && model.givenEfficiency(of: s.runs.name(of: $0)) == nil
        })
        print("\non \(nodes) nodes x \(cores) cores (a model: \(Int(gflops)) GFLOP/s per core sustained, \(Int(bandwidth)) GB/s per node "
              + "shared by its busy cores, at most \(Int(coreBandwidth)) GB/s per core; docs/ranks.md states it): the sweep takes about "
              + "\(Format.duration(p.makespan)), " + String(format: "the cores busy %.1f%% of it", 100 * p.utilisation))
        let last = p.end.indices.filter { !p.end[$0].isNaN }.sorted { p.end[$0] > p.end[$1] }.prefix(4).filter { !p.criticalPath.contains($0) }
        print("  critical path, then the other runs that end last (each on its training.ranks; a step's compute + exchange + Adam):")
        for id in p.criticalPath + last {
            let c = s.runs.config(of: id), dim = (try? c.data.available().dim) ?? 1
            let e = model.efficiency(of: s.runs.name(of: id), shards: c.shardCount)
            let st = model.step(c, dim: dim, ranks: c.rankCount, busy: p.busy[id], efficiency: e)
            print(String(format: "    %@: %@ to %@ on %d rank%@, %d shard%@%@, %d of its node's cores busy; step %.2f + %.2f + %.2f ms",
                         s.runs.name(of: id), Format.duration(p.start[id]), Format.duration(p.end[id]), c.rankCount,
                         c.rankCount == 1 ? "" : "s", c.shardCount, c.shardCount == 1 ? "" : "s",
                         c.shardCount > 1 ? String(format: " at %.2f of the whole batch's rate%@", e, assumed.contains(id) ? " (assumed)" : "") : "",
                         p.busy[id], 1000 * st.compute, 1000 * st.exchange, 1000 * st.adam))
        }
        if let first = assumed.sorted().first {
            print("  note: \(assumed.count) sharded run\(assumed.count == 1 ? "" : "s") (\(s.runs.name(of: first))\(assumed.count > 1 ? ", ..." : "")) "
                  + "taken to compute at the whole batch's rate, which small shards do not reach (optimistic): "
                  + "`iclsweep bench --spec \(spec) --run \(s.runs.name(of: first))` on one core prints the figure for --shard-efficiency")
        }
    }

    func run() throws {
        let s = try SweepSpec.load(path: spec)
        let runs = s.runs, grid = s.grid, seeds = grid.seedCount
        let sequences = s.sequences(of: Array(0..<runs.count))
        let costs = s.runCosts()
        let flops = costs.cells.reduce(0, +) * Double(seeds) + costs.named.reduce(0, +)
        try s.checkFeatures()  // shape and finite values of features files
        print("spec \(spec): valid")
        if grid.count > 0 {
            let axes = grid.axes.dropLast().map { "\($0.name) (\($0.mainCount))" }.joined(separator: " x ")
            let edits = [("excluded", grid.exclude.count), ("included", grid.include.count)].filter { $0.1 > 0 }
                .map { ", \($0.1) partial point\($0.1 == 1 ? "" : "s") \($0.0)" }.joined()
            print("sweep '\(s.name)': \(axes)\(edits) = \(grid.cellCount) cells, each with \(seeds) seed\(seeds == 1 ? "" : "s"): \(grid.count) runs")
            for axis in grid.axes where axis.mainCount > 1 || axis.isField {
                print("  \(axis.name): \(axis.values.map(\.description).joined(separator: ", "))")
            }
        } else {
            print("sweep '\(s.name)': no grid")
        }
        if !runs.named.isEmpty {
            print("named runs (\(runs.named.count)): " + runs.named.map(\.name).joined(separator: ", "))
            let graph = RunGraph(runs, costs: costs)
            let lines = graph.describe()
            if !lines.isEmpty {
                print("dependencies (a run starts once each checkpoint it names exists):")
                lines.forEach { print($0) }
            }
            for (id, points) in runs.keep.sorted(by: { $0.key < $1.key }) {
                print("  \(runs.name(of: id)) keeps checkpoints at \(points.map { Format.count($0) }.joined(separator: ", "))")
            }
            let (cost, path) = RunGraph(runs, costs: s.runCosts(wall: true)).criticalPath()
            let chain = path.map { p -> String in
                let r = runs.config(of: p.run).rankCount
                return runs.name(of: p.run) + (r > 1 ? " [\(r) ranks]" : "") + (p.until.map { " (to \(Format.count($0)))" } ?? "")
            }
            print("critical path: \(chain.joined(separator: " -> ")): about \(Format.duration(cost / (gflops * 1e9))) "
                  + "at \(Int(gflops)) GFLOP/s per rank with perfect scaling, however many workers")
        }
        let megabytes = Double(ResultsFile.expectedBytes(s)) / 1e6
        let rows = s.runs.pointCounts().reduce(0, +)
        print("results: \(s.results), about \(megabytes < 10 ? String(format: megabytes < 1 ? "%.2f" : "%.1f", megabytes) : Format.count(Int(megabytes))) MB "
              + "for \(Format.count(rows)) evaluation rows (each run's own points; allocated when the file is made)")
        for t in s.tables {
            if case .file(let f) = t.data {
                print("features: \(f.path) '\(f.dataset)': the first \(t.classes) classes x \(t.exemplars) exemplars "
                      + "the sweep uses are all finite")
            }
        }
        let longest = max(costs.cells.max() ?? 0, costs.named.max() ?? 0)
        let counts = s.runs.pointCounts()
        let (fewest, most) = (counts.min() ?? 0, counts.max() ?? 0)
        print("training: \(Format.count(sequences)) sequences in all, "
              + (fewest == most ? "\(most) evaluation points per run" : "\(fewest) to \(most) evaluation points per run"))
        print(String(format: "compute: %.3g FLOPs, about %@ core-hours at %.0f GFLOP/s per core; the longest run about %@",
                     flops, Format.fixed(flops / (gflops * 1e9) / 3600, 2), gflops, Format.duration(longest / (gflops * 1e9))))
        print("with W workers the sweep takes about max(total / W, longest run).")
        if let cluster, let (nodes, cores) = clusterShape(cluster) { try predict(s, nodes: nodes, cores: cores) }
    }
}
