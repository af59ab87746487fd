import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLTraining

/// A step split into shards (`training.shards`) on one rank: each shard's
/// gradient alone, the shards added in order, one Adam update. (The same
/// step on 2 and 3 ranks, bitwise equal to this one, is in
/// `EndToEnd/GangTests`.)
final class ShardedStepTests: XCTestCase {
    func config(shards: Int?) -> RunConfig {
        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 4, dim: 16, noise: 0.1, seed: 2)),
                          classes: 8, exemplars: 4, variant: .bursty, seed: 11, sequences: 240, evalInterval: 120,
                          evalClasses: 8, evalExemplars: 4)
        c.batch = 24; c.evalSequences = 50; c.width = 16; c.heads = 2
        c.adam = AdamSettings(learningRate: 3e-3)
        c.shards = shards
        return c
    }

    func trainer(_ c: RunConfig) throws -> Trainer {
        try Trainer(config: c, table: try c.data.table(classes: c.classes, exemplars: c.exemplars))
    }

    func testSplitsAreContiguousNearEqualAndAligned() {
        XCTAssertEqual(ShardedStep.split(6, into: 1), [0..<6])
        XCTAssertEqual(ShardedStep.split(6, into: 4), [0..<1, 1..<3, 3..<4, 4..<6])
        let slices = ShardedStep.split(1000, into: 3, align: 16)
        XCTAssertEqual(slices, [0..<320, 320..<656, 656..<1000])
        XCTAssert(slices.dropLast().allSatisfy { $0.upperBound % 16 == 0 })
    }

    /// The oracle: every shard's gradient computed by hand (its share of the
    /// batch mean: the backward's, with the unembedding weight's written out
    /// as a chain of fused multiply-adds over the shard's sequences), added
    /// in shard order, then one Adam update: the trainer's step gives exactly
    /// these bits, although it sends the class tables' gradients as factors.
    func testAStepIsTheShardsGradientsAddedInOrder() throws {
        let c = config(shards: 3)
        let t = try trainer(c)
        let start = t.params.storage.array
        var rng = t.rng
        var batch = Batch(size: c.batch, pairs: c.pairs)
        t.sampler.fill(&batch, kind: .train(c.variant), rng: &rng)
        _ = try t.step()

        let layout = t.params.layout
        let params = ParameterSet<Float>(layout), sum = ParameterSet<Float>(layout)
        params.storage.pointer.update(from: start, count: layout.count)
        let ws = Workspace<Float>(t.model.config, batch: 8)
        var losses: [Float] = []
        for k in 0..<3 {
            var part = Batch(size: 8, pairs: c.pairs)
            part.take(k * 8 ..< (k + 1) * 8, of: batch)
            let g = ParameterSet<Float>(layout)
            t.model.forwardFloat(params, ws, batch: part, table: t.table, gradient: true, outOf: 24)
            losses += Array(UnsafeBufferPointer(start: ws.losses.pointer, count: 8))
            t.model.backwardFloat(params, g, ws, batch: part)
            let D = c.width, C = t.model.config.outputs, dW = g[.unembedWeight]
            for d in 0..<D {
                for j in 0..<C {
                    var chain: Float = 0
                    for b in 0..<8 { chain = chain.addingProduct(ws.lnf.pointer[b * D + d], ws.dlogits.pointer[b * C + j]) }
                    dW[d * C + j] = 0 + chain
                }
            }
            for i in 0..<layout.count { sum.storage.pointer[i] = k == 0 ? g.storage.pointer[i] : sum.storage.pointer[i] + g.storage.pointer[i] }
        }
        Adam<Float>(layout, settings: c.adam).updateFloat(params, sum)
        XCTAssertEqual(t.params.storage.array.map(\.bitPattern), params.storage.array.map(\.bitPattern))
        XCTAssertEqual(t.lossSum.bitPattern, (losses.reduce(0.0) { $0 + Double($1) } / 24).bitPattern, "the batch loss, summed in batch order")
    }

    /// Shards change only the order of sums: a run with 3 shards follows the
    /// whole-batch run to float32 rounding, and 1 shard is the whole batch.
    func testShardsFollowTheWholeBatchToRounding() throws {
        let whole = try trainer(config(shards: nil)), one = try trainer(config(shards: 1)), three = try trainer(config(shards: 3))
        XCTAssertNil(one.sharded, "1 shard: today's step")
        for _ in 0..<5 {
            let a = try whole.step(), b = try one.step(), c = try three.step()
            XCTAssertEqual(a.bitPattern, b.bitPattern)
            XCTAssertEqual(a, c, accuracy: 1e-5 * a)
        }
        let a = whole.params.storage.array, c = three.params.storage.array
        XCTAssertEqual(a, one.params.storage.array)
        let worst = zip(a, c).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5, "5 steps of Adam at lr 3e-3 from reordered sums")
        XCTAssertNotEqual(a, c, "the order of sums differs, so the last bits may")
    }

    func testShardsAndRanksAreCheckedAndRanksAreNotRecorded() throws {
        var c = config(shards: 5)
        XCTAssert(c.problems().contains { $0.field == "training.shards" && $0.message == "5 does not divide the batch (24) into equal parts" },
                  "\(c.problems())")
        c.shards = 4
        c.ranks = 6
        XCTAssert(c.problems().contains { $0.field == "training.ranks" && $0.message.hasPrefix("6 ranks for 4 shards") }, "\(c.problems())")
        c.ranks = 4
        XCTAssert(c.problems().isEmpty, "\(c.problems())")
        XCTAssert(c.json.contains("\"shards\":4"), c.json)
        XCTAssertFalse(c.json.contains("ranks"), "where a run trains is not what it is: \(c.json)")
        var other = c
        other.ranks = 2
        XCTAssertEqual(other, c, "ranks take no part in a config's equality")
        XCTAssertNil(try RunConfig.fromJSON(c.json).ranks)
        XCTAssertFalse(config(shards: nil).json.contains("shards"), "1 shard: stored configs as they were")
    }
}
