import COpenBLAS
import CKernels
import Foundation
import ICLSupport
import ICLData
import ICLModel

/// Figures printed by `iclsweep bench`: the limits of this core (FMA peak,
/// sgemm peak, copy bandwidth), the BLAS kernels in use, and training
/// throughput with the work and time of every phase of a step.
public enum Benchmark {
    // MARK: - The core's limits

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

    /// The core's single-precision FMA peak in GFLOP/s, from a register-only
    /// loop of the widest FMA the CPU has (`CKernels`), best of 3; and that width
    /// in float lanes (0: no FMA, peak unknown).
    public static func fmaPeak() -> (gflops: Double, lanes: Int) {
        let lanes = Int(iclsweep_fma_lanes())
        guard lanes > 0 else { return (.nan, 0) }
        let iterations = 50_000_000
        var best = Double.infinity, sink: Float = 0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            sink += iclsweep_fma_loop(iterations)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        precondition(sink != 0, "the FMA loop must have run")
        return (Double(iterations) * 12 * Double(lanes) * 2 / best / 1e9, lanes)
    }

    /// Single-core copy bandwidth in GB/s (bytes read plus bytes written),
    /// best of 5: 256 MiB for main memory; a size like a working set (Adam's
    /// 28 MB at the paper's scale) may sit in the last-level cache instead.
    public static func copyBandwidth(bytes: Int = 256 << 20) -> Double {
        let count = bytes / 4
        let a = Buffer<Float>(count: count), b = Buffer<Float>(count: count)
        for i in stride(from: 0, to: count, by: 1024) { a.pointer[i] = 1; b.pointer[i] = 0 }  // touch every page
        var best = Double.infinity
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            b.pointer.update(from: a.pointer, count: count)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return 2 * Double(bytes) / best / 1e9
    }

    // MARK: - The kernels in use

    /// Float lanes of the C kernels: the widest FMA of this CPU, or less after `limitVectorLanes`.
    public static var vectorLanes: Int { Int(iclsweep_fma_lanes()) }

    /// Runs the C kernels no wider than `lanes` (8: the AVX2 variants on an
    /// AVX-512 CPU). Only before the first training step of the process.
    public static func limitVectorLanes(to lanes: Int) { iclsweep_limit_lanes(Int32(lanes)) }

    // MARK: - The BLAS in use

    /// The kernels OpenBLAS chose for this CPU (or was told to use by `OPENBLAS_CORETYPE`).
    public static var blasCore: String { BLAS.coreName }

    /// Where the unembedding's products run (`Kernels.unembedInC`): in C for
    /// the shapes where their order of sums is that of the OpenBLAS kernels in
    /// use, in OpenBLAS elsewhere.
    public static var unembeddingProducts: String {
        guard let block = Kernels.unembedBlock else {
            return iclsweep_unembed_kernels() != 0
                ? "OpenBLAS (the C kernels follow only the Cooperlake and SkylakeX kernels' order)"
                : "OpenBLAS (the C kernels need AVX-512)"
        }
        return "C (AVX-512, in the order of OpenBLAS's \(blasCore) kernels) where batch x width x classes > 10^6 "
            + "and batch, width <= \(block); OpenBLAS elsewhere"
    }

