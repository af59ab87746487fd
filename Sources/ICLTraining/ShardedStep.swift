import Dispatch
import Foundation
import ICLSupport
import ICLData
import ICLModel

/// One training step of a run whose batch is split into `S` equal shards
/// (`training.shards`), shared by the `R` ranks of a gang (`training.ranks`,
/// 1 <= R <= S), with the same bits for every R:
///
/// 1. every rank runs each of its shards forward and backward alone (a
///    shard's loss is scaled to its share of the whole batch's mean, so the
///    shards' gradients add up to the batch's);
/// 2. the parameters are cut into R shares, one per rank (as ZeRO-1 cuts the
///    optimiser state); each rank builds its share of the batch's gradient
///    as the S shards' gradients added in shard order, ((g0 + g1) + g2) + ...:
///    the order is fixed by S, never by R or by MPI. Two kinds of parameters:
///    - the dense ones (embeddings of exemplars and positions, the layers,
///      the final LayerNorm): each shard's gradient is computed whole, into a
///      zeroed buffer, and each rank receives its slice of every shard's;
///    - the two class tables (label embedding, unembedding weight and bias:
///      2 x 12,800 x 64 of the paper model's parameters): a shard's gradient
///      there is a product of two small factors, sent instead, and each
///      rank builds its own rows from every shard's factors: the unembedding
///      weight from the final LayerNorm's output (size, D) and the logits'
///      gradient (size, C) (each element a fixed chain of fused
///      multiply-adds, `Layers.unembedWeightGradient`), the bias from the
///      logits' gradient, the label embedding from the gradient at each
///      label token (size, n, D), added to the rows the tokens name in
///      token order, as the backward would;
/// 3. each rank applies Adam to its share (an element's update depends on
///    that element alone), and every rank gathers the others' shares.
///
/// The moments stay cut between steps: `gatherMoments` makes them whole
/// before a checkpoint. The per-sequence losses are shared too, so every
/// rank sums the same batch loss in the same order.
///
/// How the data moves between the ranks, with the same arithmetic either way:
/// - a gang on one node (`MPIGang.sharesMemory`) keeps the parameters, every
///   shard's dense gradient and every shard's factors in one window of shared
///   memory: each rank writes its shards' gradients and factors and its share
///   of the parameters there and reads the others' in place, and a fence
///   (`MPISharedMemory.fence`) after the backward and after Adam is all that
///   passes between the ranks (the gradients and factors are read where they
///   were written; nothing is gathered);
/// - a gang across nodes sends them: each rank's slices of the other ranks'
///   dense shard gradients and every shard's factors after the backward, and
///   every share of the parameters after Adam.
final class ShardedStep {
    let shards: Int
    /// Sequences per shard.
    let size: Int
    let gang: MPIGang?
    /// The shards this rank computes.
    let mine: Range<Int>
    /// The shards of each gang member: contiguous, in member order.
    let owned: [Range<Int>]
    /// The parameter buffer's regions, each cut into one share per member.
    let regions: [Region]
    /// One shard's sequences, refilled for each shard (no allocation per step).
    var part: Batch
    /// The gang's shared window (nil: messages; one rank, or a gang across nodes).
    let memory: MPISharedMemory?
    /// The parameters, in `memory` (nil: the trainer's own).
    let sharedParams: ParameterSet<Float>?
    /// The shards' gradients (only the dense regions are written): in
    /// `memory`, every shard's; otherwise those of `mine`. See `gradient(of:)`.
    private let shardGrads: [ParameterSet<Float>]
    /// Messages only: this rank's slice of the other members' dense shard gradients, shard after shard, region after region.
    let received: Buffer<Float>
    /// Every shard's factors, in batch order: the final LayerNorm's output
    /// (B, D), the logits' gradient (B, C), the gradient at each label token (B, n, D).
    let lnf: Buffer<Float>, dlogits: Buffer<Float>, dlabels: Buffer<Float>
    /// One shard's label-embedding gradient, rows touched by the shard only (zero elsewhere).
    let labelScratch: Buffer<Float>
    /// One shard's unembedding-bias gradient (C).
    let biasScratch: Buffer<Float>
    /// Every sequence's loss, in batch order.
    let losses: Buffer<Float>
    let model: ModelConfig

