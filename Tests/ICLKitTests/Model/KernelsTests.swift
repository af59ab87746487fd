import XCTest
@testable import ICLKit

final class KernelsTests: XCTestCase {
    func testVectorExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let lanes = Kernels.V((0..<8).map { x + Float($0) * 0.013 })
            let e = Kernels.exp(lanes)
            for i in 0..<8 {
                let reference = Foundation.exp(lanes[i])
                worst = max(worst, abs(e[i] - reference) / reference)
            }
            x += 0.37
        }
        print("vector exp: largest relative error \(worst)")
        XCTAssertLessThan(worst, 4e-7)
        XCTAssertEqual(Kernels.exp(Kernels.V(repeating: -200))[0], 0, accuracy: 1e-37)
    }

    func testSoftmaxRowMatchesScalarAndHandlesTails() {
        for count in [1, 7, 8, 13, 100] {
            var rng = RNG(seed: UInt64(count))
            let z = (0..<count).map { _ in Float(5 * rng.normal()) }
            var p = [Float](repeating: 0, count: count)
            let (m, sum) = Kernels.softmaxRow(z, &p, count: count)
            let zmax = z.max()!
            XCTAssertEqual(m, zmax)
            let ref = z.map { Foundation.exp(Double($0 - zmax)) }
            let total = ref.reduce(0, +)
            XCTAssertEqual(Double(sum), total, accuracy: total * 1e-6)
            for i in 0..<count { XCTAssertEqual(Double(p[i]), ref[i] / total, accuracy: 1e-6) }
        }
    }

    /// The vector Adam path computes exactly what the scalar path computes.
    func testVectorAdamIsBitwiseTheScalarUpdate() {
        let n = 21  // two vectors of 8 and a tail of 5
        var rng = RNG(seed: 3)
        func random() -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
        let p0 = random(), g0 = random(), m0 = random(), v0 = random().map { $0 * $0 }
        var p = p0, g = g0, m = m0, v = v0
        var settings = AdamSettings(learningRate: 1e-3)
        settings.beta2 = 0.99
        let c = AdamCoefficients<Float>(settings, step: 3)
        Kernels.adam(p: &p, g: &g, m: &m, v: &v, count: n, c)
        for i in 0..<n {
            // written out here from the definition, not by calling adamScalar
            let mi = Float(0.9) * m0[i] + Float(1 - 0.9) * g0[i]
            let vi = Float(0.99) * v0[i] + Float(1 - 0.99) * g0[i] * g0[i]
            let bc1 = 1 / Float(1 - pow(0.9, 3.0)), bc2 = Float(1 / (1 - pow(0.99, 3.0)))
            let pi = p0[i] - Float(1e-3) * (mi * bc1) / ((vi * bc2).squareRoot() + Float(1e-8))
            XCTAssertEqual(m[i].bitPattern, mi.bitPattern)
            XCTAssertEqual(v[i].bitPattern, vi.bitPattern)
            XCTAssertEqual(p[i].bitPattern, pi.bitPattern)
            XCTAssertEqual(g[i], 0)
        }
    }
}
