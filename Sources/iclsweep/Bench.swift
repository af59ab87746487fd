import ArgumentParser
import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import ICLSweep

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this core's limits and training throughput per phase, on one core (and on R ranks under mpirun -np R).",
        discussion: "Pin it to one core for figures you compare: taskset -c 1 iclsweep bench. "
            + "Under `taskset -c 0,1 mpirun -np 2 --bind-to core iclsweep bench`, each configuration is also trained by both ranks "
            + "together (training.shards at least 2), alternating with rank 0 alone and with both ranks each training alone at once "
            + "(what the cores give without a gang, the ceiling of its speed-up); the speed-up, its share of that ceiling and each step's split are printed.")

    @Option(help: "Seconds of timed training per configuration.") var seconds = 8.0
    @Option(help: "Class counts to measure.") var classes: [Int] = [12_800, 1_600]
    @Option(help: ArgumentHelp(
        "Vector width of the C kernels: 16 (AVX-512) or 8 (AVX2). Default: the widest this CPU has.",
        discussion: "8 on an AVX-512 CPU measures what an AVX2 CPU runs; set OPENBLAS_CORETYPE=Haswell (or Zen) "
            + "too, so that OpenBLAS does the same."))
    var simdLanes: Int?
    @Option(help: "Sequences per evaluator in the timed evaluation (the paper: 5,000).") var evalSequences = 5_000
    @Option(help: "Training sequences between evaluations, for the rate over a run (the paper: 100,000).")
    var evalInterval = 100_000
    @Option(help: "Under mpirun -np R: rounds of (1 rank, then R ranks) per configuration; the median speed-up is reported.")
    var rounds = 3
    @Option(help: "A sweep spec whose runs --run names (e.g. sweeps/paper-suite.yaml).") var spec: String?
    @Option(name: .customLong("run"), help: "A run of --spec to measure as the spec trains it (e.g. 12l), after the --classes configurations: on one core, its whole batch at once, then split into its training.shards if it has several.")
    var runs: [String] = []
    @Option(help: "Each configuration (each --run too) with this training.shards instead of its own, e.g. 12l with 2 shards for 2 ranks.")
    var shards: Int?
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(
        "Fields of the --classes configurations: --OPTION VALUE or --set PATH=VALUE, as `train` takes them (e.g. --layers 12 --mlp).",
        valueName: "field options"))
    var fields: [String] = []

    func validate() throws {
        if !(seconds > 0) { throw ValidationError("--seconds must be a positive number (got \(seconds))") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1 (got \(shards))") }
        if let bad = classes.first(where: { $0 < 3 }) {
            throw ValidationError("--classes must be at least 3 (the query's class and two in context), got \(bad)")
        }
        if rounds < 1 { throw ValidationError("--rounds must be a positive number (got \(rounds))") }
        if evalSequences < 1 { throw ValidationError("--eval-sequences must be a positive number (got \(evalSequences))") }
        if evalInterval < 1 { throw ValidationError("--eval-interval must be a positive number (got \(evalInterval))") }
        if !runs.isEmpty && spec == nil { throw ValidationError("--run needs --spec, the sweep spec the run is in") }
        if let lanes = simdLanes {
            guard lanes == 8 || lanes == 16 else {
                throw ValidationError("--simd-lanes must be 8 (AVX2) or 16 (AVX-512), got \(lanes)")
            }
            let widest = Benchmark.vectorLanes
            guard lanes <= widest else {
                throw ValidationError("--simd-lanes \(lanes) cannot run here: this CPU's widest FMA has "
                                      + (widest == 0 ? "no vector lanes (no AVX2)" : "\(widest) lanes"))
            }
        }
    }

    func run() throws {
        let note = prepareProcess()
        if let lanes = simdLanes { Benchmark.limitVectorLanes(to: lanes) }  // before any kernel chooses its variant
        // Started by `mpirun -np R`: each configuration also trains on R ranks (below); rank 0 measures and prints.
        let gang = try MPIGang.wholeJob()
        defer { MPI.finalize() }  // nothing when MPI was not started
        if let gang, !gang.leads {
            try followMeasurements(gang)
            return
        }
        do {
            try lead(gang, note: note)
        } catch {
            guard let gang, gang.size > 1 else { throw error }
            // the other ranks wait in a collective call: end them with this one
            FileHandle.standardError.write(Data("Error: \(Self.message(for: error))\n".utf8))
            gang.comm.abort(Self.exitCode(for: error).rawValue)
        }
    }

    /// Rank 0 (or the only process): measures the core, then each configuration.
    func lead(_ gang: MPIGang?, note: String?) throws {
        // what to measure, checked before anything is measured
        var settings = RunSettings()
        try settings.read(fields)
        var configurations: [(title: String, run: String, config: RunConfig)] = []
        for k in classes {
            // the paper's configuration at k classes (the field table's defaults), with the given fields
            let c = try settings.config(classes: k, exemplars: 20, variant: .bursty, seed: 0,
                                        defaults: ["training.sequences": .int(32_000_000), "training.eval_interval": .int(32_000_000)])
            configurations.append(("\(Format.count(k)) classes, \(c.exemplars) exemplars", "*", c))
        }
        if let spec {
            let s = try SweepSpec.load(path: spec)
            for name in runs {
                guard let id = (0..<s.runs.count).first(where: { s.runs.name(of: $0) == name }) else {
                    throw ValidationError("--run: no run named '\(name)' in \(spec)")
                }
                var c = s.runs.config(of: id)
                c.ranks = nil  // where it trains is bench's to say (this core, or mpirun's ranks), not the spec's
                configurations.append(("run \(name) of \(spec): \(Format.count(c.classes)) classes", name, c))
            }
        }
        if let shards {
            for i in configurations.indices {
                guard configurations[i].config.batch % shards == 0 else {
                    throw ValidationError("--shards: \(shards) does not divide the batch (\(configurations[i].config.batch)) of \(configurations[i].title)")
                }
                configurations[i].config.shards = shards
            }
        }
        if let note { print(note) }
        // The FMA peak before and after the other limits, the better of the two:
        // these VMs' cores slow down for a second or so now and then, and one
        // reading taken then (60 GFLOP/s against 90-94 on a Zen 3) made the
        // sgemm peak 111% of it and every share of it too high.
        let before = Benchmark.fmaPeak(), sgemm = Benchmark.sgemmPeak()
        let memory = Benchmark.copyBandwidth(), cached = Benchmark.copyBandwidth(bytes: 16 << 20)
        let after = Benchmark.fmaPeak()
        let fma = after.gflops > before.gflops ? after : before
        let core = Benchmark.blasCore
        print("CPU: \(cpuModel); OpenBLAS kernels: \(core)"
              + (ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""))
        print(String(format: "FMA peak (register-only loop, %d lanes, 1 core): %.1f GFLOP/s", fma.lanes, fma.gflops)
              + (simdLanes.map { " (--simd-lanes \($0))" } ?? ""))
        print(String(format: "sgemm peak (1024^3, 1 thread):                   %.1f GFLOP/s (%.0f%% of the FMA peak)",
                     sgemm, 100 * sgemm / fma.gflops))
        print(String(format: "copy bandwidth (read + write, 1 core):           %.1f GB/s from memory (256 MiB), %.1f GB/s for 16 MiB",
                     memory, cached))
        print("unembedding products:                            \(Benchmark.unembeddingProducts)")
        if let warning = Benchmark.blasCoreWarning(core: core, fmaLanes: fma.lanes) { print(warning) }
        if simdLanes == 8, ["Cooperlake", "SkylakeX", "SapphireRapids"].contains(core) {
            print("note: OpenBLAS still runs its \(core) (AVX-512) kernels; for what an AVX2 CPU runs, "
                  + "set OPENBLAS_CORETYPE=Haswell (or Zen) as well")
        }
        let limits = Limits(fma: fma.gflops, sgemm: sgemm, memory: memory, cached: cached)
        if let gang {
            try gang.comm.barrierSleeping()  // the others waited, sleeping, while this rank measured the core
            _ = try gang.comm.broadcast(Int64(configurations.count))
        }
        for (title, run, base) in configurations {
            var config = base
            config.evalSequences = evalSequences
            if let gang {
                try measureOnRanks(title: title, config, gang: gang, limits)
                continue
            }
            try measureOnOneCore(title: title, run: run, config, limits)
        }
        print(String(format: "\npeak memory (RSS): %.0f MiB", Double(peakResidentBytes()) / 1_048_576))
    }

    /// This machine's limits, which the figures are held against.
    struct Limits { let fma, sgemm, memory, cached: Double }

    /// The throughput and roofline of one configuration.
    func report(title: String, _ config: RunConfig, _ r: Benchmark.Result, _ limits: Limits) {
        let m = config.model
        print("\n\(title), \(m.inputDim)-dim inputs, \(m.layers) layers\(m.mlpRatio > 0 ? " with MLPs (x\(m.mlpRatio))" : ""), "
              + "\(m.pairs) pairs, batch \(config.batch) (\(Format.count(r.parameters)) parameters):")
        print(String(format: "  throughput  %8.0f sequences/s  (%d steps, %.2f ms/step)", r.sequencesPerSecond, r.steps,
                     1000 * r.secondsPerStep))
        print(String(format: "  products    %.3g FLOPs per step -> %.1f GFLOP/s over the whole step, %.0f%% of the FMA peak",
                     r.flopsPerStep, r.gflops, 100 * r.gflops / limits.fma))
        let t = r.times, w = r.work, steps = Double(r.steps), total = t.total
        let bound = Benchmark.boundSeconds(flopsPerStep: r.flopsPerStep, sgemmGflops: limits.sgemm, adamSeconds: t.adam / steps)
        print(String(format: "  bound       %.3f ms/step with every product at the sgemm peak and Adam as here: "
                     + "%.0f%% of the FMA peak at most; this step takes %.2fx that",
                     1000 * bound, 100 * r.flopsPerStep / bound / 1e9 / limits.fma, r.secondsPerStep / bound))
        print("  phase              ms/step   share   achieved        held against")
        func row(_ name: String, _ seconds: Double, flops: Double? = nil, bytes: Double? = nil) {
            let perStep = seconds / steps
            var line = String(format: "  %@ %7.3f  %5.1f%%", name.padding(toLength: 16, withPad: " ", startingAt: 0),
                              1000 * perStep, 100 * seconds / total)
            if let flops {
                let rate = flops / perStep / 1e9
                line += String(format: "   %6.1f GFLOP/s   %3.0f%% of FMA peak, %3.0f%% of sgemm", rate,
                               100 * rate / limits.fma, 100 * rate / limits.sgemm)
            } else if let bytes {
                let rate = bytes / perStep / 1e9
                line += String(format: "   %6.1f GB/s      %3.0f%% of memory, %3.0f%% of 16 MiB copy", rate,
                               100 * rate / limits.memory, 100 * rate / limits.cached)
            }
            print(line)
        }
        row("sampling", t.sampling)
        row("embedding", t.embedding, flops: w.embeddingFlops)
        row("layer products", t.layerProducts, flops: w.layerFlops)
        if m.mlpRatio > 0 {
            row("MLP products", t.mlpProducts, flops: w.mlpFlops)
            row("GELU", t.gelu, bytes: w.geluBytes)
        }
        row("attention", t.attention, flops: w.attentionFlops)
        row("unembedding", t.unembedding, flops: w.unembeddingFlops)
        row("softmax + loss", t.loss, bytes: w.lossBytes)
        row("backward prods", t.backwardProducts, flops: w.backwardFlops)
        row("norms, copies", t.norms)
        row("adam", t.adam, bytes: w.adamBytes)
        let evaluators = config.applicableEvaluators.count
        let overRun = Benchmark.runRate(trainingRate: r.sequencesPerSecond, evalSeconds: r.evalSeconds,
                                        evalInterval: evalInterval)
        print(String(format: "  evaluation  %8.3f s per evaluation (%d evaluators x %@ sequences, %.0f sequences/s forward)",
                     r.evalSeconds, evaluators, Format.count(evalSequences),
                     Double(evaluators * evalSequences) / r.evalSeconds))
        print(String(format: "  over a run  %8.0f sequences/s trained, evaluating every %@ sequences (%.0f%% of the time)",
                     overRun, Format.count(evalInterval), 100 * (1 - overRun / r.sequencesPerSecond)))
    }

    /// A configuration on this one core: the roofline of its whole batch at
    /// once (the model's own efficiency); a run whose spec splits its batch
    /// into shards (to train on several ranks) is then also measured so, on
    /// this core alone (the same bits as on its ranks), for what small
    /// shards cost.
    func measureOnOneCore(title: String, run name: String, _ config: RunConfig, _ limits: Limits) throws {
        var whole = config
        whole.shards = nil
        whole.ranks = nil
        let S = config.shardCount
        let one = try Benchmark.training(whole, seconds: seconds)
        report(title: title + (S > 1 ? ", 1 shard (its training.shards: \(S))" : ""), whole, one, limits)
        guard S > 1 else { return }
        let sharded = try Benchmark.training(config, seconds: seconds)
        print(String(format: "  with its %d shards of %d sequences, on this core alone (the bits of %d ranks): %.0f sequences/s, %.2fx 1 shard",
                     S, config.batch / S, S, sharded.sequencesPerSecond, sharded.sequencesPerSecond / one.sequencesPerSecond))
        let a = stepSplit(one), b = stepSplit(sharded)
        // "*": a --classes configuration, whose figure applies to every sharded run not named
        print(String(format: "  its shards compute at %.2f of its whole batch's rate (validate --cluster --shard-efficiency %@%.2f)",
                     a[0] / b[0], name == "*" ? "" : name + "=", a[0] / b[0]))
        print("  per step (ms)      1 shard   \(S) shards")
        for (i, name) in Self.stepParts.enumerated() {
            print(String(format: "  %@ %9.3f %10.3f", name.padding(toLength: 16, withPad: " ", startingAt: 0), a[i], b[i]))
        }
    }

    /// A step's parts, as `stepSplit` gives them.
    static let stepParts = ["compute", "exchange", "adam", "sampling", "whole step"]

    /// Milliseconds per step: compute (forward, backward), exchange, Adam, sampling, the whole step.
    func stepSplit(_ r: Benchmark.Result) -> [Double] {
        let t = r.times, n = Double(r.steps)
        return [Benchmark.compute(t), t.exchange, t.adam, t.sampling, t.total].map { 1000 * $0 / n }
    }

    // MARK: - One run on several ranks

    /// A configuration on the gang's R ranks (started by `mpirun -np R`), with
    /// its shards (at least R): first on this rank alone with 1 shard (today's
    /// step, the roofline above) and with those shards (the same bits as on R
    /// ranks), the others waiting; then on all R ranks; then on every rank
    /// alone at once (what R cores give at all, the ceiling of the
    /// speed-up). Prints the speed-ups, the share of that ceiling the gang
    /// reaches, each step's split (compute, exchange: gradients sent and
    /// added in shard order, parameters gathered; Adam; sampling) and each
    /// rank's compute.
    func measureOnRanks(title: String, _ config: RunConfig, gang: MPIGang, _ limits: Limits) throws {
        let R = gang.size
        var sharded = config
        if sharded.shardCount < R { sharded.shards = R }
        if let p = ({ var c = sharded; c.ranks = R; return c }()).problems().first {
            throw ValidationError("\(title): \(p)")
        }
        _ = try gang.comm.broadcast(Array(sharded.json.utf8))
        var whole = config
        whole.shards = nil
        whole.ranks = nil
        let one = try Benchmark.training(whole, seconds: seconds)
        report(title: title + ", 1 rank, 1 shard", whole, one, limits)
        // alone, together, side by side in turn, so that a machine whose speed drifts (a shared VM) moves all alike
        var pairs: [(alone: Benchmark.Result, together: Benchmark.Result)] = []
        var ceilings: [Double] = []  // per round: R independent processes at once over rank 0 alone
        for _ in 0..<rounds {
            let alone = try Benchmark.training(sharded, seconds: seconds)
            try gang.comm.barrierSleeping()
            pairs.append((alone, try Benchmark.training(sharded, seconds: seconds, gang: gang)))
            let rates = try Self.trainSideBySide(sharded, seconds: seconds, gang: gang)
            ceilings.append(rates.reduce(0, +) / alone.sequencesPerSecond)
        }
        let S = sharded.shardCount
        let ratios = pairs.map { $0.together.sequencesPerSecond / $0.alone.sequencesPerSecond }
        let median = ratios.sorted()[ratios.count / 2]
        let (alone, together) = pairs[ratios.firstIndex(of: median)!]
        let list = { (xs: [Double]) in xs.map { String(format: "%.2f", $0) }.joined(separator: ", ") }
        print(String(format: "  on %d ranks, %d shards: %.2fx 1 rank with %d shards (median of %d rounds: %@)",
                     R, S, median, S, rounds, list(ratios)))
        // what R cores give at all: each rank trains the same run on its own, all at once
        let shares = zip(ratios, ceilings).map { $0 / $1 }
        print(String(format: "  %d independent processes at once (no gang): %.2fx 1 alone (median; rounds: %@); the gang reaches %.0f%% of that (median; rounds: %@)",
                     R, ceilings.sorted()[ceilings.count / 2], list(ceilings), 100 * shares.sorted()[shares.count / 2], list(shares)))
        print(String(format: "  median round: %.0f sequences/s on %d ranks, %.0f/s on 1 rank with %d shards; 1 rank with 1 shard: %.0f/s (%.2fx)",
                     together.sequencesPerSecond, R, alone.sequencesPerSecond, S, one.sequencesPerSecond,
                     together.sequencesPerSecond / one.sequencesPerSecond))
        print("  per step (ms)      1 rank, 1 shard   1 rank, \(S) shards   \(R) ranks, \(S) shards")
        let columns = [stepSplit(one), stepSplit(alone), stepSplit(together)]
        for (i, name) in Self.stepParts.enumerated() {
            print(String(format: "  %@ %15.3f %17.3f %19.3f", name.padding(toLength: 16, withPad: " ", startingAt: 0),
                         columns[0][i], columns[1][i], columns[2][i]))
        }
        // rank 0's exchange is mostly waiting at the fences for the slowest member
        print("  compute of each of the \(R) ranks (ms): "
              + together.memberCompute.map { String(format: "%.3f", 1000 * $0) }.joined(separator: ", "))
        let rate = { (r: Benchmark.Result) in
            Benchmark.runRate(trainingRate: r.sequencesPerSecond, evalSeconds: r.evalSeconds, evalInterval: evalInterval)
        }
        print(String(format: "  evaluation %8.3f s on 1 rank, %.3f s on %d; over a run (evaluating every %@ sequences) %.0f/s vs %.0f/s: %.2fx",
                     alone.evalSeconds, together.evalSeconds, R, Format.count(evalInterval), rate(together), rate(alone),
                     rate(together) / rate(alone)))
    }

    /// Every member of `gang` trains `config` on its own, all starting
    /// together (no gang: R independent runs, as a sweep's workers): what R
    /// cores of this machine give at all, the ceiling of a gang's speed-up.
    /// - Returns: every member's sequences/s, in member order.
    static func trainSideBySide(_ config: RunConfig, seconds: Double, gang: MPIGang) throws -> [Double] {
        try gang.comm.barrierSleeping()
        let mine = try Benchmark.training(config, seconds: seconds)
        try gang.comm.barrierSleeping()  // the first done waits asleep, off the other cores
        return try gang.comm.allGather(Int64(mine.sequencesPerSecond * 1000)).map { Double($0) / 1000 }
    }

    /// Ranks 1... of `mpirun -np R iclsweep bench`: each configuration rank 0
    /// sends, trained with it once it has measured alone, then side by side.
    func followMeasurements(_ gang: MPIGang) throws {
        try gang.comm.barrierSleeping()
        let count = try gang.comm.broadcast(Int64(0))
        for _ in 0..<count {
            let config = try RunConfig.fromJSON(String(decoding: try gang.comm.broadcast([]), as: UTF8.self))
            for _ in 0..<rounds {
                try gang.comm.barrierSleeping()
                _ = try Benchmark.training(config, seconds: seconds, gang: gang)
                _ = try Self.trainSideBySide(config, seconds: seconds, gang: gang)
            }
        }
    }

    var cpuModel: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last
        let family = info.split(separator: "\n").first { $0.hasPrefix("cpu family") }?.split(separator: ":").last
        let number = info.split(separator: "\n").first { $0.hasPrefix("model\t") }?.split(separator: ":").last
        return [model, family.map { "family" + $0 }, number.map { "model" + $0 }].compactMap { $0?.trimmingCharacters(in: .whitespaces) }
            .joined(separator: ", ")
    }
}
