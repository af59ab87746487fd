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
        let b1: Float = 0.9, b2: Float = 0.999, lr: Float = 1e-3, invBc1: Float = 1 / 0.19, invBc2: Float = 1 / 0.002
        Kernels.adam(p: &p, g: &g, m: &m, v: &v, count: n, b1: b1, b2: b2, a1: 1 - b1, a2: 1 - b2,
                     lr: lr, invBc1: invBc1, invBc2: invBc2, eps: 1e-8)
        for i in 0..<n {
            let mi = b1 * m0[i] + (1 - b1) * g0[i]
            let vi = b2 * v0[i] + (1 - b2) * g0[i] * g0[i]
            let pi = p0[i] - lr * (mi * invBc1) / ((vi * invBc2).squareRoot() + 1e-8)
            XCTAssertEqual(m[i].bitPattern, mi.bitPattern)
            XCTAssertEqual(v[i].bitPattern, vi.bitPattern)
            XCTAssertEqual(p[i].bitPattern, pi.bitPattern)
            XCTAssertEqual(g[i], 0)
        }
    }
}
