import Foundation
import ICLSupport
import ICLData
import ICLModel

/// One training step of a run whose batch is split into `S` equal shards
/// (`training.shards`), shared by the `R` ranks of a gang (`training.ranks`,
/// 1 <= R <= S), with the same bits for every R:
///
/// 1. every rank computes the gradient of each of its shards alone, into a
///    zeroed buffer of its own (a shard's loss is scaled to its share of the
///    whole batch's mean, so the shards' gradients add up to the batch's);
/// 2. the parameters are cut into R slices, one per rank (as ZeRO-1 cuts the
///    optimiser state); each rank receives its slice of every other rank's
///    shard gradients and adds all S of them in shard order,
///    ((g0 + g1) + g2) + ...: the order is fixed by S, never by R or by MPI;
/// 3. each rank applies Adam to its slice (an element's update depends on
///    that element alone), and every rank gathers the others' slices.
///
/// The moments stay sliced between steps: `gatherMoments` makes them whole
/// before a checkpoint. The per-sequence losses are gathered too, so every
/// rank sums the same batch loss in the same order.
final class ShardedStep {
    let shards: Int
    /// Sequences per shard.
    let size: Int
    let gang: MPIGang?
    /// The shards this rank computes.
    let mine: Range<Int>
    /// The shards of each gang member: contiguous, in member order.
    let owned: [Range<Int>]
    /// The parameters each member updates.
    let slices: [Range<Int>]
    /// One shard's sequences, refilled for each shard (no allocation per step).
    var part: Batch
    /// One gradient per shard of `mine`.
    let shardGrads: [ParameterSet<Float>]
    /// This rank's slice of the other members' shard gradients, shard after shard.
    let received: Buffer<Float>
    /// Every sequence's loss, in batch order.
    let losses: Buffer<Float>

    /// Contiguous, near-equal ranges of `0..<count` for `parts` parts, each
    /// bound a multiple of `align` (the last one ends at `count`).
    static func split(_ count: Int, into parts: Int, align: Int = 1) -> [Range<Int>] {
        let bounds = (0...parts).map { i -> Int in
            i == parts ? count : min(count, (count * i / parts) / align * align)
        }
        return (0..<parts).map { bounds[$0] ..< bounds[$0 + 1] }
    }

    init(config: RunConfig, layout: ParameterLayout, gang: MPIGang?) {
        shards = config.shardCount
        size = config.batch / shards
        self.gang = gang
        let members = gang?.size ?? 1, me = gang?.index ?? 0
        precondition(members <= shards, "a gang of \(members) ranks for \(shards) shards")
        owned = ShardedStep.split(shards, into: members)
        mine = owned[me]
        slices = ShardedStep.split(layout.count, into: members, align: 16)
        part = Batch(size: size, pairs: config.pairs)
        shardGrads = mine.map { _ in ParameterSet<Float>(layout) }
        received = Buffer(count: (shards - mine.count) * slices[me].count)
        losses = Buffer(count: config.batch)
    }

    var slice: Range<Int> { slices[gang?.index ?? 0] }

    /// One step on `batch`: gradients into `grads` (this rank's slice holds
    /// the whole batch's), Adam on the slice, parameters gathered.
    /// - Returns: the batch-mean loss.
    func step(_ trainer: Trainer, batch: Batch, times t: UnsafeMutablePointer<StepTimes>,
              afterBackward: (Double) -> Void) throws -> Double {
        let model = trainer.model, params = trainer.params, ws = trainer.workspace
        // 1. each shard's gradient alone
        for (j, k) in mine.enumerated() {
            part.take(k * size ..< (k + 1) * size, of: batch)
            model.forwardFloat(params, ws, batch: part, table: trainer.table, gradient: true, outOf: batch.size, times: t)
            (losses.pointer + k * size).update(from: ws.losses.pointer, count: size)
            shardGrads[j].storage.zero()
            model.backwardFloat(params, shardGrads[j], ws, batch: part, times: t)
        }
        var clock = Clock(t)
        // 2. this rank's slice of every shard's gradient, added in shard order
        try exchangeGradients()
        let s = slice, into = trainer.grads.storage.pointer + s.lowerBound
        for k in 0..<shards {
            let from = gradient(ofShard: k) + (mine.contains(k) ? s.lowerBound : 0)
            if k == 0 { into.update(from: from, count: s.count) } else { Kernels.add(into, from, count: s.count) }
        }
        if let gang {
            try gang.allGather(losses.pointer, parts: owned.map { $0.lowerBound * size ..< $0.upperBound * size })
        }
        clock.lap(\.exchange)
        var total = 0.0
        for b in 0..<batch.size { total += Double(losses.pointer[b]) }
        let loss = total / Double(batch.size)
        guard loss.isFinite else { return loss }  // the trainer stops the run, on every rank alike
        afterBackward(loss)
        // 3. Adam on the slice, then every slice to every rank
        trainer.adam.updateFloat(params, trainer.grads, within: s)
        clock.lap(\.adam)
        if let gang { try gang.allGather(params.storage.pointer, parts: slices) }
        clock.lap(\.exchange)
        return loss
    }

    /// Where shard `k`'s gradient of this rank's slice is: its own buffer
    /// (whole), or its place in `received` (the slice only).
    private func gradient(ofShard k: Int) -> UnsafeMutablePointer<Float> {
        if let j = mine.firstIndex(of: k) { return shardGrads[j - mine.lowerBound].storage.pointer }
        let before = k < mine.lowerBound ? k : k - mine.count
        return received.pointer + before * slice.count
    }

    /// Sends each member its slice of this rank's shard gradients, and
    /// receives this rank's slice of theirs. Tag: the shard.
    private func exchangeGradients() throws {
        guard let gang, gang.size > 1 else { return }
        var sends: [MPIGang.Block] = [], receives: [MPIGang.Block] = []
        for member in 0..<gang.size where member != gang.index {
            let theirs = slices[member]
            for (j, k) in mine.enumerated() where !theirs.isEmpty {
                sends.append(.init(shardGrads[j].storage.pointer + theirs.lowerBound, count: theirs.count, peer: member, tag: Int32(k)))
            }
            for k in owned[member] where !slice.isEmpty {
                receives.append(.init(gradient(ofShard: k), count: slice.count, peer: member, tag: Int32(k)))
            }
        }
        try gang.exchange(sends: sends, receives: receives)
    }

    /// Makes both Adam moments whole on every rank (each rank updated only
    /// its slice): before a checkpoint.
    func gatherMoments(_ adam: Adam<Float>) throws {
        guard let gang, gang.size > 1 else { return }
        try gang.allGather(adam.m.storage.pointer, parts: slices)
        try gang.allGather(adam.v.storage.pointer, parts: slices)
    }
}
