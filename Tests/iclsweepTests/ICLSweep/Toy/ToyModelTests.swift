import XCTest
@testable import ICLData
@testable import ICLSupport
@testable import ICLTraining
@testable import ICLSweep

/// The paper's minimal model (Section 6): its gradients against finite
/// differences, its loss falling, and its curves reproducible for a seed.
final class ToyModelTests: XCTestCase {
    func parameters(seed: UInt64 = 3) -> ToyModel.Parameters {
        var p = ToyModel.Parameters()
        p.dims = [4, 3, 5, 7]; p.seed = seed; p.steps = 3000; p.recordEvery = 100; p.initScale = 0.5; p.learningRate = 0.05
        p.mu2 = 0.01; p.alpha = 1
        return p
    }

    func testGradientsMatchFiniteDifferences() {
        let model = ToyModel(parameters())
        let g = model.evaluate()
        let analytic = [g.da, g.db, g.dc, g.dd]
        let h = 1e-6
        for (which, grad) in analytic.enumerated() {
            for i in grad.indices {
                func shifted(_ delta: Double) -> Double {
                    var m = model
                    switch which {
                    case 0: m.a[i] += delta
                    case 1: m.b[i] += delta
                    case 2: m.c[i] += delta
                    default: m.d[i] += delta
                    }
                    return m.loss
                }
                let numeric = (shifted(h) - shifted(-h)) / (2 * h)
                XCTAssertEqual(grad[i], numeric, accuracy: 1e-7 + 1e-5 * abs(numeric), "vector \(which), entry \(i)")
            }
        }
    }

    func testLossFallsAndCurvesAreReproducible() throws {
        var one = ToyModel(parameters()), two = ToyModel(parameters()), other = ToyModel(parameters(seed: 4))
        let a = try one.run(), b = try two.run(), c = try other.run()
        XCTAssertEqual(a, b, "the same seed gives the same curves")
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.map(\.step).first, 0)
        XCTAssertEqual(a.map(\.step).last, 3000)
        XCTAssertLessThan(a.last!.loss, a.first!.loss * 0.5, "the loss falls")
        for (p, q) in zip(a, a.dropFirst()) { XCTAssertLessThanOrEqual(q.loss, p.loss * (1 + 1e-9), "gradient descent at a small step never climbs") }
    }

    func testDivergenceIsReportedNotWritten() {
        var p = parameters()
        p.learningRate = 1e4
        var model = ToyModel(p)
        XCTAssertThrowsError(try model.run()) { XCTAssert("\($0)".hasPrefix("training diverged"), "\($0)") }
    }

    /// The authors' setting (the defaults: dims 20,20,20,160, mu1 0.1, mu2 0,
    /// alpha 0.1, lr 1, up to 16,000 steps, stop at L < 1e-6): the loss is
    /// theirs written out, and the integration stops at the threshold.
    func testTheAuthorsSettingIsTheDefault() throws {
        let p = ToyModel.Parameters()
        XCTAssertEqual(p.dims, [20, 20, 20, 160]); XCTAssertEqual(p.mu1, 0.1); XCTAssertEqual(p.mu2, 0); XCTAssertEqual(p.alpha, 0.1)
        XCTAssertEqual(p.learningRate, 1); XCTAssertEqual(p.steps, 16_000); XCTAssertEqual(p.threshold, 1e-6); XCTAssertEqual(p.initScale, 1)
        let m = ToyModel(p)
        // L1 and the cost by their definitions, as mean over every entry of the tensors
        var l1 = 0.0
        for i in 0..<20 { for j in 0..<20 { for k in 0..<20 {
            let e = m.targetA[i] * m.targetB[j] * m.targetC[k] - m.a[i] * m.b[j] * m.c[k]
            l1 += 0.5 * e * e / 8000
        } } }
        var cost = 0.0
        for i in 0..<20 { for l in 0..<160 { cost += 0.5 * (m.a[i] * m.d[l]) * (m.a[i] * m.d[l]) / 3200 } }
        let e = m.evaluate().point
        XCTAssertEqual(e.l1, l1, accuracy: 1e-12 * max(1, l1))
        XCTAssertEqual(e.cost, cost, accuracy: 1e-12 * max(1, cost))
        XCTAssertEqual(e.loss, (e.l1 + 0.1) * e.l2 + 0.1 * e.cost, accuracy: 1e-12)
        var q = p
        q.threshold = e.loss * 0.9; q.steps = 100_000
        var stopping = ToyModel(q)
        let points = try stopping.run()
        XCTAssertLessThan(points.last!.loss, q.threshold)
        XCTAssertGreaterThanOrEqual(points.dropLast().last!.loss, q.threshold, "stops at the first step below the threshold")
    }

    /// The transient detector: a plateau, a dip 10x below it, a return.
    func testTheTransientIsFoundOnlyWhenL1DipsAndReturns() {
        func points(_ l1: [Double]) -> [ToyModel.Point] {
            l1.enumerated().map { ToyModel.Point(step: $0.offset * 100, loss: 0, l1: $0.element, l2: 0, cost: 0, normA: 0, normD: 0,
                                                  explained1: 0, explained2: 0) }
        }
        let shape = [1.0, 0.4, 0.23, 0.23, 0.22, 0.23, 0.1, 0.01, 0.003, 0.05, 0.15, 0.22]
        let t = ToyModel.transient(points(shape))
        XCTAssertEqual(t?.dipStep, 800); XCTAssertEqual(t?.returnStep, 1100); XCTAssertEqual(t?.plateau, 0.4, "the highest from step 50 to the dip")
        XCTAssertNil(ToyModel.transient(points([1.0, 0.4, 0.23, 0.23, 0.1, 0.01, 0.003, 0.002])), "no return")
        XCTAssertNil(ToyModel.transient(points([1.0, 0.4, 0.23, 0.23, 0.1, 0.05, 0.2])), "no 10x dip")
    }

    func testBadParametersNameTheOption() {
        var p = ToyModel.Parameters()
        p.dims = [20, 0, 20]; p.mu1 = -1; p.learningRate = 0; p.alpha = .nan
        XCTAssertEqual(p.problems(), ["dims must be four positive lengths, of a, b, c and d (got 20,0,20)", "mu1 must be a finite number >= 0 (got -1.0)",
                                      "alpha must be a finite number >= 0 (got nan)", "learning-rate must be a positive finite number (got 0.0)"])
    }
}
