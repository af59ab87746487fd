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
    public static func flopsPerStep(_ c: RunConfig) -> Double {
        let m = c.model, B = Double(c.batch), D = Double(m.width), N = B * Double(m.tokens)
        let exemplarRows = B * Double(m.pairs + 1)
        let embed = 2 * exemplarRows * Double(m.inputDim) * D               // forward + weight gradient
        let layers = Double(m.layers) * 3 * (N * D * 3 * D + N * D * D)     // forward + 2 backward products
        let unembed = 3 * B * D * Double(m.outputs)
        return 2 * (embed + layers + unembed)
    }

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
