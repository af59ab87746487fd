import Foundation
import ICLData

/// Activation buffers for one batch size, reused every step (llama2.c's
/// RunState). The forward keeps exactly what the backward needs.
package final class Workspace<T: ModelScalar> {
    package let batch: Int
    // forward, per sequence b and token t
    let x: Buffer<T>          // (B*(n+1), dim) exemplar vectors, query last
    let xEmb: Buffer<T>       // (B*(n+1), D)   exemplar embeddings
    let res: [Buffer<T>]      // L+1 x (B, T, D) residual stream before each layer, and after the last
    let ln: [Buffer<T>]       // L x (B, T, D)  LayerNorm outputs
    let lnMean: [Buffer<T>]   // L x (B*T)
    let lnRstd: [Buffer<T>]   // L x (B*T)
    let qkv: [Buffer<T>]      // L x (B, T, 3D)
    package let att: [Buffer<T>]      // L x (B, H, T, T) attention probabilities
    let attY: [Buffer<T>]     // L x (B, T, D)  heads concatenated, before the output projection
    // each layer's MLP (empty without MLPs): res[l+1] = resMid[l] + MLP(LN(resMid[l]))
    let resMid: [Buffer<T>]   // L x (B, T, D)  residual stream after the attention, before the MLP
    let mlpLn: [Buffer<T>]    // L x (B, T, D)
    let mlpMean: [Buffer<T>]  // L x (B*T)
    let mlpRstd: [Buffer<T>]  // L x (B*T)
    let mlpH: [Buffer<T>]     // L x (B, T, rD) before the GELU
    let mlpA: [Buffer<T>]     // L x (B, T, rD) after the GELU
    /// Fixed sinusoidal positions (T, D), when the model uses them.
    let sinusoid: Buffer<T>?
    let hq: Buffer<T>         // (B, D) residual stream at the query
    package let lnf: Buffer<T>        // (B, D) final LayerNorm at the query
    let lnfMean: Buffer<T>    // (B)
    let lnfRstd: Buffer<T>    // (B)
    package let logits: Buffer<T>     // (B, C)
    package let losses: Buffer<T>     // (B)
    // backward
    package let dlogits: Buffer<T>    // (B, C), computed with the loss by forward(gradient: true)
    /// Whether `dlogits` holds the gradient of the last forward pass (set by
    /// forward(gradient: true), consumed by backward).
    var dlogitsReady = false
    let dlnf: Buffer<T>       // (B, D)
    let dhq: Buffer<T>        // (B, D)
    package let dres: Buffer<T>       // (B, T, D)
    let dattY: Buffer<T>      // (B, T, D)
    let dqkv: Buffer<T>       // (B, T, 3D)
    let dln: Buffer<T>        // (B, T, D)
    let dxEmb: Buffer<T>      // (B*(n+1), D)
    let dmlpA: Buffer<T>?     // (B, T, rD)
    let dmlpH: Buffer<T>?     // (B, T, rD)
    let unembedScratch: Buffer<T>  // the unembedding kernels' transposed blocks (Layers.unembedScratch)

    package init(_ c: ModelConfig, batch B: Int) {
        batch = B
        let T_ = c.tokens, D = c.width, L = c.layers, E = B * (c.pairs + 1)
        func make(_ n: Int) -> Buffer<T> { Buffer(count: n) }
        x = make(E * c.inputDim); xEmb = make(E * D)
        res = (0...L).map { _ in make(B * T_ * D) }
        ln = (0..<L).map { _ in make(B * T_ * D) }
        lnMean = (0..<L).map { _ in make(B * T_) }
        lnRstd = (0..<L).map { _ in make(B * T_) }
        qkv = (0..<L).map { _ in make(B * T_ * 3 * D) }
        att = (0..<L).map { _ in make(B * c.heads * T_ * T_) }
        attY = (0..<L).map { _ in make(B * T_ * D) }
        hq = make(B * D); lnf = make(B * D); lnfMean = make(B); lnfRstd = make(B)
        logits = make(B * c.outputs); losses = make(B)
        dlogits = make(B * c.outputs); dlnf = make(B * D); dhq = make(B * D)
        dres = make(B * T_ * D); dattY = make(B * T_ * D); dqkv = make(B * T_ * 3 * D)
        dln = make(B * T_ * D); dxEmb = make(E * D)
        unembedScratch = make(Layers.unembedScratch(N: B, C: D))
        let ML = c.mlpRatio > 0 ? L : 0, R = c.mlpRatio * D
        resMid = (0..<ML).map { _ in make(B * T_ * D) }
        mlpLn = (0..<ML).map { _ in make(B * T_ * D) }
        mlpMean = (0..<ML).map { _ in make(B * T_) }
        mlpRstd = (0..<ML).map { _ in make(B * T_) }
        mlpH = (0..<ML).map { _ in make(B * T_ * R) }
        mlpA = (0..<ML).map { _ in make(B * T_ * R) }
        dmlpA = ML > 0 ? make(B * T_ * R) : nil
        dmlpH = ML > 0 ? make(B * T_ * R) : nil
        if c.positional == .sinusoidal {
            // PE[t, 2i] = sin(t / S^(2i/D)), PE[t, 2i+1] = cos(t / S^(2i/D)), S the time scale (10,000 unless set)
            let table = make(T_ * D)
            for t in 0..<T_ {
                for i in 0..<D {
                    let angle = Double(t) / pow(c.sinusoidTime, Double(2 * (i / 2)) / Double(D))
                    table.pointer[t * D + i] = T(i % 2 == 0 ? sin(angle) : cos(angle))
                }
            }
            sinusoid = table
        } else {
            sinusoid = nil
        }
    }
}

