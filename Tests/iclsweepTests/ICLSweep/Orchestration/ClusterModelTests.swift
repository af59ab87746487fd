import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The model `validate --cluster` prints: a step's parts from the stated
/// formulas, and the sweep list-scheduled on nodes and cores.
final class ClusterModelTests: XCTestCase {
    static let spec = """
    name: model
    results: out/m.h5
    data:
      synthetic: {classes: 64, exemplars: 4, dim: 16, noise: 0.1, seed: 0}
    training:
      sequences: 64_000
      batch: 32
      eval_interval: 64_000
    evaluation: {sequences: 100}
    runs:
      a: {variant: bursty}
      b: {variant: matched, training.shards: 4, training.ranks: 2}
      c: {variant: bursty, init: {from: a, at: 32_000}}
    """

    func testAStepIsItsStatedParts() throws {
        let s = try SweepSpec.parse(Self.spec, file: "/tmp/m.yaml")
        let machine = ClusterModel.Machine(nodes: 1, cores: 4, gflops: 10, bandwidth: 40, coreBandwidth: 20)
        let model = ClusterModel(machine)
        let b = s.runs.config(of: 1)
        let P = Double(ParameterLayout(b.model(inputDim: 16)).count), F = b.model(inputDim: 16).flopsPerStep(batch: 32)
        // 2 ranks, 4 shards, 4 busy cores: 10 GB/s each
        let st = model.step(b, dim: 16, ranks: 2, busy: 4)
        XCTAssertEqual(st.compute, 0.5 * F / 10e9, accuracy: 1e-12)
        XCTAssertEqual(st.adam, 32 * P / 2 / 10e9, accuracy: 1e-12)
        // in the gang's shared memory: its 2 own shards' dense gradients zeroed, 4 slices of half added;
        // the class tables (64 labels, width 64, 64 outputs) built from factors, 64 + 64 + 2 x 64 floats
        // a sequence, of which this rank writes its own 16 sequences'; the parameters not moved
        let Pt = 64.0 * 64 + 64 * 64 + 64, Pd = P - Pt, f = 256.0
        let dense = 4 * Pd * 2 + 12 * 4 * Pd / 2
        let tables = 4 * f * 16 + 12 * Pt / 2
        XCTAssertEqual(st.exchange, (dense + tables) / 10e9 + 2 * machine.latency, accuracy: 1e-12)
        // alone on its node a core gets its own bandwidth, not the node's share
        XCTAssertEqual(model.step(b, dim: 16, ranks: 2, busy: 1).adam, 32 * P / 2 / 20e9, accuracy: 1e-12)
        XCTAssertEqual(model.step(s.runs.config(of: 0), dim: 16, ranks: 1).exchange, 0, "one shard: nothing to exchange")
    }

    func testAShardEfficiencySlowsOnlyTheNamedShardedRunsProducts() throws {
        let s = try SweepSpec.parse(Self.spec, file: "/tmp/m.yaml")
        let machine = ClusterModel.Machine(nodes: 1, cores: 4, gflops: 10, bandwidth: 40, coreBandwidth: 20)
        let plain = ClusterModel(machine), slow = ClusterModel(machine, shardEfficiency: ["b": 0.5, "*": 0.8])
        let b = s.runs.config(of: 1)
        XCTAssertEqual(slow.efficiency(of: "b", shards: 4), 0.5)
        XCTAssertEqual(slow.efficiency(of: "other", shards: 4), 0.8, "the runs not named take *")
        XCTAssertEqual(slow.efficiency(of: "a", shards: 1), 1, "one shard is the whole batch")
        let fast = plain.step(b, dim: 16, ranks: 2, busy: 4), half = plain.step(b, dim: 16, ranks: 2, busy: 4, efficiency: 0.5)
        XCTAssertEqual(half.compute, 2 * fast.compute, accuracy: 1e-15)
        XCTAssertEqual(half.exchange, fast.exchange)
        XCTAssertEqual(half.adam, fast.adam)
        // in the sweep: a (1 shard) as before, b longer
        let p0 = plain.predict(s), p1 = slow.predict(s)
        XCTAssertEqual(p1.end[0] - p1.start[0], p0.end[0] - p0.start[0], accuracy: 1e-9)
        XCTAssertEqual(p1.start[1], p0.start[1], accuracy: 1e-9)
        let compute = plain.step(b, dim: 16, ranks: 2, busy: p0.busy[1]).compute
        XCTAssertEqual((p1.end[1] - p1.start[1]) - (p0.end[1] - p0.start[1]), Double(b.steps) * compute, accuracy: 1e-6,
                       "its products take twice as long, the rest as before")
    }

    func testTheSweepIsListScheduledWithGangsAndChains() throws {
        let s = try SweepSpec.parse(Self.spec, file: "/tmp/m.yaml")
        let machine = ClusterModel.Machine(nodes: 1, cores: 2, gflops: 10, bandwidth: 40, coreBandwidth: 20)
        let p = ClusterModel(machine).predict(s)
        let (a, b, c) = (0, 1, 2)
        // a goes first (c hangs on it); the gang b needs both cores and waits while c, ready at a's
        // kept checkpoint (half of a), takes the free one
        XCTAssertEqual(p.start[a], 0)
        XCTAssertEqual(p.start[c], (p.end[a] - p.start[a]) / 2, accuracy: 1e-6, "c starts at a's kept checkpoint")
        XCTAssertEqual(p.start[b], max(p.end[a], p.end[c]), accuracy: 1e-9, "a gang of 2 waits for 2 free cores")
        XCTAssertEqual(p.makespan, p.end[b], accuracy: 1e-9)
        XCTAssertEqual(p.criticalPath, [b], "b waited for cores, not for a checkpoint")
        XCTAssertEqual(p.busy[c], 2)
        // on 2 nodes, the gang and a start at once
        let wide = ClusterModel(.init(nodes: 2, cores: 2, gflops: 10, bandwidth: 40, coreBandwidth: 20)).predict(s)
        XCTAssertEqual(wide.start[a], 0)
        XCTAssertEqual(wide.start[b], 0)
        XCTAssertLessThan(wide.makespan, p.makespan)
    }

    /// As the coordinator: a gang that waits holds its node, whose free core
    /// takes the short runs that end before the gang can start and passes
    /// over a longer one ahead of them (GangTests runs the same spec).
    func testAWaitingGangHoldsItsNodeAndBackfillsRunsThatEndInTime() throws {
        let s = try SweepSpec.parse(BackfillSpec.text, file: "/tmp/b.yaml")
        let id = Dictionary(uniqueKeysWithValues: s.runs.map { ($0.name, $0.id) })
        let (first, gang, long) = (id["first"]!, id["gang"]!, id["long"]!)
        let shorts = (0..<8).map { id["K16-E4-bursty-s\($0)"]! }
        let p = ClusterModel(.init(nodes: 1, cores: 2, gflops: 10, bandwidth: 40, coreBandwidth: 20)).predict(s)
        XCTAssertEqual(p.start[first], 0)
        XCTAssertEqual(p.start[gang], p.end[first], accuracy: 1e-9, "the gang starts as first ends: nothing backfilled delays it")
        XCTAssert(shorts.allSatisfy { p.end[$0] <= p.end[first] + 1e-9 }, "the short runs fill the held core")
        XCTAssertGreaterThanOrEqual(p.start[long], p.end[gang] - 1e-9, "long would end after first: it waits for the gang")
        // greedy list scheduling would have started long at 0, and the gang only at its end
        XCTAssertGreaterThan(p.end[long] - p.start[long], p.end[first] - p.start[first])
    }
}
