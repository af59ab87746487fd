import Foundation

/// Figures printed by `iclsweep bench`.
public enum Benchmark {
    /// Single-thread sgemm GFLOP/s on 1024^3, best of a few.
    public static func sgemmPeak(n: Int = 1024, repeats: Int = 5) -> Double {
        let a = Buffer<Float>(count: n * n), b = Buffer<Float>(count: n * n), c = Buffer<Float>(count: n * n)
        var rng = RNG(seed: 1)
        for i in 0..<(n * n) { a.pointer[i] = Float(rng.uniform()); b.pointer[i] = Float(rng.uniform()) }
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            gemm(M: n, N: n, K: n, A: a.pointer, B: b.pointer, beta: Float(0), C: c.pointer)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    public struct Result {
        public var parameters: Int
        public var steps: Int
        public var secondsPerStep: Double
        public var sequencesPerSecond: Double
        public var flopsPerStep: Double
        public var gflops: Double
        public var times: StepTimes
        public var adamSeconds: Double
    }

    /// Matrix-product FLOPs of one training step (forward and backward).
    public static func flopsPerStep(_ c: RunConfig) -> Double { c.model.flopsPerStep(batch: c.batch) }

    /// Steady-state training throughput: warm up, then time whole steps.
    public static func training(_ config: RunConfig, seconds: Double) throws -> Result {
        let table = try config.data.table(classes: config.classes, exemplars: config.exemplars)
        let trainer = try Trainer(config: config, table: table)
        for _ in 0..<20 { try trainer.step() }
        trainer.times = StepTimes()
        trainer.adamSeconds = 0
        var steps = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        while elapsed < seconds {
            for _ in 0..<10 { try trainer.step() }
            steps += 10
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        let perStep = elapsed / Double(steps)
        let flops = flopsPerStep(config)
        return Result(parameters: trainer.parameterCount, steps: steps, secondsPerStep: perStep,
                      sequencesPerSecond: Double(config.batch) / perStep, flopsPerStep: flops,
                      gflops: flops / perStep / 1e9, times: trainer.times, adamSeconds: trainer.adamSeconds)
    }
}