/// Where a step spends its time, for the benchmark.
/// Seconds spent in each phase of training steps (`bench`'s roofline).
public struct StepTimes {
    /// Drawing the batch.
    public var sampling = 0.0
    /// Gathering exemplar vectors, the exemplar-embedding product, token embedding (and its backward scatter).
    public var embedding = 0.0
    /// QKV and output projections of every layer, forward.
    public var layerProducts = 0.0
    /// Scores, softmax over positions and weighted sums, forward and backward.
    public var attention = 0.0
    /// The unembedding product, forward.
    public var unembedding = 0.0
    /// Softmax over the classes, cross-entropy and its gradient (one pass, in forward(gradient: true)).
    public var loss = 0.0
    /// Every matrix product of the backward pass.
    public var backwardProducts = 0.0
    /// LayerNorms and the copies between blocks, forward and backward.
    public var norms = 0.0
    /// The MLPs' products (and bias adds), forward and backward.
    public var mlpProducts = 0.0
    /// GELU, forward and backward.
    public var gelu = 0.0
    public var adam = 0.0
    /// A run on several shards: sending and receiving shards' gradients,
    /// adding them in shard order, and gathering the updated parameters.
    public var exchange = 0.0
    public init() {}
    public var total: Double {
        sampling + embedding + layerProducts + attention + unembedding + loss + backwardProducts + norms + mlpProducts + gelu + adam
            + exchange
    }
}

