import CKernels

/// The layers of the model, each forward beside its backward. Argument
/// order is fixed: outputs first, then inputs, then parameters, then sizes.
/// Every backward accumulates into gradients the caller zeroed.
package enum Layers {

    // MARK: - Linear: out = inp @ weight + bias

    /// out (N, OC), inp (N, C), weight (C, OC), bias (OC) or nil
    static func linearForward<T: ModelScalar>(
        _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>,
        _ weight: UnsafePointer<T>, _ bias: UnsafePointer<T>?, N: Int, C: Int, OC: Int
    ) {
        if let bias {
            for n in 0..<N { (out + n * OC).update(from: bias, count: OC) }
        }
        gemm(M: N, N: OC, K: C, A: inp, B: weight, beta: bias == nil ? 0 : 1, C: out)
    }

    /// dinp (N, C) += dout @ weight^T (skipped when nil); dweight (C, OC) += inp^T @ dout;
    /// dbias (OC) += column sums of dout.
    static func linearBackward<T: ModelScalar>(
        _ dinp: UnsafeMutablePointer<T>?, _ dweight: UnsafeMutablePointer<T>, _ dbias: UnsafeMutablePointer<T>?,
        _ dout: UnsafePointer<T>, _ inp: UnsafePointer<T>, _ weight: UnsafePointer<T>,
        N: Int, C: Int, OC: Int
    ) {
        if let dinp { gemm(false, true, M: N, N: C, K: OC, A: dout, B: weight, beta: 1, C: dinp) }
        gemm(true, false, M: C, N: OC, K: N, A: inp, B: dout, beta: 1, C: dweight)
        if let dbias {
            for n in 0..<N {
                let row = dout + n * OC
                for o in 0..<OC { dbias[o] += row[o] }
            }
        }
    }

    // MARK: - Unembedding: logits = h @ W + bias, W (D, C) with C the classes

    /// The linear layer above, for the unembedding's shape (a few rows, many
    /// classes): in Float, in the C kernels (`unembed.c`) where they sum in
    /// the order of this process's OpenBLAS kernels (`Kernels.unembedInC`),
    /// else in OpenBLAS; the bits are the same.
    /// out (N, OC), inp (N, C), weight (C, OC), bias (OC)
    static func unembedForward<T: ModelScalar>(
        _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>,
        _ weight: UnsafePointer<T>, _ bias: UnsafePointer<T>, N: Int, C: Int, OC: Int
    ) {
        guard T.self == Float.self, Kernels.unembedInC(batch: N, width: C, classes: OC) else {
            return linearForward(out, inp, weight, bias, N: N, C: C, OC: OC)
        }
        iclsweep_unembed_forward(Kernels.f(out), Kernels.f(inp), Kernels.f(weight), Kernels.f(bias), N, C, OC)
    }

    /// dinp (N, C) += dout @ weight^T; dweight (C, OC) += inp^T @ dout; dbias (OC) += column sums of dout.
    /// scratch: `unembedScratch(N:C:)` values.
    static func unembedBackward<T: ModelScalar>(
        _ dinp: UnsafeMutablePointer<T>, _ dweight: UnsafeMutablePointer<T>, _ dbias: UnsafeMutablePointer<T>,
        _ dout: UnsafePointer<T>, _ inp: UnsafePointer<T>, _ weight: UnsafePointer<T>,
        scratch: UnsafeMutablePointer<T>, N: Int, C: Int, OC: Int
    ) {
        guard T.self == Float.self, let block = Kernels.unembedBlock,
              Kernels.unembedInC(batch: N, width: C, classes: OC, block: block) else {
            return linearBackward(dinp, dweight, dbias, dout, inp, weight, N: N, C: C, OC: OC)
        }
        iclsweep_unembed_input_grad(Kernels.f(dinp), Kernels.f(dout), Kernels.f(weight), Kernels.f(scratch), N, C, OC,
                                    block)
        iclsweep_unembed_weight_grad(Kernels.f(dweight), Kernels.f(dbias), Kernels.f(dout), Kernels.f(inp), N, C, OC)
    }

    /// dinp (N, C) += dout @ weight^T alone: the input half of `unembedBackward`,
    /// with its bits (a step split into shards rebuilds the weight's gradient
    /// from each shard's `inp` and `dout`: `unembedWeightGradient`).
    static func unembedInputBackward<T: ModelScalar>(
        _ dinp: UnsafeMutablePointer<T>, _ dout: UnsafePointer<T>, _ weight: UnsafePointer<T>,
        scratch: UnsafeMutablePointer<T>, N: Int, C: Int, OC: Int
    ) {
        guard T.self == Float.self, let block = Kernels.unembedBlock,
              Kernels.unembedInC(batch: N, width: C, classes: OC, block: block) else {
            return gemm(false, true, M: N, N: C, K: OC, A: dout, B: weight, beta: 1, C: dinp)
        }
        iclsweep_unembed_input_grad(Kernels.f(dinp), Kernels.f(dout), Kernels.f(weight), Kernels.f(scratch), N, C, OC,
                                    block)
    }

    /// dweight rows [rows) x columns [columns) of (C, OC) += inp^T @ dout,
    /// each element a chain of fused multiply-adds over n = 0, 1, ... from 0,
    /// then added: the same bits for any cut of dweight (unembed.c). Float only.
    /// inp (N, C), dout (N, OC)
    package static func unembedWeightGradient(_ dweight: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                              _ inp: UnsafePointer<Float>, N: Int, C: Int, OC: Int,
                                              rows: Range<Int>, columns: Range<Int>) {
        iclsweep_unembed_weight_grad_rect(dweight, dout, inp, N, C, OC, rows.lowerBound, rows.upperBound,
                                          columns.lowerBound, columns.upperBound)
    }

    static func unembedScratch(N: Int, C: Int) -> Int { iclsweep_unembed_scratch(N, C) }

    // MARK: - GELU (tanh approximation, as jax.nn.gelu by default)

    static let geluC = 0.7978845608028654  // sqrt(2 / pi)

    /// out (N) = 0.5 x (1 + tanh(c (x + 0.044715 x^3))); inp (N). Float:
    /// the vector kernel (`Kernels.geluForward`, the same function as x
    /// sigmoid(2u)); Double (the gradient check): this formula.
    static func geluForward<T: ModelScalar>(_ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, N: Int) {
        if T.self == Float.self { Kernels.geluForward(Kernels.f(out), Kernels.f(inp), count: N); return }
        let c = T(geluC), k = T(0.044715)
        for i in 0..<N {
            let x = inp[i]
            out[i] = T(0.5) * x * (1 + T.tanh(c * (x + k * x * x * x)))
        }
    }

    /// dinp (N) += dout * gelu'(inp)
    static func geluBackward<T: ModelScalar>(_ dinp: UnsafeMutablePointer<T>, _ dout: UnsafePointer<T>,
                                             _ inp: UnsafePointer<T>, N: Int) {
        if T.self == Float.self { Kernels.geluBackward(Kernels.f(dinp), Kernels.f(dout), Kernels.f(inp), count: N); return }
        let c = T(geluC), k = T(0.044715)
        for i in 0..<N {
            let x = inp[i]
            let t = T.tanh(c * (x + k * x * x * x))
            let slope = T(0.5) * (1 + t) + T(0.5) * x * (1 - t * t) * c * (1 + 3 * k * x * x)
            dinp[i] += dout[i] * slope
        }
    }

    // MARK: - LayerNorm over the last dimension, eps 1e-5

    static let layerNormEps = 1e-5

    /// Rows of 4 at a time for LayerNorm's sums: lane j of a SIMD4 sums row
    /// `rows.lowerBound + j` in that row's own order, so the four chains of
    /// adds overlap instead of each waiting on the last, and every row gets
    /// the bits of the one-row loop. Lanes past the last row repeat it and
    /// are dropped.
    @inline(__always)
    static func laneRows(_ rows: Range<Int>) -> (Int, Int, Int, Int) {
        let n = rows.lowerBound, last = rows.upperBound - 1
        return (n, min(n + 1, last), min(n + 2, last), min(n + 3, last))
    }

    /// out (N, C), mean (N), rstd (N), inp (N, C), gain (C), bias (C)
    static func layerNormForward<T: ModelScalar>(
        _ out: UnsafeMutablePointer<T>, _ mean: UnsafeMutablePointer<T>, _ rstd: UnsafeMutablePointer<T>,
        _ inp: UnsafePointer<T>, _ gain: UnsafePointer<T>, _ bias: UnsafePointer<T>, N: Int, C: Int
    ) {
        let eps = SIMD4<T>(repeating: T(layerNormEps)), width = SIMD4<T>(repeating: T(C))
        for n0 in stride(from: 0, to: N, by: 4) {
            let rows = n0 ..< min(N, n0 + 4)
            let (r0, r1, r2, r3) = laneRows(rows)
            let x0 = inp + r0 * C, x1 = inp + r1 * C, x2 = inp + r2 * C, x3 = inp + r3 * C
            var m = SIMD4<T>(repeating: 0)
            for i in 0..<C { m += SIMD4(x0[i], x1[i], x2[i], x3[i]) }
            m /= width
            var v = SIMD4<T>(repeating: 0)
            for i in 0..<C { let d = SIMD4(x0[i], x1[i], x2[i], x3[i]) - m; v += d * d }
            v /= width
            let r = 1 / (v + eps).squareRoot()
            for (j, n) in rows.enumerated() {
                let x = inp + n * C, y = out + n * C, mj = m[j], rj = r[j]
                for i in 0..<C { y[i] = (x[i] - mj) * rj * gain[i] + bias[i] }
                mean[n] = mj
                rstd[n] = rj
            }
        }
    }

    /// dinp (N, C) +=, dgain (C) +=, dbias (C) +=; dout (N, C), inp (N, C), mean, rstd (N), gain (C)
    static func layerNormBackward<T: ModelScalar>(
        _ dinp: UnsafeMutablePointer<T>, _ dgain: UnsafeMutablePointer<T>, _ dbias: UnsafeMutablePointer<T>,
        _ dout: UnsafePointer<T>, _ inp: UnsafePointer<T>, _ mean: UnsafePointer<T>, _ rstd: UnsafePointer<T>,
        _ gain: UnsafePointer<T>, N: Int, C: Int
    ) {
        let width = SIMD4<T>(repeating: T(C))
        for n0 in stride(from: 0, to: N, by: 4) {
            let rows = n0 ..< min(N, n0 + 4), (r0, r1, r2, r3) = laneRows(rows)
            let x0 = inp + r0 * C, x1 = inp + r1 * C, x2 = inp + r2 * C, x3 = inp + r3 * C
            let y0 = dout + r0 * C, y1 = dout + r1 * C, y2 = dout + r2 * C, y3 = dout + r3 * C
            let m = SIMD4(mean[r0], mean[r1], mean[r2], mean[r3]), r = SIMD4(rstd[r0], rstd[r1], rstd[r2], rstd[r3])
            // dxhat = dy * gain; dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            var meanD = SIMD4<T>(repeating: 0), meanDX = SIMD4<T>(repeating: 0)
            for i in 0..<C {
                let xhat = (SIMD4(x0[i], x1[i], x2[i], x3[i]) - m) * r
                let dxhat = SIMD4(y0[i], y1[i], y2[i], y3[i]) * gain[i]
                meanD += dxhat
                meanDX += dxhat * xhat
            }
            meanD /= width
            meanDX /= width
            for (j, n) in rows.enumerated() {  // the rows in order: dgain and dbias add them as the one-row loop did
                let x = inp + n * C, dy = dout + n * C, dx = dinp + n * C
                let mj = m[j], rj = r[j], dj = meanD[j], dxj = meanDX[j]
                for i in 0..<C {
                    let xhat = (x[i] - mj) * rj
                    dgain[i] += dy[i] * xhat
                    dbias[i] += dy[i]
                    dx[i] += rj * (dy[i] * gain[i] - dj - xhat * dxj)
                }
            }
        }
    }

    // MARK: - Causal multi-head self-attention (scores scaled by 1/sqrt(headDim))

    /// out (B, T, D) heads concatenated, probs (B, H, T, T) softmax rows
    /// (zero above the diagonal), qkv (B, T, 3D) as [q | k | v].
    /// In Float, the same operations in the same order run in C (`attention.c`)
    /// unless `useC` is false.
    static func attentionForward<T: ModelScalar>(
        _ out: UnsafeMutablePointer<T>, _ probs: UnsafeMutablePointer<T>,
        _ qkv: UnsafePointer<T>, B: Int, T tokens: Int, D: Int, H: Int, useC: Bool = true
    ) {
        if useC, T.self == Float.self {
            return iclsweep_attention_forward(Kernels.f(out), Kernels.f(probs), Kernels.f(qkv), B, tokens, D, H)
        }
        let hd = D / H, scale = 1 / T(hd).squareRoot(), D3 = 3 * D
        for b in 0..<B {
            for h in 0..<H {
                let P = probs + (b * H + h) * tokens * tokens
                for t in 0..<tokens {
                    let q = qkv + (b * tokens + t) * D3 + h * hd
                    let row = P + t * tokens
                    var maxScore = -T.greatestFiniteMagnitude
                    for s in 0...t {
                        let k = qkv + (b * tokens + s) * D3 + D + h * hd
                        var dot: T = 0
                        for i in 0..<hd { dot += q[i] * k[i] }
                        row[s] = dot * scale
                        maxScore = max(maxScore, row[s])
                    }
                    var sum: T = 0
                    for s in 0...t { row[s] = T.exp(row[s] - maxScore); sum += row[s] }
                    let inv = 1 / sum
                    for s in 0...t { row[s] *= inv }
                    for s in (t + 1)..<tokens { row[s] = 0 }  // masked
                    let o = out + (b * tokens + t) * D + h * hd
                    for i in 0..<hd { o[i] = 0 }
                    for s in 0...t {
                        let v = qkv + (b * tokens + s) * D3 + 2 * D + h * hd
                        let p = row[s]
                        for i in 0..<hd { o[i] += p * v[i] }
                    }
                }
            }
        }
    }

    /// dqkv (B, T, 3D) +=; dout (B, T, D), qkv (B, T, 3D), probs (B, H, T, T)
    static func attentionBackward<T: ModelScalar>(
        _ dqkv: UnsafeMutablePointer<T>,
        _ dout: UnsafePointer<T>, _ qkv: UnsafePointer<T>, _ probs: UnsafePointer<T>,
        B: Int, T tokens: Int, D: Int, H: Int, useC: Bool = true
    ) {
        if useC, T.self == Float.self {
            return iclsweep_attention_backward(Kernels.f(dqkv), Kernels.f(dout), Kernels.f(qkv), Kernels.f(probs),
                                               B, tokens, D, H)
        }
        let hd = D / H, scale = 1 / T(hd).squareRoot(), D3 = 3 * D
        var dscore = [T](repeating: 0, count: tokens)
        for b in 0..<B {
            for h in 0..<H {
                let P = probs + (b * H + h) * tokens * tokens
                for t in 0..<tokens {
                    let row = P + t * tokens
                    let dout_t = dout + (b * tokens + t) * D + h * hd
                    // out_t = sum_s p_ts v_s: dv_s += p_ts dout_t, dp_ts = dout_t . v_s
                    var weighted: T = 0
                    for s in 0...t {
                        let v = qkv + (b * tokens + s) * D3 + 2 * D + h * hd
                        let dv = dqkv + (b * tokens + s) * D3 + 2 * D + h * hd
                        var dp: T = 0
                        for i in 0..<hd { dp += dout_t[i] * v[i]; dv[i] += row[s] * dout_t[i] }
                        dscore[s] = dp
                        weighted += row[s] * dp
                    }
                    // softmax: dscore_ts = p_ts (dp_ts - sum_s' p_ts' dp_ts'), then the scale
                    let q = qkv + (b * tokens + t) * D3 + h * hd
                    let dq = dqkv + (b * tokens + t) * D3 + h * hd
                    for s in 0...t {
                        let g = row[s] * (dscore[s] - weighted) * scale
                        let k = qkv + (b * tokens + s) * D3 + D + h * hd
                        let dk = dqkv + (b * tokens + s) * D3 + D + h * hd
                        for i in 0..<hd { dq[i] += g * k[i]; dk[i] += g * q[i] }
                    }
                }
            }
        }
    }

    // MARK: - Softmax cross-entropy at the query

    /// losses (B); logits (B, C), targets (B). With `dlogits` (B, C), also
    /// the gradient of the batch-mean loss, (softmax - onehot(targets)) / B,
    /// in the same pass over the classes (the backward of this layer; llm.c's
    /// fused classifier): each element e / sum, then times 1/B, then minus 1/B
    /// at the target. Without it (evaluation), only the maximum and the sum.
    /// For a shard of a batch of `total`, the gradient of its share of the
    /// whole batch's mean, (softmax - onehot) / total.
    static func crossEntropyForward<T: ModelScalar>(
        _ losses: UnsafeMutablePointer<T>, _ dlogits: UnsafeMutablePointer<T>?,
        _ logits: UnsafePointer<T>, _ targets: UnsafePointer<Int32>, B: Int, C: Int, outOf total: Int? = nil
    ) {
        let invB = 1 / T(total ?? B)  // a shard of a batch: 1 / the whole batch's size
        for b in 0..<B {
            let z = logits + b * C, d = dlogits.map { $0 + b * C }, target = Int(targets[b])
            defer { d?[target] -= invB }
            if T.self == Float.self {
                let (m, sum) = Kernels.softmaxRow(Kernels.f(z), d.map { Kernels.f($0) }, count: C, scale: Float(invB))
                // -log p_target = log(sum) + m - z_target
                losses[b] = T(Double.log(Double(sum))) + T(m) - z[target]
                continue
            }
            var m = -T.greatestFiniteMagnitude
            for i in 0..<C { m = max(m, z[i]) }
            var sum: T = 0
            for i in 0..<C { let e = T.exp(z[i] - m); d?[i] = e; sum += e }
            if let d {
                let inv = 1 / sum
                for i in 0..<C { d[i] = d[i] * inv * invB }
            }
            losses[b] = T(Double.log(Double(sum))) + m - z[target]
        }
    }
}

import Foundation
private extension Double {
    static func log(_ x: Double) -> Double { Foundation.log(x) }
}