    /// A contiguous part of the parameter buffer and how it is built.
    struct Region {
        enum Kind { case dense, labelEmbedding, unembedWeight, unembedBias }
        let kind: Kind
        let range: Range<Int>
        /// Each member's share of `range`: whole rows of the tables, slices aligned to 16 floats elsewhere.
        let shares: [Range<Int>]
        /// Rows (label embedding: labels; unembedding weight: the width's
        /// dimensions) or columns (unembedding bias: classes) of a share.
        func units(of member: Int, per row: Int) -> Range<Int> {
            let s = shares[member]
            return (s.lowerBound - range.lowerBound) / row ..< (s.upperBound - range.lowerBound) / row
        }
    }

    /// Contiguous, near-equal ranges of `0..<count` for `parts` parts, each
    /// bound a multiple of `align` (the last one ends at `count`).
    static func split(_ count: Int, into parts: Int, align: Int = 1) -> [Range<Int>] {
        let bounds = (0...parts).map { i -> Int in
            i == parts ? count : min(count, (count * i / parts) / align * align)
        }
        return (0..<parts).map { bounds[$0] ..< bounds[$0 + 1] }
    }

    /// The regions of `layout` in buffer order, cut for `members` members:
    /// the three class tensors on their own, the dense runs between them.
    static func regions(_ layout: ParameterLayout, members: Int) -> [Region] {
        let c = layout.config
        let tables: [Tensor: (Region.Kind, row: Int)] = [
            .labelEmbedding: (.labelEmbedding, c.width), .unembedWeight: (.unembedWeight, c.outputs),
            .unembedBias: (.unembedBias, 1),
        ]
        var out: [Region] = [], denseFrom = 0
        func dense(upTo end: Int) {
            guard end > denseFrom else { return }
            let r = denseFrom ..< end
            out.append(Region(kind: .dense, range: r,
                              shares: split(r.count, into: members, align: 16).map { $0.lowerBound + r.lowerBound ..< $0.upperBound + r.lowerBound }))
        }
        for t in layout.tensors {
            guard let (kind, row) = tables[t] else { continue }
            let r = layout.offsets[t]! ..< layout.offsets[t]! + layout.size(t)
            dense(upTo: r.lowerBound)
            out.append(Region(kind: kind, range: r,
                              shares: split(r.count / row, into: members).map { r.lowerBound + $0.lowerBound * row ..< r.lowerBound + $0.upperBound * row }))
            denseFrom = r.upperBound
        }
        dense(upTo: layout.count)
        return out
    }

    /// Collective over `gang`: all its members make their step together.
    init(config: RunConfig, layout: ParameterLayout, gang: MPIGang?) throws {
        shards = config.shardCount
        size = config.batch / shards
        self.gang = gang
        model = layout.config
        let members = gang?.size ?? 1, me = gang?.index ?? 0
        precondition(members <= shards, "a gang of \(members) ranks for \(shards) shards")
        owned = ShardedStep.split(shards, into: members)
        mine = owned[me]
        regions = ShardedStep.regions(layout, members: members)
        part = Batch(size: size, pairs: config.pairs)
        let B = config.batch, D = model.width, P = layout.count
        // the window: parameters (P), every shard's gradient (S x P), losses (B), lnf (B, D), dlogits (B, C), dlabels (B, n, D)
        let counts = [P] + Array(repeating: P, count: shards) + [B, B * D, B * model.outputs, B * model.pairs * D]
        let rounded = counts.map { ($0 + 15) / 16 * 16 }  // each part on 64 bytes
        memory = members > 1 ? try gang?.sharedMemory(bytes: rounded.reduce(0, +) * 4 + 64) : nil
        if let memory {
            var at = (64 - Int(bitPattern: memory.base) % 64) % 64 / 4  // floats from the window's start
            var parts: [Buffer<Float>] = []
            for (count, size) in zip(counts, rounded) {
                parts.append(Buffer(borrowing: memory.base + at * 4, count: count))
                at += size
            }
            sharedParams = ParameterSet(layout, storage: parts[0])
            shardGrads = parts[1...shards].map { ParameterSet(layout, storage: $0) }
            received = Buffer(count: 0)
            (losses, lnf, dlogits, dlabels) = (parts[shards + 1], parts[shards + 2], parts[shards + 3], parts[shards + 4])
        } else {
            sharedParams = nil
            shardGrads = mine.map { _ in ParameterSet<Float>(layout) }
            let denseShare = regions.filter { $0.kind == .dense }.map { $0.shares[me].count }.reduce(0, +)
            received = Buffer(count: (shards - mine.count) * denseShare)
            losses = Buffer(count: B)
            lnf = Buffer(count: B * D); dlogits = Buffer(count: B * model.outputs); dlabels = Buffer(count: B * model.pairs * D)
        }
        labelScratch = Buffer(count: model.labels * D)
        biasScratch = Buffer(count: model.outputs)
    }