/// The paper's attention-only transformer: forward and backward of one batch.
package struct Transformer<T: ModelScalar> {
    package let config: ModelConfig

    package init(config: ModelConfig) { self.config = config }

    // MARK: - Token embedding: x1 y1 ... xn yn xq, plus positions

    /// res0 (B, T, D); xEmb (B*(n+1), D) exemplar embeddings; labels (B, n); pos (maxPos, D), labelTable (labels, D)
    func embedForward(_ res0: UnsafeMutablePointer<T>, _ xEmb: UnsafePointer<T>, _ labels: UnsafePointer<Int32>,
                      _ labelTable: UnsafePointer<T>, _ pos: UnsafePointer<T>, B: Int) {
        let n = config.pairs, tokens = config.tokens, D = config.width
        for b in 0..<B {
            for t in 0..<tokens {
                let out = res0 + (b * tokens + t) * D, p = pos + t * D
                // even tokens are exemplars (the query is token 2n), odd tokens labels
                let src = t % 2 == 0 ? xEmb + (b * (n + 1) + t / 2) * D
                                     : labelTable + Int(labels[b * n + t / 2]) * D
                for i in 0..<D { out[i] = src[i] + p[i] }
            }
        }
    }

    /// dxEmb (B*(n+1), D) =; dlabelTable (labels, D) += (nil: left to the caller); dpos (maxPos, D) += (nil: fixed
    /// positions); dres0 (B, T, D)
    func embedBackward(_ dxEmb: UnsafeMutablePointer<T>, _ dlabelTable: UnsafeMutablePointer<T>?,
                       _ dpos: UnsafeMutablePointer<T>?, _ dres0: UnsafePointer<T>, _ labels: UnsafePointer<Int32>, B: Int) {
        let n = config.pairs, tokens = config.tokens, D = config.width
        for b in 0..<B {
            for t in 0..<tokens {
                let g = dres0 + (b * tokens + t) * D
                if t % 2 == 0 {
                    let dst = dxEmb + (b * (n + 1) + t / 2) * D
                    for i in 0..<D { dst[i] = g[i] }
                } else if let dlabelTable {
                    let dst = dlabelTable + Int(labels[b * n + t / 2]) * D
                    for i in 0..<D { dst[i] += g[i] }
                }
                if let dpos {
                    let dp = dpos + t * D
                    for i in 0..<D { dp[i] += g[i] }
                }
            }
        }
    }

    // MARK: - MLP block: res[l+1] = resMid[l] + GELU(LN(resMid[l]) @ W1 + b1) @ W2 + b2

    /// resMid[l] (N, D) -> res[l+1] (N, D) through mlpLn, mlpH (N, rD), mlpA (N, rD)
    func mlpForward(_ p: ParameterSet<T>, _ ws: Workspace<T>, l: Int, N: Int, clock: inout Clock) {
        let D = config.width, R = config.mlpRatio * D
        Layers.layerNormForward(ws.mlpLn[l].pointer, ws.mlpMean[l].pointer, ws.mlpRstd[l].pointer,
                                ws.resMid[l].pointer, p[.mlpLnGain(l)], p[.mlpLnBias(l)], N: N, C: D)
        clock.lap(\.norms)
        Layers.linearForward(ws.mlpH[l].pointer, ws.mlpLn[l].pointer, p[.mlpIn(l)], p[.mlpInBias(l)], N: N, C: D, OC: R)
        clock.lap(\.mlpProducts)
        Layers.geluForward(ws.mlpA[l].pointer, ws.mlpH[l].pointer, N: N * R)
        clock.lap(\.gelu)
        // res[l+1] = resMid[l] + (mlpA @ W2 + b2)
        let out = ws.res[l + 1].pointer
        out.update(from: ws.resMid[l].pointer, count: N * D)
        let b2 = p[.mlpOutBias(l)]
        for n in 0..<N { for i in 0..<D { out[n * D + i] += b2[i] } }
        gemm(M: N, N: D, K: R, A: ws.mlpA[l].pointer, B: p[.mlpOut(l)], beta: 1, C: out)
        clock.lap(\.mlpProducts)
    }

    /// dres (N, D): the gradient at res[l+1] in, at resMid[l] out (the residual passes, plus the branch).
    func mlpBackward(_ p: ParameterSet<T>, _ g: ParameterSet<T>, _ ws: Workspace<T>, l: Int, N: Int, clock: inout Clock) {
        let D = config.width, R = config.mlpRatio * D
        let dA = ws.dmlpA!, dH = ws.dmlpH!
        dA.zero(); dH.zero()
        Layers.linearBackward(dA.pointer, g[.mlpOut(l)], g[.mlpOutBias(l)], ws.dres.pointer, ws.mlpA[l].pointer,
                              p[.mlpOut(l)], N: N, C: R, OC: D)
        clock.lap(\.mlpProducts)
        Layers.geluBackward(dH.pointer, dA.pointer, ws.mlpH[l].pointer, N: N * R)
        clock.lap(\.gelu)
        ws.dln.zero()
        Layers.linearBackward(ws.dln.pointer, g[.mlpIn(l)], g[.mlpInBias(l)], dH.pointer, ws.mlpLn[l].pointer,
                              p[.mlpIn(l)], N: N, C: D, OC: R)
        clock.lap(\.mlpProducts)
        Layers.layerNormBackward(ws.dres.pointer, g[.mlpLnGain(l)], g[.mlpLnBias(l)], ws.dln.pointer, ws.resMid[l].pointer,
                                 ws.mlpMean[l].pointer, ws.mlpRstd[l].pointer, p[.mlpLnGain(l)], N: N, C: D)
        clock.lap(\.norms)
    }

    // MARK: - Whole model

    /// Gathers the batch's exemplar vectors into `ws.x`.
    func gather(_ ws: Workspace<T>, batch: Batch, table: FeatureTable) {
        let dim = config.inputDim
        let src = table.pointer
        for (r, row) in batch.rows.enumerated() {
            let from = src + Int(row) * dim, to = ws.x.pointer + r * dim
            for i in 0..<dim { to[i] = T(from[i]) }
        }
    }

    /// Forward pass up to the query logits and per-sequence losses; with
    /// `gradient`, also the loss's gradient at the logits, for `backward`:
    /// of the batch's mean loss, or with `total`, of this shard's share of
    /// the mean over a batch of `total`.
    /// - Returns: the mean loss over the batch.
    @discardableResult
    package func forward(_ p: ParameterSet<T>, _ ws: Workspace<T>, batch: Batch, table: FeatureTable,
                         gradient: Bool = false, outOf total: Int? = nil,
                         times: UnsafeMutablePointer<StepTimes>? = nil) -> Double {
        let c = config, B = batch.size, n = c.pairs, tokens = c.tokens, D = c.width, H = c.heads, C = c.outputs
        precondition(B <= ws.batch)
        var clock = Clock(times)
        gather(ws, batch: batch, table: table)
        // exemplar embedding: (B*(n+1), dim) @ (dim, D) + bias
        Layers.linearForward(ws.xEmb.pointer, ws.x.pointer, p[.exemplarWeight], p[.exemplarBias],
                             N: B * (n + 1), C: c.inputDim, OC: D)
        let positions = ws.sinusoid.map { UnsafePointer($0.pointer) } ?? UnsafePointer(p[.positions])
        batch.labels.withUnsafeBufferPointer { labels in
            embedForward(ws.res[0].pointer, ws.xEmb.pointer, labels.baseAddress!, p[.labelEmbedding], positions, B: B)
        }
        clock.lap(\.embedding)
        for l in 0..<c.layers {
            let N = B * tokens
            Layers.layerNormForward(ws.ln[l].pointer, ws.lnMean[l].pointer, ws.lnRstd[l].pointer,
                                    ws.res[l].pointer, p[.lnGain(l)], p[.lnBias(l)], N: N, C: D)
            clock.lap(\.norms)
            Layers.linearForward(ws.qkv[l].pointer, ws.ln[l].pointer, p[.qkv(l)], nil, N: N, C: D, OC: 3 * D)
            clock.lap(\.layerProducts)
            Layers.attentionForward(ws.attY[l].pointer, ws.att[l].pointer, ws.qkv[l].pointer, B: B, T: tokens, D: D, H: H)
            clock.lap(\.attention)
            // res[l+1] = res[l] + attY @ Wo (with an MLP: resMid[l], then the MLP's branch)
            let afterAttention = c.mlpRatio > 0 ? ws.resMid[l].pointer : ws.res[l + 1].pointer
            afterAttention.update(from: ws.res[l].pointer, count: N * D)
            gemm(M: N, N: D, K: D, A: ws.attY[l].pointer, B: p[.attnOut(l)], beta: 1, C: afterAttention)
            clock.lap(\.layerProducts)
            if c.mlpRatio > 0 { mlpForward(p, ws, l: l, N: N, clock: &clock) }
        }
        // only the query position feeds the loss: final LayerNorm and unembedding there
        let last = ws.res[c.layers].pointer
        for b in 0..<B { (ws.hq.pointer + b * D).update(from: last + (b * tokens + tokens - 1) * D, count: D) }
        Layers.layerNormForward(ws.lnf.pointer, ws.lnfMean.pointer, ws.lnfRstd.pointer,
                                ws.hq.pointer, p[.finalGain], p[.finalBias], N: B, C: D)
        clock.lap(\.norms)
        Layers.unembedForward(ws.logits.pointer, ws.lnf.pointer, p[.unembedWeight], p[.unembedBias], N: B, C: D, OC: C)
        clock.lap(\.unembedding)
        batch.targets.withUnsafeBufferPointer { targets in
            Layers.crossEntropyForward(ws.losses.pointer, gradient ? ws.dlogits.pointer : nil, ws.logits.pointer,
                                       targets.baseAddress!, B: B, C: C, outOf: total)
        }
        ws.dlogitsReady = gradient
        clock.lap(\.loss)
        var total = 0.0
        for b in 0..<B { total += Double(ws.losses.pointer[b]) }
        return total / Double(B)
    }

    /// Backward pass of the batch-mean loss, after forward(gradient: true) on
    /// the same batch; accumulates into `g`, which the caller zeroed (the
    /// optimizer zeroes it as it consumes it). With `tables: false`, the two
    /// class tables' gradients (label embedding, unembedding weight and bias)
    /// are left untouched: a step split into shards builds them from what
    /// the pass leaves in `ws` (`lnf`, `dlogits`, `dres`).
    package func backward(_ p: ParameterSet<T>, _ g: ParameterSet<T>, _ ws: Workspace<T>, batch: Batch,
                          tables: Bool = true, times: UnsafeMutablePointer<StepTimes>? = nil) {
        let c = config, B = batch.size, n = c.pairs, tokens = c.tokens, D = c.width, H = c.heads, C = c.outputs
        precondition(ws.dlogitsReady, "backward needs forward(gradient: true) on the same batch first")
        ws.dlogitsReady = false
        var clock = Clock(times)
        ws.dlnf.zero()
        if tables {
            Layers.unembedBackward(ws.dlnf.pointer, g[.unembedWeight], g[.unembedBias], ws.dlogits.pointer, ws.lnf.pointer,
                                   p[.unembedWeight], scratch: ws.unembedScratch.pointer, N: B, C: D, OC: C)
        } else {
            Layers.unembedInputBackward(ws.dlnf.pointer, ws.dlogits.pointer, p[.unembedWeight],
                                        scratch: ws.unembedScratch.pointer, N: B, C: D, OC: C)
        }
        clock.lap(\.backwardProducts)
        ws.dhq.zero()
        Layers.layerNormBackward(ws.dhq.pointer, g[.finalGain], g[.finalBias], ws.dlnf.pointer,
                                 ws.hq.pointer, ws.lnfMean.pointer, ws.lnfRstd.pointer, p[.finalGain], N: B, C: D)
        ws.dres.zero()
        for b in 0..<B { (ws.dres.pointer + (b * tokens + tokens - 1) * D).update(from: ws.dhq.pointer + b * D, count: D) }
        clock.lap(\.norms)
        for l in (0..<c.layers).reversed() {
            let N = B * tokens
            // with an MLP, dres becomes the gradient at resMid[l] first
            if c.mlpRatio > 0 { mlpBackward(p, g, ws, l: l, N: N, clock: &clock) }
            // res[l+1] = res[l] + attY @ Wo: dres passes through unchanged, plus the branch
            ws.dattY.zero()
            Layers.linearBackward(ws.dattY.pointer, g[.attnOut(l)], nil, ws.dres.pointer, ws.attY[l].pointer,
                                  p[.attnOut(l)], N: N, C: D, OC: D)
            clock.lap(\.backwardProducts)
            ws.dqkv.zero()
            Layers.attentionBackward(ws.dqkv.pointer, ws.dattY.pointer, ws.qkv[l].pointer, ws.att[l].pointer,
                                     B: B, T: tokens, D: D, H: H)
            clock.lap(\.attention)
            ws.dln.zero()
            Layers.linearBackward(ws.dln.pointer, g[.qkv(l)], nil, ws.dqkv.pointer, ws.ln[l].pointer, p[.qkv(l)],
                                  N: N, C: D, OC: 3 * D)
            clock.lap(\.backwardProducts)
            Layers.layerNormBackward(ws.dres.pointer, g[.lnGain(l)], g[.lnBias(l)], ws.dln.pointer, ws.res[l].pointer,
                                     ws.lnMean[l].pointer, ws.lnRstd[l].pointer, p[.lnGain(l)], N: N, C: D)
            clock.lap(\.norms)
        }
        batch.labels.withUnsafeBufferPointer { labels in
            embedBackward(ws.dxEmb.pointer, tables ? g[.labelEmbedding] : nil, c.positional == .learned ? g[.positions] : nil,
                          ws.dres.pointer, labels.baseAddress!, B: B)
        }
        clock.lap(\.embedding)
        // exemplar embedding: no gradient flows into the (fixed) exemplar vectors
        Layers.linearBackward(nil, g[.exemplarWeight], g[.exemplarBias], ws.dxEmb.pointer, ws.x.pointer,
                              p[.exemplarWeight], N: B * (n + 1), C: c.inputDim, OC: D)
        clock.lap(\.backwardProducts)
    }
}

/// Attributes elapsed time to a `StepTimes` field when one is given.
package struct Clock {
    let times: UnsafeMutablePointer<StepTimes>?
    var last: UInt64
    package init(_ times: UnsafeMutablePointer<StepTimes>?) {
        self.times = times
        last = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
    }
    package mutating func lap(_ field: WritableKeyPath<StepTimes, Double>) {
        guard let times else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        times.pointee[keyPath: field] += Double(now - last) * 1e-9
        last = now
    }
}

import Dispatch
