#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif
import CKernels
import Foundation
import ICLSupport

/// Vectorised Float kernels for the two hot loops that are not matrix
/// products: the softmax over the classes and the Adam update. The generic
/// layers call these when `T == Float`; Double (the gradient check) takes
/// the plain scalar path.
package enum Kernels {
    typealias V = SIMD8<Float>

    /// Whether the C kernels (AVX2 or AVX-512, bitwise the same results as
    /// the Swift ones below) run on this CPU.
    static let vectorC = iclsweep_vector_kernels() != 0

    /// Where the unembedding's products can run in C (`unembed.c`, AVX-512)
    /// and still give the bits OpenBLAS gives: with the OpenBLAS kernels whose
    /// order of sums the C kernels follow. OpenBLAS 0.3.21's level-3 driver
    /// splits an inner dimension longer than its GEMM_Q into blocks; the value
    /// is that block (Cooperlake 320, SkylakeX 448), nil for any other kernels
    /// or a CPU without AVX-512.
    package static let unembedBlock = unembedClassBlock(avx512: iclsweep_unembed_kernels() != 0,
                                                        openBLASKernels: BLAS.coreName)

    static func unembedClassBlock(avx512: Bool, openBLASKernels core: String) -> Int? {
        guard avx512 else { return nil }
        switch core {
        case "Cooperlake": return 320
        case "SkylakeX": return 448
        default: return nil
        }
    }

    /// Whether the unembedding of `batch` rows of `width` over `classes` runs
    /// in C: only where OpenBLAS would sum in the C kernels' order. OpenBLAS
    /// sends products of at most 100^3 multiply-adds to small-matrix kernels
    /// with another order, and splits the logits' sums (over the width) and
    /// the weight gradient's (over the batch) when they are longer than its
    /// block; elsewhere it runs OpenBLAS. (Found by comparing bits over
    /// shapes; `KernelsTests` checks the boundaries and the layer against
    /// OpenBLAS.)
    static func unembedInC(batch: Int, width: Int, classes: Int, block: Int? = unembedBlock) -> Bool {
        guard let block else { return false }
        return batch * width * classes > 1_000_000 && batch <= block && width <= block
    }

    /// What decides the last bits of a Float training step in this process,
    /// besides iclsweep's own code: the BLAS and its kernels (on one thread),
    /// where the unembedding runs, and the C library whose libm gives exp,
    /// log, sin and cos. (The other C kernels give the Swift kernels' bits at
    /// every width.) A run resumed in a process with another description
    /// goes on with other last bits than it would have had uninterrupted.
    package static let arithmetic = ProcessInfo.processInfo.environment[testArithmeticVariable]
        ?? ("\(BLAS.version) \(BLAS.coreName) kernels; unembedding "
            + (unembedBlock.map { "in C in blocks of \($0)" } ?? "in OpenBLAS") + "; \(cLibrary) libm")

    /// Whether a run recorded under `recorded` arithmetic continues with the
    /// same bits here. Descriptions written before the C library was part of
    /// them (none ends in "libm") are compared on what they name.
    package static func sameArithmetic(recorded: String, current: String = arithmetic) -> Bool {
        recorded == current || (!recorded.hasSuffix(" libm") && current.hasPrefix(recorded + "; "))
    }

    /// Environment variable (tests only): the process describes its arithmetic
    /// as this, to act as a node of another kind (tests never change OpenBLAS's kernels).
    package static let testArithmeticVariable = "ICLSWEEP_TEST_ARITHMETIC"

    /// A pointer to model scalars as the Float it is (callers check `T == Float`).
    @inline(__always)
    static func f<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
    @inline(__always)
    static func f<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// e^x for 8 lanes: x = n ln2 + r with |r| <= ln2/2, a degree-6
    /// polynomial for e^r, then 2^n built in the exponent bits. Relative
    /// error about 2e-7 over [-87, 88]; inputs below -87 give ~0.
    @inline(__always)
    static func exp(_ x: V) -> V {
        // The standard library's pointwiseMin/Max are not inlined; a masked
        // replace compiles to compare-and-blend.
        let low = V(repeating: -87.3), high = V(repeating: 88.7)
        let x = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // Adding 1.5 * 2^23 rounds to the nearest integer n, which then sits in
        // the low mantissa bits of t: no float-to-int conversion needed.
        let magic = V(repeating: 12_582_912)
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        var r = x - n * 0.693_359_375       // ln2, high part (exact in Float)
        r = r - n * -2.121_944_40e-4        // ln2, low part
        var p: V = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * r * r + r + 1
        let nBits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: V.self)
        return p * scale
    }

    /// Over one row of `count` logits: p = softmax(z) * scale, each element
    /// e / sum rounded, then times `scale` rounded (1 leaves it as it was);
    /// without `p`, only the maximum and the sum, for the loss alone.
    /// Returns (max, sum of exp(z - max)).
    static func softmaxRow(_ z: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>?, count C: Int,
                           scale: Float = 1, useC: Bool = vectorC) -> (Float, Float) {
        if useC {
            var maxValue: Float = 0, sum: Float = 0
            iclsweep_softmax_row(z, p, C, scale, &maxValue, &sum)
            return (maxValue, sum)
        }
        let whole = C / 8 * 8
        var m = V(repeating: -.greatestFiniteMagnitude)
        var i = 0
        let zr = UnsafeRawPointer(z), pr = p.map { UnsafeMutableRawPointer($0) }
        while i < whole {
            let z8 = zr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            m = m.replacing(with: z8, where: z8 .> m)
            i += 8
        }
        var maxValue = m.max()
        for j in whole..<C { maxValue = max(maxValue, z[j]) }
        let mv = V(repeating: maxValue)
        var s = V(repeating: 0)
        i = 0
        while i < whole {
            let e = exp(zr.loadUnaligned(fromByteOffset: i * 4, as: V.self) - mv)
            pr?.storeBytes(of: e, toByteOffset: i * 4, as: V.self)
            s += e
            i += 8
        }
        var sum = s.sum()
        for j in whole..<C {
            let e = exp(V(repeating: z[j] - maxValue))[0]
            p?[j] = e
            sum += e
        }
        guard let p, let pr else { return (maxValue, sum) }
        let inv = V(repeating: 1 / sum), sc = V(repeating: scale)
        i = 0
        while i < whole {
            pr.storeBytes(of: pr.loadUnaligned(fromByteOffset: i * 4, as: V.self) * inv * sc, toByteOffset: i * 4, as: V.self)
            i += 8
        }
        for j in whole..<C { p[j] = p[j] * inv[0] * scale }
        return (maxValue, sum)
    }

    // MARK: - GELU (tanh approximation) as x sigmoid(2u)

    /// gelu(x) = 0.5 x (1 + tanh(u)) = x sigmoid(2u), 2u = x (A + B x^2),
    /// A = 2 sqrt(2/pi), B = A 0.044715 (Float-rounded): no 1 + tanh cancels
    /// for negative x. Within a few ulp of the correctly rounded function
    /// (`KernelsTests` states the bound); the same bits at every width.
    static let geluA: Float = 1.59576917, geluB: Float = 0.0713548139, geluB3: Float = 0.214064449

    /// sigmoid(x (A + B x^2)) for 8 lanes.
    @inline(__always)
    static func geluSigmoid(_ x: V) -> V {
        let z = x * (V(repeating: geluA) + V(repeating: geluB) * (x * x))
        return V(repeating: 1) / (V(repeating: 1) + exp(V(repeating: 0) - z))
    }

    /// out (n) = gelu(inp); in C with AVX2/AVX-512 where the CPU has it.
    static func geluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, count n: Int, useC: Bool = vectorC) {
        if useC { iclsweep_gelu_forward(out, inp, n); return }
        let whole = n / 8 * 8, ir = UnsafeRawPointer(inp), or = UnsafeMutableRawPointer(out)
        var i = 0
        while i < whole {
            let x = ir.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            or.storeBytes(of: x * geluSigmoid(x), toByteOffset: i * 4, as: V.self)
            i += 8
        }
        for j in whole..<n { out[j] = (V(repeating: inp[j]) * geluSigmoid(V(repeating: inp[j])))[0] }
    }

    /// dinp (n) += dout * gelu'(inp), gelu'(x) = s + x s (1 - s) (A + 3B x^2), s = sigmoid(2u).
    static func geluBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                             count n: Int, useC: Bool = vectorC) {
        if useC { iclsweep_gelu_backward(dinp, dout, inp, n); return }
        @inline(__always) func slope(_ x: V) -> V {
            let s = geluSigmoid(x)
            return s + x * s * (V(repeating: 1) - s) * (V(repeating: geluA) + V(repeating: geluB3) * (x * x))
        }
        let whole = n / 8 * 8, ir = UnsafeRawPointer(inp), gr = UnsafeRawPointer(dout), dr = UnsafeMutableRawPointer(dinp)
        var i = 0
        while i < whole {
            let o = i * 4
            let d = dr.loadUnaligned(fromByteOffset: o, as: V.self)
                + gr.loadUnaligned(fromByteOffset: o, as: V.self) * slope(ir.loadUnaligned(fromByteOffset: o, as: V.self))
            dr.storeBytes(of: d, toByteOffset: o, as: V.self)
            i += 8
        }
        for j in whole..<n { dinp[j] = dinp[j] + dout[j] * slope(V(repeating: inp[j]))[0] }
    }

    /// Correctly rounded square root of 8 lanes. The standard library's
    /// SIMD `squareRoot()` runs lane by lane; SSE's `sqrtps` gives the same
    /// IEEE results four at a time.
    @inline(__always)
    static func sqrt(_ x: V) -> V {
        #if arch(x86_64)
        return V(lowHalf: _mm_sqrt_ps(x.lowHalf), highHalf: _mm_sqrt_ps(x.highHalf))
        #else
        return x.squareRoot()
        #endif
    }

    /// `into[i] += from[i]` for `count` elements: one correctly rounded add
    /// each, whatever the vector width (a step's shard gradients, added in shard order).
    package static func add(_ into: UnsafeMutablePointer<Float>, _ from: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { into[i] += from[i] }
    }

    /// Adam over `count` parameters; zeroes the gradients it reads. The
    /// same arithmetic, in the same order, as `adamScalar`, which does the
    /// tail; in C with AVX2/AVX-512 where the CPU has it (`useC`), else here
    /// in 8-lane SIMD (SSE on baseline x86-64).
    static func adam(p: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>,
                     m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
                     _ c: AdamCoefficients<Float>, useC: Bool = vectorC) {
        if useC {
            var cc = iclsweep_adam_coefficients(b1: c.b1, b2: c.b2, a1: c.a1, a2: c.a2, lr: c.lr, eps: c.eps,
                                                inv_bc1: c.invBc1, inv_bc2: c.invBc2)
            iclsweep_adam(p, g, m, v, count, &cc)
            return
        }
        let whole = count / 8 * 8
        let pr = UnsafeMutableRawPointer(p), gr = UnsafeMutableRawPointer(g)
        let mr = UnsafeMutableRawPointer(m), vr = UnsafeMutableRawPointer(v)
        let zero = V(repeating: 0)
        var i = 0
        while i < whole {
            let o = i * 4
            let gi = gr.loadUnaligned(fromByteOffset: o, as: V.self)
            let mi = c.b1 * mr.loadUnaligned(fromByteOffset: o, as: V.self) + c.a1 * gi
            let vi = c.b2 * vr.loadUnaligned(fromByteOffset: o, as: V.self) + c.a2 * gi * gi
            mr.storeBytes(of: mi, toByteOffset: o, as: V.self)
            vr.storeBytes(of: vi, toByteOffset: o, as: V.self)
            let step = c.lr * (mi * c.invBc1) / (sqrt(vi * c.invBc2) + c.eps)
            pr.storeBytes(of: pr.loadUnaligned(fromByteOffset: o, as: V.self) - step, toByteOffset: o, as: V.self)
            gr.storeBytes(of: zero, toByteOffset: o, as: V.self)
            i += 8
        }
        adamScalar(p: p, g: g, m: m, v: v, range: whole..<count, c)
    }
}
