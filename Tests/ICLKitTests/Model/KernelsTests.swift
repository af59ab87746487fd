import CKernels
import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

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

    /// The C kernel (AVX2/AVX-512) and the Swift SIMD kernel agree to the bit,
    /// over lengths that exercise both vector widths and their tails.
    func testCAdamIsBitwiseTheSwiftAdam() throws {
        try XCTSkipUnless(Kernels.vectorC, "this CPU has no AVX2: the Swift kernel runs")
        for n in [1, 7, 8, 15, 16, 17, 33, 1000] {
            var rng = RNG(seed: UInt64(n))
            func random() -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
            let p0 = random(), g0 = random(), m0 = random(), v0 = random().map { $0 * $0 }
            let c = AdamCoefficients<Float>(AdamSettings(learningRate: 3e-4), step: 7)
            var (p2, g2, m2, v2) = (p0, g0, m0, v0)
            Kernels.adam(p: &p2, g: &g2, m: &m2, v: &v2, count: n, c, useC: false)
            var cc = iclsweep_adam_coefficients(b1: c.b1, b2: c.b2, a1: c.a1, a2: c.a2, lr: c.lr, eps: c.eps,
                                                inv_bc1: c.invBc1, inv_bc2: c.invBc2)
            for lanes in [Int32(1), 8] + (iclsweep_fma_lanes() == 16 ? [16] : []) {
                var (p1, g1, m1, v1) = (p0, g0, m0, v0)
                iclsweep_adam_lanes(lanes, &p1, &g1, &m1, &v1, n, &cc)
                XCTAssertEqual(p1.map(\.bitPattern), p2.map(\.bitPattern), "n = \(n), \(lanes) lanes")
                XCTAssertEqual(m1.map(\.bitPattern), m2.map(\.bitPattern), "n = \(n), \(lanes) lanes")
                XCTAssertEqual(v1.map(\.bitPattern), v2.map(\.bitPattern), "n = \(n), \(lanes) lanes")
                XCTAssertEqual(g1, [Float](repeating: 0, count: n))
            }
        }
    }

    /// The C softmax (scalar, AVX2, AVX-512) and the Swift SIMD softmax agree
    /// to the bit: probabilities, maximum and sum, over lengths with tails;
    /// scaled (the loss's gradient) they are the probabilities times the
    /// scale, rounded; without an output, the same maximum and sum.
    func testCSoftmaxIsBitwiseTheSwiftSoftmax() throws {
        try XCTSkipUnless(Kernels.vectorC, "this CPU has no AVX2: the Swift kernel runs")
        for count in [1, 5, 8, 15, 16, 17, 31, 100, 1600, 12_800] {
            var rng = RNG(seed: UInt64(count))
            var z = (0..<count).map { _ in Float(8 * rng.normal()) }
            if count > 20 { z[3] = -300; z[7] = 120 }  // beyond the exp's clamps
            var reference = [Float](repeating: 0, count: count), scaledReference = reference
            let (m, sum) = Kernels.softmaxRow(z, &reference, count: count, useC: false)
            let scale: Float = 1 / 24
            _ = Kernels.softmaxRow(z, &scaledReference, count: count, scale: scale, useC: false)
            XCTAssertEqual(scaledReference.map(\.bitPattern), reference.map { ($0 * scale).bitPattern })
            let (m0, sum0) = Kernels.softmaxRow(z, nil, count: count, useC: false)
            XCTAssertEqual([m0.bitPattern, sum0.bitPattern], [m.bitPattern, sum.bitPattern])
            for lanes in [Int32(1), 8] + (iclsweep_fma_lanes() == 16 ? [16] : []) {
                let label = "count \(count), \(lanes) lanes"
                var p = [Float](repeating: 0, count: count), mc: Float = 0, sc: Float = 0
                iclsweep_softmax_row_lanes(lanes, z, &p, count, 1, &mc, &sc)
                XCTAssertEqual(p.map(\.bitPattern), reference.map(\.bitPattern), label)
                XCTAssertEqual(mc.bitPattern, m.bitPattern, label)
                XCTAssertEqual(sc.bitPattern, sum.bitPattern, label)
                iclsweep_softmax_row_lanes(lanes, z, &p, count, scale, &mc, &sc)
                XCTAssertEqual(p.map(\.bitPattern), scaledReference.map(\.bitPattern), label)
                mc = 0; sc = 0
                iclsweep_softmax_row_lanes(lanes, z, nil, count, scale, &mc, &sc)
                XCTAssertEqual([mc.bitPattern, sc.bitPattern], [m.bitPattern, sum.bitPattern], label)
            }
        }
    }

    /// The unembedding kernels compute, to the bit, the orders unembed.c
    /// documents (each element chains of fused multiply-adds, written out
    /// here in Swift), at 16 lanes and in the one-lane reference, over shapes
    /// with row and column tails and several blocks of classes; and agree
    /// with OpenBLAS to rounding.
    func testUnembedKernelsSumInTheDocumentedOrder() throws {
        try XCTSkipUnless(iclsweep_unembed_kernels() != 0, "this CPU has no AVX-512: OpenBLAS does the unembedding")
        for (B, D, C) in [(32, 64, 1603), (7, 5, 47), (1, 3, 16), (9, 17, 33), (33, 64, 100), (18, 20, 700)] {
            var rng = RNG(seed: UInt64(B * 1000 + C))
            func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
            let h = random(B * D), w = random(D * C), bias = random(C), dl = random(B * C)
            let dw0 = random(D * C), db0 = random(C), dh0 = random(B * D)
            // logits[b, c] = (fma chain over d from 0) + bias[c]
            var logits = [Float](repeating: 0, count: B * C)
            for b in 0..<B {
                for c in 0..<C {
                    var acc: Float = 0
                    for d in 0..<D { acc = acc.addingProduct(h[b * D + d], w[d * C + c]) }
                    logits[b * C + c] = acc + bias[c]
                }
            }
            // dW[d, c] += fma chain over b from 0; dbias[c] += the rows in order
            var dw = dw0, db = db0, dh = dh0
            for d in 0..<D {
                for c in 0..<C {
                    var acc: Float = 0
                    for b in 0..<B { acc = acc.addingProduct(h[b * D + d], dl[b * C + c]) }
                    dw[d * C + c] += acc
                }
            }
            for c in 0..<C { for b in 0..<B { db[c] += dl[b * C + c] } }
            // dh[b, d] += one chain per block of classes: 320, or half of what is left (rounded up) under 640
            var blocks: [Range<Int>] = [], start = 0
            while start < C {
                let left = C - start, length = left >= 640 ? 320 : (left > 320 ? (left + 1) / 2 : left)
                blocks.append(start..<(start + length))
                start += length
            }
            if C == 700 { XCTAssertEqual(blocks, [0..<320, 320..<510, 510..<700]) }
            for b in 0..<B {
                for d in 0..<D {
                    for block in blocks {
                        var acc: Float = 0
                        for c in block { acc = acc.addingProduct(dl[b * C + c], w[d * C + c]) }
                        dh[b * D + d] += acc
                    }
                }
            }
            var scratch = [Float](repeating: .nan, count: Layers.unembedScratch(N: B, C: D))
            for lanes: Int32 in [16, 1] {
                var out = [Float](repeating: .nan, count: B * C), dwK = dw0, dbK = db0, dhK = dh0
                iclsweep_unembed_forward_lanes(lanes, &out, h, w, bias, B, D, C)
                iclsweep_unembed_weight_grad_lanes(lanes, &dwK, &dbK, dl, h, B, D, C)
                iclsweep_unembed_input_grad_lanes(lanes, &dhK, dl, w, &scratch, B, D, C)
                let shape = "\(lanes) lanes, \(B)x\(D)x\(C)"
                XCTAssertEqual(out.map(\.bitPattern), logits.map(\.bitPattern), "forward, \(shape)")
                XCTAssertEqual(dwK.map(\.bitPattern), dw.map(\.bitPattern), "dW, \(shape)")
                XCTAssertEqual(dbK.map(\.bitPattern), db.map(\.bitPattern), "dbias, \(shape)")
                XCTAssertEqual(dhK.map(\.bitPattern), dh.map(\.bitPattern), "dh, \(shape)")
            }
            // the layer as the model calls it against OpenBLAS's linear layer: the C kernels where
            // this process's OpenBLAS kernels sum in their order (Kernels.unembedC), OpenBLAS elsewhere
            var viaLayer = [Float](repeating: 0, count: B * C), viaBLAS = viaLayer
            var dh1 = dh0, dh2 = dh0, dwL = dw0, dwB = dw0, dbL = db0, dbB = db0
            Layers.unembedForward(&viaLayer, h, w, bias, N: B, C: D, OC: C)
            Layers.linearForward(&viaBLAS, h, w, bias, N: B, C: D, OC: C)
            Layers.unembedBackward(&dh1, &dwL, &dbL, dl, h, w, scratch: &scratch, N: B, C: D, OC: C)
            Layers.linearBackward(&dh2, &dwB, &dbB, dl, h, w, N: B, C: D, OC: C)
            let mode = Kernels.unembedC
            XCTAssertEqual(viaLayer.map(\.bitPattern), (mode == .none ? viaBLAS : logits).map(\.bitPattern))
            XCTAssertEqual(dwL.map(\.bitPattern), (mode == .none ? dwB : dw).map(\.bitPattern))
            XCTAssertEqual(dh1.map(\.bitPattern), (mode == .all ? dh : dh2).map(\.bitPattern))
            if B == 32 {  // the batch the orders were matched at: the layer is OpenBLAS to the bit, whichever runs
                XCTAssertEqual(viaLayer.map(\.bitPattern), viaBLAS.map(\.bitPattern), "logits as OpenBLAS's, \(BLAS.coreName)")
                XCTAssertEqual(dwL.map(\.bitPattern), dwB.map(\.bitPattern), "dW as OpenBLAS's, \(BLAS.coreName)")
                XCTAssertEqual(dh1.map(\.bitPattern), dh2.map(\.bitPattern), "dh as OpenBLAS's, \(BLAS.coreName)")
            }
            for (x, y) in zip(viaLayer, viaBLAS) { XCTAssertEqual(x, y, accuracy: 1e-5 * Float(D)) }
            for (x, y) in zip(dwL, dwB) { XCTAssertEqual(x, y, accuracy: 1e-5 * Float(B)) }
            for (x, y) in zip(dbL, dbB) { XCTAssertEqual(x, y, accuracy: 1e-5 * Float(B)) }
            for (x, y) in zip(dh1, dh2) { XCTAssertEqual(x, y, accuracy: 1e-5 * Float(C).squareRoot()) }
        }
    }

    /// The C attention computes what the Swift layer computes, to the bit,
    /// forward and backward, for head sizes 8 and 16 (the unrolled paths) and
    /// 12, and several context lengths.
    func testCAttentionIsBitwiseTheSwiftAttention() {
        for (B, T, D, H) in [(3, 5, 64, 8), (2, 7, 64, 4), (2, 17, 48, 4), (1, 1, 8, 1), (4, 9, 36, 3)] {
            var rng = RNG(seed: UInt64(B * 100 + T))
            func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(2 * rng.normal()) } }
            let qkv = random(B * T * 3 * D), dout = random(B * T * D), dqkv0 = random(B * T * 3 * D)
            var outC = [Float](repeating: .nan, count: B * T * D), outS = outC
            var probsC = [Float](repeating: .nan, count: B * H * T * T), probsS = probsC
            Layers.attentionForward(&outC, &probsC, qkv, B: B, T: T, D: D, H: H)
            Layers.attentionForward(&outS, &probsS, qkv, B: B, T: T, D: D, H: H, useC: false)
            let shape = "\(B)x\(T)x\(D)x\(H)"
            XCTAssertEqual(outC.map(\.bitPattern), outS.map(\.bitPattern), shape)
            XCTAssertEqual(probsC.map(\.bitPattern), probsS.map(\.bitPattern), shape)
            var dC = dqkv0, dS = dqkv0
            Layers.attentionBackward(&dC, dout, qkv, probsS, B: B, T: T, D: D, H: H)
            Layers.attentionBackward(&dS, dout, qkv, probsS, B: B, T: T, D: D, H: H, useC: false)
            XCTAssertEqual(dC.map(\.bitPattern), dS.map(\.bitPattern), shape)
            XCTAssertNotEqual(dC, dqkv0)
        }
    }

    /// The unembedding's products run in C only with the OpenBLAS kernels
    /// whose order of sums they were matched to, and only with AVX-512.
    func testUnembeddingKernelsRunOnlyWhereTheyMatchOpenBLAS() {
        XCTAssertEqual(Kernels.unembedInC(avx512: true, openBLASKernels: "Cooperlake"), .all)
        XCTAssertEqual(Kernels.unembedInC(avx512: true, openBLASKernels: "SkylakeX"), .forwardAndWeights)
        for other in ["Haswell", "Zen", "SapphireRapids", "Prescott"] {
            XCTAssertEqual(Kernels.unembedInC(avx512: true, openBLASKernels: other), .none, other)
        }
        XCTAssertEqual(Kernels.unembedInC(avx512: false, openBLASKernels: "Cooperlake"), .none)
    }
}
