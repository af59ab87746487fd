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
    /// GELU (tanh approximation, computed as x sigmoid(2u) with the exp
    /// polynomial): the C kernels at every width give the Swift kernel's
    /// bits, tails included. Against the function computed in Double: for
    /// |x| <= 1 within 4 ulp (the slope within 8 ulp of the larger of its two
    /// terms, which cancel near x = -0.75); for x >= -10 within 3 + 3|2u| ulp
    /// (slope 6 + 6|2u|), since 2u rounded in Float carries its relative
    /// error times |2u| into sigmoid(2u) where that is small (|2u| = 10 at
    /// x = -3.9, 87 at x = -10, where the result is 1e-37). Below -10 the
    /// exp's clamp at 88.7, shared with the softmax, lets results under
    /// 1e-37 be up to e times too large.
    func testGELUKernelsAgreeAtEveryWidthAndStayWithinAFewUlp() throws {
        guard iclsweep_vector_kernels() != 0 else { throw XCTSkip("no AVX2 here: the Swift kernel runs alone") }
        var rng = RNG(seed: 5)
        let grid = stride(from: -12.0, through: 12.0, by: 0.000_37).map { Float($0) }
        let random = (0..<4099).map { _ in Float(rng.normal() * 3) }
        let inputs = grid + random + [0, -0, 1e-30, -1e-30, 40, -40, 88, -88, .greatestFiniteMagnitude.squareRoot()]
        let dout = inputs.indices.map { Float(sin(Double($0))) }
        for count in [inputs.count, 1, 7, 8, 15, 16, 17, 33] {
            var swift = [Float](repeating: 0, count: count), swiftGrad = [Float](repeating: 0.25, count: count)
            Kernels.geluForward(&swift, inputs, count: count, useC: false)
            Kernels.geluBackward(&swiftGrad, dout, inputs, count: count, useC: false)
            for lanes in [Int32(1), 8] + (iclsweep_fma_lanes() == 16 ? [16] : []) {
                var c = [Float](repeating: 0, count: count), cGrad = [Float](repeating: 0.25, count: count)
                iclsweep_gelu_forward_lanes(lanes, &c, inputs, count)
                iclsweep_gelu_backward_lanes(lanes, &cGrad, dout, inputs, count)
                XCTAssertEqual(c.map(\.bitPattern), swift.map(\.bitPattern), "forward, \(count) values, \(lanes) lanes")
                XCTAssertEqual(cGrad.map(\.bitPattern), swiftGrad.map(\.bitPattern), "backward, \(count) values, \(lanes) lanes")
            }
        }
        func ulps(_ a: Float, _ b: Double) -> Double {
            let r = Float(b)
            return r == a ? 0 : abs(Double(a) - b) / Double(r.ulp)
        }
        var nearZero = 0.0, nearZeroSlope = 0.0, scaled = 0.0, scaledSlope = 0.0
        var out = [Float](repeating: 0, count: inputs.count), grad = [Float](repeating: 0, count: inputs.count)
        Kernels.geluForward(&out, inputs, count: inputs.count, useC: false)
        Kernels.geluBackward(&grad, [Float](repeating: 1, count: inputs.count), inputs, count: inputs.count, useC: false)
        // the function in Double as x sigmoid(2u) (0.5 x (1 + tanh u) cancels in Double too for x < -5)
        let c = (2 / Double.pi).squareRoot(), k = 0.044715
        for (i, xf) in inputs.enumerated() where abs(xf) < 1e18 && xf >= -10 {
            let x = Double(xf), z = 2 * c * (x + k * x * x * x), s = 1 / (1 + Foundation.exp(-z))
            let gelu = x * s, first = s, second = x * s * (1 - s) * 2 * c * (1 + 3 * k * x * x)
            let error = ulps(out[i], gelu)
            // the slope's two terms cancel near x = -0.75: its error in ulp of the larger term
            let slopeError = abs(Double(grad[i]) - (first + second)) / Double(Float(max(abs(first), abs(second))).ulp)
            if abs(xf) <= 1 { nearZero = max(nearZero, error); nearZeroSlope = max(nearZeroSlope, slopeError) }
            // 2u rounded in Float carries about |2u| ulp of relative error into sigmoid(2u) where it is small
            scaled = max(scaled, error / (3 + 3 * abs(z)))
            scaledSlope = max(scaledSlope, slopeError / (6 + 6 * abs(z)))
        }
        print(String(format: "GELU: for |x| <= 1 at most %.2f ulp from the function in Double, slope %.2f ulp of its larger term; "
                     + "for x >= -10 the error is at most %.2f of 3 + 3|2u| ulp, the slope's %.2f of 6 + 6|2u|; %d inputs",
                     nearZero, nearZeroSlope, scaled, scaledSlope, inputs.filter { $0 >= -10 }.count))
        XCTAssertLessThanOrEqual(nearZero, 4)
        XCTAssertLessThanOrEqual(nearZeroSlope, 8)
        XCTAssertLessThanOrEqual(scaled, 1)
        XCTAssertLessThanOrEqual(scaledSlope, 1)
    }

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

    /// The unembedding's products in the order unembed.c documents, written
    /// out in Swift: every element a chain of fused multiply-adds; dh's chains
    /// over blocks of `block` classes.
    struct UnembedReference {
        var logits: [Float], dw: [Float], db: [Float], dh: [Float]

        /// The blocks of classes dh chains over: `block` while 2 blocks or more
        /// remain, then half of what is left rounded up to 16, then the rest.
        static func blocks(classes C: Int, block q: Int) -> [Range<Int>] {
            var blocks: [Range<Int>] = [], start = 0
            while start < C {
                let left = C - start, length = left >= 2 * q ? q : (left > q ? (left / 2 + 15) / 16 * 16 : left)
                blocks.append(start..<(start + length))
                start += length
            }
            return blocks
        }

        init(h: [Float], w: [Float], bias: [Float], dl: [Float], dw0: [Float], db0: [Float], dh0: [Float],
             B: Int, D: Int, C: Int, block: Int) {
            logits = [Float](repeating: 0, count: B * C)
            for b in 0..<B {
                for c in 0..<C {
                    var acc: Float = 0
                    for d in 0..<D { acc = acc.addingProduct(h[b * D + d], w[d * C + c]) }
                    logits[b * C + c] = acc + bias[c]
                }
            }
            dw = dw0; db = db0; dh = dh0
            for d in 0..<D {
                for c in 0..<C {
                    var acc: Float = 0
                    for b in 0..<B { acc = acc.addingProduct(h[b * D + d], dl[b * C + c]) }
                    dw[d * C + c] += acc
                }
            }
            for c in 0..<C { for b in 0..<B { db[c] += dl[b * C + c] } }
            let blocks = Self.blocks(classes: C, block: block)
            for b in 0..<B {
                for d in 0..<D {
                    for range in blocks {
                        var acc: Float = 0
                        for c in range { acc = acc.addingProduct(dl[b * C + c], w[d * C + c]) }
                        dh[b * D + d] += acc
                    }
                }
            }
        }
    }

    /// How many elements differ in their bits (a count reads better than two arrays in a failure).
    func differingBits(_ a: [Float], _ b: [Float]) -> Int {
        a.count == b.count ? zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count : max(a.count, b.count)
    }

    /// The unembedding kernels compute, to the bit, the orders unembed.c
    /// documents, at every width this CPU has (16 lanes, 8, and the one-lane
    /// reference), with the blocks of both kernel sets they follow (320 and
    /// 448 classes), over shapes with row and column tails and several
    /// blocks; so does the weight gradient cut into rectangles, as a gang's
    /// ranks build it. The model's layer gives OpenBLAS's bits in every
    /// shape, from the C kernels where `Kernels.unembedInC` admits the shape
    /// (it then equals the documented order) and from OpenBLAS elsewhere.
    func testUnembedKernelsSumInTheDocumentedOrderAndTheLayerGivesOpenBLASsBits() throws {
        let widths: [Int32] = [1] + (iclsweep_fma_lanes() >= 8 ? [8] : []) + (iclsweep_fma_lanes() == 16 ? [16] : [])
        // OpenBLAS as every command runs it: with more threads it splits the classes differently
        BLAS.forceSingleThread()
        XCTAssertEqual(UnembedReference.blocks(classes: 700, block: 320), [0..<320, 320..<512, 512..<700])
        XCTAssertEqual(UnembedReference.blocks(classes: 1000, block: 448), [0..<448, 448..<736, 736..<1000])
        let shapes = [(32, 64, 1603), (7, 5, 47), (1, 3, 16), (9, 17, 33), (33, 64, 100), (18, 20, 700), (3, 6, 1000),
                      (32, 64, 1000), (32, 64, 488), (32, 64, 489), (32, 336, 100),
                      (4, 64, 4000), (2, 64, 8000)]  // a shard's few sequences: narrow dh, in C
        for (B, D, C) in shapes {
            var rng = RNG(seed: UInt64(B * 1000 + C))
            func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
            let h = random(B * D), w = random(D * C), bias = random(C), dl = random(B * C)
            let dw0 = random(D * C), db0 = random(C), dh0 = random(B * D)
            var scratch = [Float](repeating: .nan, count: Layers.unembedScratch(N: B, C: D))
            var reference: [Int: UnembedReference] = [:]
            for block in [320, 448] {
                let r = UnembedReference(h: h, w: w, bias: bias, dl: dl, dw0: dw0, db0: db0, dh0: dh0,
                                         B: B, D: D, C: C, block: block)
                reference[block] = r
                for lanes in widths {
                    var out = [Float](repeating: .nan, count: B * C), dwK = dw0, dbK = db0, dhK = dh0
                    iclsweep_unembed_forward_lanes(lanes, &out, h, w, bias, B, D, C)
                    iclsweep_unembed_weight_grad_lanes(lanes, &dwK, &dbK, dl, h, B, D, C)
                    iclsweep_unembed_input_grad_lanes(lanes, &dhK, dl, w, &scratch, B, D, C, block)
                    let shape = "\(lanes) lanes, \(B)x\(D)x\(C), blocks of \(block)"
                    XCTAssertEqual(differingBits(out, r.logits), 0, "forward, \(shape)")
                    XCTAssertEqual(differingBits(dwK, r.dw), 0, "dW, \(shape)")
                    XCTAssertEqual(differingBits(dbK, r.db), 0, "dbias, \(shape)")
                    XCTAssertEqual(differingBits(dhK, r.dh), 0, "dh, \(shape)")
                    // dW in rectangles: rows cut in three, classes at 5 and at a third (the gang's cuts are any)
                    var dwR = dw0
                    let rowCuts = Set([0, D / 3, D / 2, D]).sorted(), columnCuts = Set([0, min(5, C), C / 3, C]).sorted()
                    for (d0, d1) in zip(rowCuts, rowCuts.dropFirst()) {
                        for (c0, c1) in zip(columnCuts, columnCuts.dropFirst()) {
                            iclsweep_unembed_weight_grad_rect_lanes(lanes, &dwR, dl, h, B, D, C, d0, d1, c0, c1)
                        }
                    }
                    XCTAssertEqual(differingBits(dwR, r.dw), 0, "dW in rectangles, \(shape)")
                }
            }
            // the layer as the model calls it against OpenBLAS's linear layer
            var viaLayer = [Float](repeating: 0, count: B * C), viaBLAS = viaLayer
            var dh1 = dh0, dh2 = dh0, dwL = dw0, dwB = dw0, dbL = db0, dbB = db0
            Layers.unembedForward(&viaLayer, h, w, bias, N: B, C: D, OC: C)
            Layers.linearForward(&viaBLAS, h, w, bias, N: B, C: D, OC: C)
            Layers.unembedBackward(&dh1, &dwL, &dbL, dl, h, w, scratch: &scratch, N: B, C: D, OC: C)
            Layers.linearBackward(&dh2, &dwB, &dbB, dl, h, w, N: B, C: D, OC: C)
            let shape = "\(B)x\(D)x\(C), OpenBLAS kernels \(BLAS.coreName)"
            XCTAssertEqual(differingBits(viaLayer, viaBLAS), 0, "logits as OpenBLAS's, \(shape)")
            XCTAssertEqual(differingBits(dwL, dwB), 0, "dW as OpenBLAS's, \(shape)")
            XCTAssertEqual(differingBits(dbL, dbB), 0, "dbias as OpenBLAS's, \(shape)")
            XCTAssertEqual(differingBits(dh1, dh2), 0, "dh as OpenBLAS's, \(shape)")
            if Kernels.unembedInC(batch: B, width: D, classes: C), let block = Kernels.unembedBlock,
               let r = reference[block] {
                XCTAssertEqual(differingBits(viaLayer, r.logits), 0, "C logits, \(shape)")
                XCTAssertEqual(differingBits(dwL, r.dw), 0, "C dW, \(shape)")
                XCTAssertEqual(differingBits(dh1, r.dh), 0, "C dh, \(shape)")
            }
        }
    }

    /// The C attention computes what the Swift layer computes, to the bit,
    /// forward and backward, for head sizes 8 and 16 (the unrolled paths) and
    /// 12, and context lengths from 1 to 33 (keys 8 at a time: one block, a
    /// tail, several blocks); and with 64 heads of one over 65 tokens, whose
    /// 137,280 scores a sequence take their exponentials a row at a time.
    func testCAttentionIsBitwiseTheSwiftAttention() {
        for (B, T, D, H) in [(3, 5, 64, 8), (2, 7, 64, 4), (2, 17, 48, 4), (1, 1, 8, 1), (4, 9, 36, 3),
                             (2, 17, 64, 8), (2, 20, 64, 8), (1, 33, 64, 4), (2, 8, 32, 2), (1, 65, 64, 64)] {
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

    /// The attention's exponentials, 8 at a time through glibc's expf
    /// algorithm, are this C library's expf to the bit: over every 4,093rd
    /// float (all signs, subnormals, |x| >= 88, infinities, NaNs), every
    /// 8th in (-1, -0.5] and every 1,021st in (-0.5, 0], where most shifted
    /// scores lie. (All 2,237,661,184 floats with |x| < 88 were compared once,
    /// outside the suite: equal.) On this project's
    /// platform (x86-64 with AVX2 and FMA, Debian's glibc) they run as vectors.
    func testAttentionExponentialsAreTheCLibrarysExpf() {
        var inputs: [Float] = []
        for u in stride(from: UInt64(0), through: 0xffff_ffff, by: 4093) { inputs.append(Float(bitPattern: UInt32(u))) }
        for u in stride(from: UInt32(0xbf00_0000), to: 0xbf80_0000, by: 8) { inputs.append(Float(bitPattern: u)) }  // (-1, -0.5]
        for u in stride(from: UInt32(0x8000_0000), to: 0xbf00_0000, by: 1021) { inputs.append(Float(bitPattern: u)) }  // (-0.5, -0]
        inputs += [.infinity, -.infinity, .nan, 88, -88, 88.72283, -103.97208, -103.27892, -87.99999, 0, -0]
        var out = inputs
        iclsweep_expf(&out, inputs.count)
        var differing = 0
        for (x, y) in zip(inputs, out) where !(y.bitPattern == Foundation.exp(x).bitPattern || (y.isNaN && x.isNaN)) {
            if differing < 5 { XCTFail("exp(\(x)): \(y), expf \(Foundation.exp(x))") }
            differing += 1
        }
        XCTAssertEqual(differing, 0, "of \(inputs.count)")
        #if arch(x86_64)
        if iclsweep_fma_lanes() >= 8 {
            XCTAssertEqual(iclsweep_expf_vector(), 1, "AVX2 and FMA, yet the vector exponentials differ from expf")
        }
        #endif
    }

    /// The unembedding's products run in C only with the OpenBLAS kernels
    /// whose order of sums they follow, only with AVX-512, and only for the
    /// shapes in which those kernels take that order.
    func testUnembeddingKernelsRunOnlyWhereTheyMatchOpenBLAS() {
        XCTAssertEqual(Kernels.unembedClassBlock(avx512: true, openBLASKernels: "Cooperlake"), 320)
        XCTAssertEqual(Kernels.unembedClassBlock(avx512: true, openBLASKernels: "SkylakeX"), 448)
        for other in ["Haswell", "Zen", "SapphireRapids", "Prescott"] {
            XCTAssertNil(Kernels.unembedClassBlock(avx512: true, openBLASKernels: other), other)
        }
        XCTAssertNil(Kernels.unembedClassBlock(avx512: false, openBLASKernels: "Cooperlake"))
        // the paper's shape; OpenBLAS's small-matrix kernels up to 100^3 multiply-adds
        XCTAssertTrue(Kernels.unembedInC(batch: 32, width: 64, classes: 12_800, block: 320))
        XCTAssertTrue(Kernels.unembedInC(batch: 32, width: 64, classes: 489, block: 320))
        XCTAssertFalse(Kernels.unembedInC(batch: 32, width: 64, classes: 488, block: 320))
        XCTAssertFalse(Kernels.unembedInC(batch: 32, width: 64, classes: 12_800, block: nil))
        // sums over the width (logits) and the batch (dW) that OpenBLAS would split
        XCTAssertTrue(Kernels.unembedInC(batch: 320, width: 320, classes: 1_600, block: 320))
        XCTAssertFalse(Kernels.unembedInC(batch: 32, width: 321, classes: 1_600, block: 320))
        XCTAssertFalse(Kernels.unembedInC(batch: 321, width: 64, classes: 1_600, block: 320))
        XCTAssertTrue(Kernels.unembedInC(batch: 448, width: 448, classes: 1_600, block: 448))
        XCTAssertFalse(Kernels.unembedInC(batch: 32, width: 449, classes: 1_600, block: 448))
    }
}
