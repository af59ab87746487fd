import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// What a sweep takes on a cluster, predicted from each run's work and a
/// few figures of the machine (`iclsweep validate --cluster NODESxCORES`).
/// The model, stated so it can be checked (`docs/ranks.md`):
///
/// - A step of a run on R ranks with S shards (B sequences, P parameters,
///   F matrix-product FLOPs): compute `ceil(S/R)/S x F / rate`, the ranks'
///   own shards one after another at the core's sustained rate;
///   Adam on P/R parameters, 32 bytes each; and, with several shards, the
///   exchange (`ShardedStep`) of a gang on one node, in its shared memory.
///   The P parameters are Pt of the class tables (label embedding,
///   unembedding weight and bias) and Pd dense ones. Each own shard's dense
///   gradient buffer is zeroed (4 bytes x Pd) and each rank adds S slices
///   of Pd/R read where the shards' ranks wrote them (12 bytes each). For
///   the tables it writes its own sequences' factors (f = D + C + pairs x D
///   floats a sequence, 4 bytes each) and builds its Pt/R rows from every
///   sequence's, read in place (12 bytes a row element: the products
///   themselves counted with the compute). The parameters are not moved:
///   each rank updates its share where all read it. Two fences a step
///   (after the backward, after Adam), a latency each. Every byte
///   moves at the node's bandwidth shared by its busy cores (as busy as at
///   the run's start), at most one core's own bandwidth. The products of a
///   run with several shards run at the whole-batch rate times its shard
///   efficiency: its whole batch's compute time over its shards', as
///   `bench --run NAME` measures them on one core (1 unless given:
///   optimistic).
/// - An evaluation: every evaluator's sequences forward at F/3 per batch,
///   shared by the ranks.
/// - The sweep: every core trains (the coordinator sleeps between
///   messages and needs no core of its own); the runs are list-scheduled
///   in its order (the most wall time hanging on a run first), each on the
///   node with the most free cores, a gang on one node, each run once its sources have kept the
///   checkpoints it starts from. A gang that cannot start holds the node
///   with the most free cores; there, free cores take only single-rank runs
///   that end before the gang can start (backfilling, as the coordinator,
///   with exact estimates).
public struct ClusterModel {
    public struct Machine {
        public var nodes: Int
        public var cores: Int
        /// Sustained training GFLOP/s per core (`iclsweep bench`: the whole step's rate).
        public var gflops: Double
        /// A node's memory bandwidth in GB/s, shared by its busy cores.
        public var bandwidth: Double
        /// The most one core draws alone, in GB/s (`bench`: copy bandwidth).
        public var coreBandwidth: Double
        /// Seconds per exchange phase (a barrier's worth of messages).
        public var latency = 20e-6
        public init(nodes: Int, cores: Int, gflops: Double, bandwidth: Double, coreBandwidth: Double) {
            self.nodes = nodes; self.cores = cores; self.gflops = gflops; self.bandwidth = bandwidth; self.coreBandwidth = coreBandwidth
        }

        /// Bytes per second one core moves while `busy` cores of its node work.
        func perCore(busy: Int) -> Double { min(coreBandwidth, bandwidth / Double(max(busy, 1))) * 1e9 }
    }

    /// One step's seconds by part.
    public struct Step {
        public var compute = 0.0, exchange = 0.0, adam = 0.0
        public var total: Double { compute + exchange + adam }
    }

    public let machine: Machine
    /// Each sharded run's compute rate over its whole batch's, by run name
    /// (`bench --run NAME` prints it); "*" for the others.
    public let shardEfficiency: [String: Double]

    public init(_ machine: Machine, shardEfficiency: [String: Double] = [:]) {
        self.machine = machine
        self.shardEfficiency = shardEfficiency
    }

    /// The shard efficiency given for the run named `name` (by name or "*"); nil when none was.
    public func givenEfficiency(of name: String) -> Double? {
        shardEfficiency[name] ?? shardEfficiency["*"]
    }

    /// The shard efficiency of the run named `name` with `shards` shards (1 for one shard, and 1 when none was given).
    public func efficiency(of name: String, shards: Int) -> Double {
        shards > 1 ? givenEfficiency(of: name) ?? 1 : 1
    }

    /// A step of `config` on `ranks` ranks while `busy` cores of the node work (itself included),
    /// its products at `efficiency` of the whole-batch rate.
    public func step(_ config: RunConfig, dim: Int, ranks R: Int, busy: Int? = nil, efficiency: Double = 1) -> Step {
        let m = config.model(inputDim: dim)
        let P = Double(ParameterLayout(m).count), F = m.flopsPerStep(batch: config.batch)
        let S = config.shardCount, r = Double(R)
        let perCore = machine.perCore(busy: busy ?? machine.cores)
        var s = Step()
        s.compute = Double((S + R - 1) / R) / Double(S) * F / (machine.gflops * 1e9 * efficiency)
        s.adam = 32 * P / r / perCore
        if S > 1 {
            let D = Double(m.width), C = Double(m.outputs), B = Double(config.batch)
            let Pt = Double(m.labels) * D + D * C + C, Pd = P - Pt
            let own = Double((S + R - 1) / R)
            let ownSequences = own * B / Double(S), f = D + C + Double(m.pairs) * D
            // dense: own buffers zeroed, S slices added
            let dense = 4 * Pd * own + 12 * Double(S) * Pd / r
            // tables: own factors written, own rows built
            let tables = 4 * f * ownSequences + 12 * Pt / r
            s.exchange = (dense + tables) / perCore + (R > 1 ? 2 * machine.latency : 0)
        }
        return s
    }

    /// Seconds of a whole run on `ranks` ranks, its evaluations included.
    public func seconds(_ config: RunConfig, dim: Int, ranks: Int, busy: Int? = nil, efficiency: Double = 1) -> Double {
        let evalBatches = Double(config.evalPoints.count * config.applicableEvaluators.count * config.evalSequences) / Double(config.batch)
        let eval = evalBatches * config.model(inputDim: dim).flopsPerStep(batch: config.batch) / 3 / (machine.gflops * 1e9) / Double(ranks)
        return Double(config.steps) * step(config, dim: dim, ranks: ranks, busy: busy, efficiency: efficiency).total + eval
    }
}
