import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Every gradient tensor against central finite differences, in Double: the
/// paper's 2-layer attention-only model, and a deeper one with MLPs and
/// sinusoidal positions (its 12-layer model's layers, at a checkable size).
final class TransformerGradientTests: XCTestCase {
    var config = ModelConfig(inputDim: 6, labels: 5, width: 8, heads: 2, layers: 2, pairs: 2, maxPositions: 6)

    /// 3 layers, each with an MLP of width ratio 2, sinusoidal positions, 3 context pairs.
    static let deeper: ModelConfig = {
        var c = ModelConfig(inputDim: 6, labels: 5, width: 8, heads: 2, layers: 3, pairs: 3, maxPositions: 7)
        c.mlpRatio = 2
        c.positional = .sinusoidal
        return c
    }()

    func testDeeperModelWithMLPsAndSinusoidalPositions() {
        config = Self.deeper
        XCTAssertEqual(ParameterLayout(config).tensors.filter { $0.name.contains("mlp") }.count, 3 * 6)
        XCTAssertFalse(ParameterLayout(config).tensors.contains(.positions), "sinusoidal positions have no table")
        testEveryGradientTensorMatchesCentralDifferences()
        testFloatGradientsAgreeWithDouble()
    }

    func makeProblem<T: ModelScalar>(_: T.Type) -> (Transformer<T>, ParameterSet<T>, Workspace<T>, Batch, FeatureTable) {
        let layout = ParameterLayout(config)
        let params = ParameterSet<T>(layout)
        params.initialize(seed: 3)
        // Move every parameter off its special initial value (gains 1, biases 0).
        var rng = RNG(seed: 99)
        for i in 0..<layout.count { params.storage.pointer[i] += T(0.3 * rng.normal()) }
        let table = SyntheticData(classes: 5, exemplars: 3, dim: 6, noise: 0.5, seed: 1).table(classes: 5, exemplars: 3)
        var batch = Batch(size: 4, pairs: config.pairs)
        let sampler = SequenceSampler(classes: 5, exemplars: 3, tableExemplars: 3, pairs: config.pairs, relabelSet: 5)
        var srng = RNG(seed: 5)
        sampler.fill(&batch, kind: .train(.bursty), rng: &srng)
        return (Transformer(config: config), params, Workspace(config, batch: 4), batch, table)
    }

    func testEveryGradientTensorMatchesCentralDifferences() {
        let (model, params, ws, batch, table) = makeProblem(Double.self)
        let grads = ParameterSet<Double>(params.layout)
        model.forward(params, ws, batch: batch, table: table, gradient: true)
        model.backward(params, grads, ws, batch: batch)

        let h = 1e-6
        var worst = 0.0
        for tensor in params.layout.tensors {
            let analytic = grads.values(tensor)
            let scale = max(analytic.map(abs).max()!, 1e-12)
            var maxError = 0.0
            for i in 0..<analytic.count {
                let saved = params[tensor][i]
                params[tensor][i] = saved + h
                let up = model.forward(params, ws, batch: batch, table: table)
                params[tensor][i] = saved - h
                let down = model.forward(params, ws, batch: batch, table: table)
                params[tensor][i] = saved
                let numeric = (up - down) / (2 * h)
                maxError = max(maxError, abs(numeric - analytic[i]) / scale)
            }
            print(String(format: "grad check %-26@ max |numeric - analytic| / max|analytic| = %.2e (max|g| %.2e)",
                         tensor.name as NSString, maxError, scale))
            XCTAssertGreaterThan(scale, 1e-6, "\(tensor.name): gradient is all zero, the check would be empty")
            XCTAssertLessThan(maxError, 1e-6, "\(tensor.name)")
            worst = max(worst, maxError)
        }
        print(String(format: "grad check: largest relative error over all tensors %.2e", worst))
    }


    /// The Float model computes the same gradients as the Double one.
    func testFloatGradientsAgreeWithDouble() {
        let (md, pd, wd, batch, table) = makeProblem(Double.self)
        let (mf, pf, wf, _, _) = makeProblem(Float.self)
        let gd = ParameterSet<Double>(pd.layout), gf = ParameterSet<Float>(pf.layout)
        let ld = md.forward(pd, wd, batch: batch, table: table, gradient: true)
        let lf = mf.forward(pf, wf, batch: batch, table: table, gradient: true)
        md.backward(pd, gd, wd, batch: batch)
        mf.backward(pf, gf, wf, batch: batch)
        XCTAssertEqual(ld, lf, accuracy: 1e-4 * abs(ld))
        for tensor in pd.layout.tensors {
            let a = gd.values(tensor), b = gf.values(tensor).map(Double.init)
            let scale = max(a.map(abs).max()!, 1e-12)
            let err = zip(a, b).map { abs($0 - $1) }.max()! / scale
            XCTAssertLessThan(err, 1e-3, tensor.name)
        }
    }
}
