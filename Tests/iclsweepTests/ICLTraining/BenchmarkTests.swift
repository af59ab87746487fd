import XCTest
@testable import ICLTraining

/// What `bench` says about the kernels, and its options.
final class BenchmarkTests: XCTestCase {
    func testOldKernelsOnANewerCPUAreWarnedAboutWithTheFix() throws {
        let warning = try XCTUnwrap(Benchmark.blasCoreWarning(core: "Prescott", fmaLanes: 16))
        XCTAssert(warning.contains("runs its Prescott kernels on a CPU with AVX-512"), warning)
        XCTAssert(warning.contains("set OPENBLAS_CORETYPE to SkylakeX (AVX-512) or Haswell (AVX2)"), warning)
        XCTAssert(warning.contains("never changes it"), warning)
        XCTAssertNotNil(Benchmark.blasCoreWarning(core: "Sandybridge", fmaLanes: 8))
        for fitting in ["Cooperlake", "SkylakeX", "Haswell", "Zen"] {
            XCTAssertNil(Benchmark.blasCoreWarning(core: fitting, fmaLanes: 16), fitting)
        }
        XCTAssertNil(Benchmark.blasCoreWarning(core: "Prescott", fmaLanes: 0), "an SSE-only CPU has nothing better")
    }

    /// `--simd-lanes 8` runs the AVX2 variants of the C kernels (the FMA peak
    /// is taken at 8 lanes, the unembedding goes to OpenBLAS) and says so;
    /// one evaluation point is timed and counted in the rate over a run;
    /// options out of range are refused in one line that names the option.
    func testSimdLanesEvaluationAndBadOptions() throws {
        let r = try Launcher.run(["bench", "--seconds", "0.2", "--classes", "100", "--simd-lanes", "8",
                                  "--eval-sequences", "256", "--eval-interval", "3200"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        func number(_ pattern: String) -> Double? {
            guard let range = r.output.range(of: pattern, options: .regularExpression) else { return nil }
            return Double(r.output[range].split(separator: " ").first { Double($0) != nil } ?? "")
        }
        let training = try XCTUnwrap(number(#"throughput +[0-9]+ sequences/s"#), r.output)
        let evaluation = try XCTUnwrap(number(#"evaluation +[0-9.]+ s per evaluation \(6 evaluators x 256 sequences, "#),
                                       r.output)
        let overRun = try XCTUnwrap(number(#"over a run +[0-9]+ sequences/s trained, evaluating every 3,200 sequences"#),
                                    r.output)
        XCTAssertGreaterThan(evaluation, 0)
        XCTAssertGreaterThan(overRun, 0)
        XCTAssertLessThan(overRun, training, "evaluation takes time out of a run")
        // the bound: every product at the sgemm peak plus Adam's own time, and the step against it
        let fma = try XCTUnwrap(number(#"core\): [0-9.]+ GFLOP/s"#), r.output)
        let sgemm = try XCTUnwrap(number(#"thread\): +[0-9.]+ GFLOP/s"#), r.output)
        let flops = try XCTUnwrap(number(#"products +[0-9.e+]+ FLOPs per step"#), r.output)
        let step = try XCTUnwrap(number(#"steps, [0-9.]+ ms/step"#), r.output)
        let adam = try XCTUnwrap(number(#"adam +[0-9.]+ "#), r.output)
        let bound = try XCTUnwrap(number(#"bound +[0-9.]+ ms/step with every product at the sgemm peak and Adam as here: "#),
                                  r.output)
        let share = try XCTUnwrap(number(#"Adam as here: [0-9]+"#), r.output)
        let times = try XCTUnwrap(number(#"this step takes [0-9.]+"#), r.output)
        // (each figure as printed: FLOPs to 3 digits, bound to 0.001 ms, the step to 0.01 ms, shares to 1%)
        XCTAssertEqual(bound, flops / sgemm / 1e6 + adam, accuracy: 0.006 * bound + 0.002, r.output)
        XCTAssertEqual(share, 100 * flops / (bound / 1000) / 1e9 / fma,
                       accuracy: share * (0.0005 / bound + 0.006) + 0.6, r.output)
        XCTAssertEqual(times, step / bound, accuracy: times * (0.005 / step + 0.0005 / bound) + 0.006, r.output)
        XCTAssertGreaterThan(times, 1, "100 classes: products far from the sgemm peak, and more than products and Adam")
        if Benchmark.vectorLanes >= 8 {
            XCTAssert(r.output.contains("FMA peak (register-only loop, 8 lanes, 1 core):"), r.output)
            XCTAssert(r.output.contains("(--simd-lanes 8)"), r.output)
            XCTAssert(r.output.contains("unembedding products:                            OpenBLAS"), r.output)
        }
        XCTAssert(r.output.contains("100 classes, 20 exemplars"), r.output)
        XCTAssertNotNil(r.output.range(of: #"throughput +[0-9]+ sequences/s"#, options: .regularExpression), r.output)

        var refusals = [
            (["--seconds", "0"], "Error: --seconds must be a positive number (got 0.0)"),
            (["--classes", "2"], "Error: --classes must be at least 3 (the query's class and two in context), got 2"),
            (["--simd-lanes", "4"], "Error: --simd-lanes must be 8 (AVX2) or 16 (AVX-512), got 4"),
            (["--eval-sequences", "0"], "Error: --eval-sequences must be a positive number (got 0)"),
            (["--eval-interval=-5"], "Error: --eval-interval must be a positive number (got -5)"),
            (["--shards", "0"], "Error: --shards must be at least 1 (got 0)"),
            (["--shards", "3"], "Error: --shards: 3 does not divide the batch (32) of "),
            (["--spec", "sweeps/paper-suite.yaml", "--run", "13l"], "Error: --run: no run named '13l' in sweeps/paper-suite.yaml"),
        ]
        if Benchmark.vectorLanes < 16 {
            refusals.append((["--simd-lanes", "16"], "Error: --simd-lanes 16 cannot run here: this CPU's widest FMA has"))
        }
        for (args, message) in refusals {
            let bad = try Launcher.run(["bench"] + args, cwd: Launcher.packageRoot, timeout: 60)
            XCTAssertNotEqual(bad.status, 0, args.joined(separator: " "))
            XCTAssert(bad.output.hasPrefix(message), bad.output)
            XCTAssertFalse(bad.output.contains("throughput"), bad.output)
        }
        // under mpirun the other rank waits for rank 0's measurements: a refusal ends it too, at once
        let gang = try Launcher.run(["bench", "--shards", "3", "--classes", "64"], ranks: 2, timeout: 60)
        XCTAssertNotEqual(gang.status, 0)
        XCTAssert(gang.output.contains("Error: --shards: 3 does not divide the batch (32) of 64 classes"), gang.output)
    }

    /// `--run` measures a spec's run on this core whatever ranks the spec
    /// gives it, with its shards or those of `--shards` (here fewer shards
    /// than the spec's ranks: refused by a sweep, fine for a measurement).
    func testARunOfASpecWithItsOwnOrOtherShards() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-run-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("s.yaml").path
        try """
            name: s
            results: s.h5
            data: {synthetic: {classes: 64, exemplars: 20, dim: 32, noise: 0.1, seed: 0}}
            training: {sequences: 64000, eval_interval: 32000}
            runs:
              wide: {variant: bursty, training.shards: 4, training.ranks: 4}
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        for (extra, shards) in [([String](), 4), (["--shards", "2"], 2)] {
            let r = try Launcher.run(["bench", "--seconds", "0.2", "--classes", "16", "--eval-sequences", "20",
                                      "--spec", spec, "--run", "wide"] + extra, timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssert(r.output.contains("1 shard (its training.shards: \(shards))"), r.output)
            XCTAssert(r.output.contains("with its \(shards) shards of \(32 / shards) sequences"), r.output)
            XCTAssertNotNil(r.output.range(of: #"its shards compute at [0-9.]+ of its whole batch's rate \(validate --cluster --shard-efficiency wide=[0-9.]+\)"#,
                                           options: .regularExpression), r.output)
        }
    }

    /// Under `mpirun -np 2`: each round's speed-up of the gang over rank 0
    /// alone, what two independent processes at once give (the ceiling) and
    /// the gang's share of it, which is the one over the other round by
    /// round; and both ranks' compute per step.
    func testOnTwoRanksTheSpeedUpItsCeilingAndEachRanksCompute() throws {
        let r = try Launcher.run(["bench", "--seconds", "0.3", "--classes", "64", "--eval-sequences", "20",
                                  "--rounds", "3", "--shards", "2"], ranks: 2, timeout: 240)
        XCTAssertEqual(r.status, 0, r.output)
        /// The numbers on the line that holds `prefix`, after it.
        func numbers(after prefix: String) throws -> [Double] {
            let line = try XCTUnwrap(r.output.split(separator: "\n").first { $0.contains(prefix) }, prefix + "\n" + r.output)
            return line[line.range(of: prefix)!.upperBound...]
                .split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
        }
        // "on 2 ranks, 2 shards: M x 1 rank with 2 shards (median of 3 rounds: a, b, c)"
        let speedUp = try numbers(after: "on 2 ranks, 2 shards: ")
        XCTAssertEqual(speedUp.count, 1 + 2 + 1 + 3, r.output)  // M, "1 rank with 2", "3 rounds", a, b, c
        let ratios = Array(speedUp.suffix(3))
        XCTAssertEqual(speedUp[0], ratios.sorted()[1], r.output)
        // "2 independent processes at once (no gang): C x 1 alone (median; rounds: c1, c2, c3); the gang reaches P% of that (median; rounds: s1, s2, s3)"
        let ceiling = try numbers(after: "2 independent processes at once (no gang): ")
        XCTAssertEqual(ceiling.count, 1 + 1 + 3 + 1 + 3, r.output)  // C, "1 alone", c1-c3, P, s1-s3
        let ceilings = Array(ceiling[2..<5]), shares = Array(ceiling[6..<9])
        XCTAssertEqual(ceiling[0], ceilings.sorted()[1], r.output)
        XCTAssertEqual(ceiling[5], (100 * shares.sorted()[1]).rounded(), accuracy: 1.01, r.output)
        for i in 0..<3 {
            XCTAssertGreaterThan(ceilings[i], 0.5, r.output)  // two processes together do at least half of one alone's work
            // each printed to 2 decimals: the quotient of the rounded figures within what the roundings allow
            let slack = 0.005 + 0.005 / ceilings[i] + ratios[i] * 0.005 / (ceilings[i] * (ceilings[i] - 0.005)) + 1e-9
            XCTAssertEqual(shares[i], ratios[i] / ceilings[i], accuracy: slack, r.output)
        }
        let computes = try numbers(after: "compute of each of the 2 ranks (ms): ")
        XCTAssertEqual(computes.count, 2, r.output)
        XCTAssert(computes.allSatisfy { $0 > 0 }, r.output)
    }

    /// The rate over a run: an interval of training at the training rate, then one evaluation.
    func testRunRateCountsOneEvaluationPerInterval() {
        XCTAssertEqual(Benchmark.runRate(trainingRate: 10_000, evalSeconds: 1, evalInterval: 100_000),
                       100_000 / 11, accuracy: 1e-9)
        XCTAssertEqual(Benchmark.runRate(trainingRate: 10_000, evalSeconds: 0, evalInterval: 100_000), 10_000)
    }
}