    /// A warning when OpenBLAS runs kernels for an older instruction set than
    /// this CPU has, with what to do; nil when the kernels fit.
    public static func blasCoreWarning(core: String = blasCore, fmaLanes: Int = fmaPeak().lanes) -> String? {
        let sseOnly = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Nano", "Opteron", "Barcelona",
                       "Bobcat", "Katmai", "Coppermine", "Northwood", "Banias", "Athlon"]
        let avxNoFMA = ["Sandybridge", "Bulldozer"]
        let generic = sseOnly.contains(core) || (avxNoFMA.contains(core) && fmaLanes >= 8)
        guard generic && fmaLanes >= 8 else { return nil }
        let better = fmaLanes == 16 ? "SkylakeX (AVX-512) or Haswell (AVX2)" : "Haswell (AVX2)"
        var text = "warning: OpenBLAS runs its \(core) kernels on a CPU with \(fmaLanes == 16 ? "AVX-512" : "AVX2 and FMA"): "
            + "sgemm may be several times slower than it could be (33 vs 170 GFLOP/s measured on one such machine). "
            + "If your site has not set OPENBLAS_CORETYPE on purpose (some OpenBLAS builds compute wrong results or crash "
            + "on some new CPUs), set OPENBLAS_CORETYPE to \(better) in the job and check results; iclsweep never changes it."
        if let set = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] { text += " (OPENBLAS_CORETYPE=\(set) is set here.)" }
        return text
    }

    // MARK: - Training

    public struct Result {
        public var parameters: Int
        public var steps: Int
        public var secondsPerStep: Double
        public var sequencesPerSecond: Double
        public var flopsPerStep: Double
        public var gflops: Double
        public var times: StepTimes
        public var work: StepWork
        /// One evaluation point: every applicable evaluator on its
        /// `evalSequences` sequences (forward passes, accuracies, mechanism measures).
        public var evalSeconds: Double
        /// Trained by a gang: each member's compute per step (seconds; what
        /// `StepTimes` counts outside exchange, Adam and sampling), in member
        /// order, so that a member waiting in the exchange can be told from
        /// a slower one. Empty on one rank.
        public var memberCompute: [Double] = []
    }

    /// A step's compute: forward, backward and the sums in shard order (all but exchange, Adam and sampling).
    public static func compute(_ t: StepTimes) -> Double { t.total - t.exchange - t.adam - t.sampling }

    /// The shortest a step could take on this core by its own figures: every
    /// matrix product at the sgemm peak (GFLOP/s) and Adam, which streams the
    /// parameters, both moments and the gradient through memory, as long as it
    /// took (seconds per step); nothing else (attention, softmax, norms,
    /// sampling) costing anything. The FMA-peak share a configuration can
    /// reach here is at most its products' FLOPs over this time.
    public static func boundSeconds(flopsPerStep: Double, sgemmGflops: Double, adamSeconds: Double) -> Double {
        flopsPerStep / (sgemmGflops * 1e9) + adamSeconds
    }

    /// Training sequences per second over a whole run that evaluates every
    /// `evalInterval` sequences, each evaluation taking `evalSeconds`.
    public static func runRate(trainingRate: Double, evalSeconds: Double, evalInterval: Int) -> Double {
        Double(evalInterval) / (Double(evalInterval) / trainingRate + evalSeconds)
    }

    /// Matrix-product FLOPs of one training step (forward and backward).
    public static func flopsPerStep(_ c: RunConfig) -> Double { c.model.flopsPerStep(batch: c.batch) }

    /// Steady-state training throughput: warm up, then time whole steps
    /// (as many as fill `seconds`, from 10 timed first); then one evaluation
    /// point, as a run takes it every `evalInterval`. With `gang`, its members
    /// train the run together (each calls this), on the step count its leader
    /// chose.
    public static func training(_ config: RunConfig, seconds: Double, gang: MPIGang? = nil) throws -> Result {
        let table = try config.data.table(classes: config.classes, exemplars: config.exemplars)
        let trainer = try Trainer(config: config, table: table, gang: gang)
        for _ in 0..<20 { try trainer.step() }
        let probe = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<10 { try trainer.step() }
        let probeSeconds = Double(DispatchTime.now().uptimeNanoseconds - probe) * 1e-9 / 10
        var steps = max(10, Int(seconds / probeSeconds))
        if let gang { steps = Int(try gang.comm.broadcast(Int64(steps))) }
        trainer.times = StepTimes()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { try trainer.step() }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let perStep = elapsed / Double(steps)
        let flops = flopsPerStep(config)
        let evalStart = DispatchTime.now().uptimeNanoseconds
        _ = try trainer.evaluate()
        let evalSeconds = Double(DispatchTime.now().uptimeNanoseconds - evalStart) * 1e-9
        try trainer.release()
        let computes = try gang.map { try $0.comm.allGather(Int64(compute(trainer.times) / Double(steps) * 1e9)) } ?? []
        return Result(parameters: trainer.parameterCount, steps: steps, secondsPerStep: perStep,
                      sequencesPerSecond: Double(config.batch) / perStep, flopsPerStep: flops,
                      gflops: flops / perStep / 1e9, times: trainer.times,
                      work: StepWork(config.model, batch: config.batch, parameters: trainer.parameterCount),
                      evalSeconds: evalSeconds, memberCompute: computes.map { Double($0) * 1e-9 })
    }
}

/// The work of each phase of one training step, for the roofline: FLOPs of
/// the products and of attention, bytes moved by the loss and by Adam.
public struct StepWork {
    public var embeddingFlops: Double
    public var layerFlops: Double
    public var attentionFlops: Double
    public var unembeddingFlops: Double
    public var backwardFlops: Double
    /// Logits read twice (maximum, exponentials), the gradient written, then read and written scaled.
    public var lossBytes: Double
    /// Parameters, gradients and both moments read; parameters, moments and zeroed gradients written.
    public var adamBytes: Double
    /// The MLPs' two products per layer, forward and (twice) backward.
    public var mlpFlops: Double
    /// GELU: forward reads and writes N x hidden; backward reads the input and
    /// the gradient and reads and writes the input's gradient.
    public var geluBytes: Double

    public init(_ m: ModelConfig, batch: Int, parameters: Int) {
        let B = Double(batch), D = Double(m.width), T = Double(m.tokens), N = B * T, C = Double(m.outputs)
        let rows = B * Double(m.pairs + 1)
        embeddingFlops = 2 * rows * Double(m.inputDim) * D
        layerFlops = Double(m.layers) * 2 * (N * D * 3 * D + N * D * D)
        unembeddingFlops = 2 * B * D * C
        backwardFlops = embeddingFlops + 2 * layerFlops + 2 * unembeddingFlops
        // scores and weighted sums over the causal half, forward; twice that backward
        attentionFlops = 3 * Double(m.layers) * 2 * 2 * B * D * T * (T + 1) / 2
        lossBytes = 5 * B * C * 4
        adamBytes = 8 * Double(parameters) * 4
        let hidden = N * Double(m.mlpRatio) * D
        mlpFlops = Double(m.layers) * 3 * 2 * (2 * hidden * D)
        geluBytes = Double(m.layers) * (2 + 4) * hidden * 4
    }
}
