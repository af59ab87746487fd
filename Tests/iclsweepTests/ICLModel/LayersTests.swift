import XCTest
@testable import ICLData
@testable import ICLModel

/// LayerNorm takes its rows' sums 4 rows at a time (one row per SIMD lane);
/// every row must keep the bits of the plain one-row loop written out here,
/// forward and backward, in Float and Double, whatever the row count's
/// remainder by 4.
final class LayersTests: XCTestCase {
    /// The one-row loops LayerNorm had before it took rows 4 at a time.
    enum OneRow {
        static func forward<T: ModelScalar>(_ out: inout [T], _ mean: inout [T], _ rstd: inout [T], _ x: [T],
                                            _ gain: [T], _ bias: [T], N: Int, C: Int) {
            let eps = T(Layers.layerNormEps)
            for n in 0..<N {
                var m: T = 0
                for i in 0..<C { m += x[n * C + i] }
                m /= T(C)
                var v: T = 0
                for i in 0..<C { let d = x[n * C + i] - m; v += d * d }
                v /= T(C)
                let r = 1 / (v + eps).squareRoot()
                for i in 0..<C { out[n * C + i] = (x[n * C + i] - m) * r * gain[i] + bias[i] }
                mean[n] = m
                rstd[n] = r
            }
        }

        static func backward<T: ModelScalar>(_ dx: inout [T], _ dgain: inout [T], _ dbias: inout [T], _ dy: [T], _ x: [T],
                                             _ mean: [T], _ rstd: [T], _ gain: [T], N: Int, C: Int) {
            for n in 0..<N {
                let m = mean[n], r = rstd[n]
                var meanD: T = 0, meanDX: T = 0
                for i in 0..<C {
                    let xhat = (x[n * C + i] - m) * r
                    let dxhat = dy[n * C + i] * gain[i]
                    meanD += dxhat
                    meanDX += dxhat * xhat
                    dgain[i] += dy[n * C + i] * xhat
                    dbias[i] += dy[n * C + i]
                }
                meanD /= T(C)
                meanDX /= T(C)
                for i in 0..<C {
                    let xhat = (x[n * C + i] - m) * r
                    dx[n * C + i] += r * (dy[n * C + i] * gain[i] - meanD - xhat * meanDX)
                }
            }
        }
    }

    /// Each value's sign, exponent and significand bits (so +0 and -0 differ).
    func bits<T: ModelScalar>(_ a: [T]) -> [String] {
        a.map { "\($0.sign == .minus ? "-" : "+")\($0.exponentBitPattern):\($0.significandBitPattern)" }
    }

    func check<T: ModelScalar>(_: T.Type) {
        for (N, C) in [(1, 64), (3, 64), (4, 64), (5, 7), (9, 64), (34, 48), (17, 1)] {
            var rng = RNG(seed: UInt64(N * 100 + C))
            func random(_ n: Int, _ scale: Double = 1, _ shift: Double = 0) -> [T] { (0..<n).map { _ in T(shift + scale * rng.normal()) } }
            let x = random(N * C, 3, 0.5), gain = random(C, 0.5, 1), bias = random(C), dy = random(N * C)
            let dx0 = random(N * C), dgain0 = random(C), dbias0 = random(C)
            var out = [T](repeating: .nan, count: N * C), mean = [T](repeating: .nan, count: N), rstd = mean
            var outR = out, meanR = mean, rstdR = rstd
            Layers.layerNormForward(&out, &mean, &rstd, x, gain, bias, N: N, C: C)
            OneRow.forward(&outR, &meanR, &rstdR, x, gain, bias, N: N, C: C)
            let shape = "\(T.self) \(N)x\(C)"
            XCTAssertEqual(bits(out), bits(outR), "out, \(shape)")
            XCTAssertEqual(bits(mean), bits(meanR), "mean, \(shape)")
            XCTAssertEqual(bits(rstd), bits(rstdR), "rstd, \(shape)")
            var dx = dx0, dgain = dgain0, dbias = dbias0, dxR = dx0, dgainR = dgain0, dbiasR = dbias0
            Layers.layerNormBackward(&dx, &dgain, &dbias, dy, x, mean, rstd, gain, N: N, C: C)
            OneRow.backward(&dxR, &dgainR, &dbiasR, dy, x, meanR, rstdR, gain, N: N, C: C)
            XCTAssertEqual(bits(dx), bits(dxR), "dx, \(shape)")
            XCTAssertEqual(bits(dgain), bits(dgainR), "dgain, \(shape)")
            XCTAssertEqual(bits(dbias), bits(dbiasR), "dbias, \(shape)")
            if C > 1 { XCTAssertNotEqual(dx, dx0, shape) }  // one column: xhat is 0 and dx gets nothing
        }
    }

    func testLayerNormFourRowsAtATimeKeepsEachRowsBits() {
        check(Float.self)
        check(Double.self)
    }
}