    /// Shard `k`'s gradient: any shard's in shared memory, one of `mine` otherwise.
    private func gradient(of k: Int) -> ParameterSet<Float> { shardGrads[memory == nil ? k - mine.lowerBound : k] }

    /// Sets the parameters whole (at the start, from checkpoints) with
    /// `body`: on every rank for its own copy, or, for a gang sharing them,
    /// on its leader alone, after which the others see them.
    static func setParameters(_ step: ShardedStep?, _ body: () -> Void) throws {
        guard let step, let memory = step.memory else { return body() }
        if step.me == 0 { body() }
        try memory.fence()
    }

    /// Frees the shared window (collective): the last call on this step.
    func release() throws {
        if let memory, let gang { try gang.release(memory) }
    }

    var me: Int { gang?.index ?? 0 }

    /// This rank's share of the buffer: what its Adam updates.
    var share: [Range<Int>] { regions.map { $0.shares[me] } }

    /// One step on `batch`: gradients into `grads` (this rank's share holds
    /// the whole batch's), Adam on the share, parameters gathered.
    /// - Returns: the batch-mean loss.
    func step(_ trainer: Trainer, batch: Batch, times t: UnsafeMutablePointer<StepTimes>,
              afterBackward: (Double) -> Void) throws -> Double {
        let net = trainer.model, params = trainer.params, ws = trainer.workspace
        let D = model.width, C = model.outputs, n = model.pairs, tokens = model.tokens
        // 1. each shard alone: its dense gradient, its factors
        for k in mine {
            part.take(k * size ..< (k + 1) * size, of: batch)
            net.forwardFloat(params, ws, batch: part, table: trainer.table, gradient: true, outOf: batch.size, times: t)
            (losses.pointer + k * size).update(from: ws.losses.pointer, count: size)
            let g = gradient(of: k)
            for r in regions where r.kind == .dense { (g.storage.pointer + r.range.lowerBound).update(repeating: 0, count: r.range.count) }
            net.backwardFloat(params, g, ws, batch: part, tables: false, times: t)
            (lnf.pointer + k * size * D).update(from: ws.lnf.pointer, count: size * D)
            (dlogits.pointer + k * size * C).update(from: ws.dlogits.pointer, count: size * C)
            for b in 0..<size {
                for i in 0..<n {  // label i of sequence b is token 2i + 1
                    (dlabels.pointer + ((k * size + b) * n + i) * D).update(from: ws.dres.pointer + (b * tokens + 2 * i + 1) * D, count: D)
                }
            }
        }
        var clock = Clock(t)
        // 2. this rank's share of every shard's gradient, added in shard order
        try exchange()
        clock.lap(\.exchange)
        let grads = trainer.grads
        var offset = 0  // where the region's slices start in `received`
        for r in regions {
            let s = r.shares[me], into = grads.storage.pointer + s.lowerBound
            switch r.kind {
            case .dense:
                for k in 0..<shards {
                    let from = memory != nil || mine.contains(k) ? gradient(of: k).storage.pointer + s.lowerBound
                                                : received.pointer + offset + (k < mine.lowerBound ? k : k - mine.count) * s.count
                    if k == 0 { into.update(from: from, count: s.count) } else { Kernels.add(into, from, count: s.count) }
                }
                if memory == nil { offset += (shards - mine.count) * s.count }
            case .unembedWeight:
                into.update(repeating: 0, count: s.count)
                let rows = r.units(of: me, per: C), dweight = grads[.unembedWeight]
                for c0 in stride(from: 0, to: C, by: 512) {  // 512 classes of every shard while they are in cache
                    for k in 0..<shards {
                        Layers.unembedWeightGradient(dweight, dlogits.pointer + k * size * C, lnf.pointer + k * size * D,
                                                     N: size, C: D, OC: C, rows: rows, columns: c0 ..< min(C, c0 + 512))
                    }
                }
            case .unembedBias:
                into.update(repeating: 0, count: s.count)
                let columns = r.units(of: me, per: 1), sum = biasScratch.pointer, dbias = grads[.unembedBias]
                for k in 0..<shards {
                    for c in columns { sum[c] = 0 }
                    for b in 0..<size {
                        let row = dlogits.pointer + (k * size + b) * C
                        for c in columns { sum[c] += row[c] }
                    }
                    for c in columns { dbias[c] += sum[c] }
                }
            case .labelEmbedding:
                into.update(repeating: 0, count: s.count)
                try addLabelGradients(into: grads[.labelEmbedding], rows: r.units(of: me, per: D), batch: batch)
            }
        }
        clock.lap(\.backwardProducts)
        var total = 0.0
        for b in 0..<batch.size { total += Double(losses.pointer[b]) }
        let loss = total / Double(batch.size)
        guard loss.isFinite else { return loss }  // the trainer stops the run, on every rank alike
        afterBackward(loss)
        // 3. Adam on the share, then every share to every rank
        trainer.adam.updateFloat(params, grads, within: share)
        clock.lap(\.adam)
        // every share to every rank: read in place once all have written, or gathered
        if let memory { try memory.fence() } else { try gatherShares(of: params) }
        clock.lap(\.exchange)
        return loss
    }

