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
        p.dim = 4; p.seed = seed; p.steps = 3000; p.recordEvery = 100; p.initScale = 0.5; p.learningRate = 0.05
        return p
    }

    func testGradientsMatchFiniteDifferences() {
        let model = ToyModel(parameters())
        let g = model.evaluate()
        let analytic = [g.da, g.db, g.dc, g.dd]
        let h = 1e-6
        for (which, grad) in analytic.enumerated() {
            for i in 0..<4 {
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

    func testBadParametersNameTheOption() {
        var p = ToyModel.Parameters()
        p.dim = 0; p.mu1 = -1; p.learningRate = 0; p.alpha = .nan
        XCTAssertEqual(p.problems(), ["dim must be a positive number (got 0)", "mu1 must be a finite number >= 0 (got -1.0)",
                                      "alpha must be a finite number >= 0 (got nan)", "learning-rate must be a positive finite number (got 0.0)"])
    }
}