    /// The label embedding's gradient on `rows`: each shard's, its tokens'
    /// gradients added to the rows they name in token order from zero (as
    /// `Transformer.embedBackward`), then added to `into` in shard order.
    /// Rows a shard does not name add nothing (its gradient there is +0).
    private func addLabelGradients(into: UnsafeMutablePointer<Float>, rows: Range<Int>, batch: Batch) throws {
        let D = model.width, n = model.pairs, scratch = labelScratch.pointer
        var touched: [Int] = []
        touched.reserveCapacity(size * n)
        for k in 0..<shards {
            for b in k * size ..< (k + 1) * size {
                for i in 0..<n {
                    let label = batch.label(b, i)
                    guard rows.contains(label) else { continue }
                    let dst = scratch + label * D, g = dlabels.pointer + (b * n + i) * D
                    if !touched.contains(label) { touched.append(label) }
                    for e in 0..<D { dst[e] += g[e] }
                }
            }
            for label in touched {
                let dst = into + label * D, src = scratch + label * D
                for e in 0..<D { dst[e] += src[e] }
                src.update(repeating: 0, count: D)
            }
            touched.removeAll(keepingCapacity: true)
        }
    }

    /// Sends each member its slices of this rank's dense shard gradients and
    /// receives this rank's slices of theirs (tag: shard and region); gathers
    /// every shard's losses and factors. In shared memory: a fence.
    private func exchange() throws {
        guard let gang, gang.size > 1 else { return }
        if let memory { return try memory.fence() }
        var sends: [MPIGang.Block] = [], receives: [MPIGang.Block] = []
        let dense = regions.indices.filter { regions[$0].kind == .dense }
        func tag(_ k: Int, _ region: Int) -> Int32 { Int32(k * regions.count + region) }
        for member in 0..<gang.size where member != gang.index {
            for k in mine {
                for i in dense where !regions[i].shares[member].isEmpty {
                    let theirs = regions[i].shares[member]
                    sends.append(.init(gradient(of: k).storage.pointer + theirs.lowerBound, count: theirs.count, peer: member, tag: tag(k, i)))
                }
            }
        }
        var offset = 0
        for i in dense {
            let s = regions[i].shares[me]
            for k in 0..<shards where !mine.contains(k) {
                if !s.isEmpty {
                    let member = owned.firstIndex { $0.contains(k) }!
                    receives.append(.init(received.pointer + offset, count: s.count, peer: member, tag: tag(k, i)))
                }
                offset += s.count
            }
        }
        try gang.exchange(sends: sends, receives: receives)
        let D = model.width, C = model.outputs, n = model.pairs
        for (buffer, perSequence) in [(losses, 1), (lnf, D), (dlogits, C), (dlabels, n * D)] {
            try gang.allGather(buffer.pointer, parts: owned.map { $0.lowerBound * size * perSequence ..< $0.upperBound * size * perSequence })
        }
    }

    /// Every member's share of `set` to every rank, region by region.
    private func gatherShares(of set: ParameterSet<Float>) throws {
        guard let gang, gang.size > 1 else { return }
        for r in regions { try gang.allGather(set.storage.pointer, parts: r.shares) }
    }

    /// Makes both Adam moments whole on every rank (each rank updated only
    /// its share): before a checkpoint.
    func gatherMoments(_ adam: Adam<Float>) throws {
        try gatherShares(of: adam.m)
        try gatherShares(of: adam.v)
    }
}
