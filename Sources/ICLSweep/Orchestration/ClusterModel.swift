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

    public struct Prediction {
        /// Seconds from the first hand-out to the last run's end.
        public var makespan: Double
        /// Every run's predicted start and end, by run id.
        public var start: [Double], end: [Double]
        /// The chain of runs that ends last: each run the one whose end (or kept checkpoint) let the next start.
        public var criticalPath: [Int]
        /// Core-seconds of training over cores x makespan.
        public var utilisation: Double
        /// Busy cores on each run's node when it started (itself included).
        public var busy: [Int]
    }

    /// The sweep on this machine, each run on its `training.ranks`.
    public func predict(_ spec: SweepSpec) -> Prediction {
        let runs = spec.runs, n = runs.count
        var dims: [DataSource: Int] = [:]
        let configs = (0..<n).map { runs.config(of: $0) }
        let dim: [Int] = configs.map { c in
            let d = dims[c.data] ?? ((try? c.data.available().dim) ?? 1)
            dims[c.data] = d
            return d
        }
        let graph = RunGraph(runs, costs: spec.runCosts(wall: true))
        let order = spec.schedule(of: Array(0..<n), graph: graph)
        var free = Array(repeating: machine.cores, count: machine.nodes)  // the coordinator sleeps: it needs no core
        var start = Array(repeating: Double.nan, count: n), end = Array(repeating: Double.nan, count: n)
        var after = Array(repeating: -1, count: n)  // the run whose progress let this one start
        var busyAt = Array(repeating: 0, count: n)
        var pending = order
        var running: [(end: Double, node: Int, ranks: Int, run: Int)] = []
        var now = 0.0, busy = 0.0
        /// When run `id` can start: once each source has reached its checkpoint (nil: a source has not started).
        func ready(_ id: Int) -> (at: Double, by: Int)? {
            var at = 0.0, by = -1
            for s in graph.sources(of: id) {
                guard !start[s.run].isNaN else { return nil }
                let total = Double(max(configs[s.run].sequences, 1))
                let t = start[s.run] + (end[s.run] - start[s.run]) * Double(s.at) / total
                if t >= at { at = t; by = s.run }
            }
            return (at, by)
        }
        /// Its wall time when it starts on `node` now (its memory traffic at
        /// the bandwidth the node's busy cores leave each, as they are at its start).
        func wall(_ id: Int, ranks: Int, node: Int) -> Double {
            seconds(configs[id], dim: dim[id], ranks: ranks, busy: machine.cores - free[node] + ranks,
                    efficiency: efficiency(of: runs.name(of: id), shards: configs[id].shardCount))
        }
        /// When `ranks` cores of `node` are free, from the ends of the runs on it.
        func freeAt(_ node: Int, ranks: Int) -> Double {
            var have = free[node]
            for r in running.filter({ $0.node == node }).sorted(by: { $0.end < $1.end }) {
                if have >= ranks { break }
                have += r.ranks
                if have >= ranks { return r.end }
            }
            return now
        }
        while !pending.isEmpty {
            var started = false
            // as the coordinator: a gang that cannot start holds the node with the most
            // free cores of those it fits, whose free cores then take only single-rank
            // runs that end before the gang can start (backfilling)
            var held: [Int: Double] = [:]
            var waiting = Set<Int>()  // rank counts whose best run waits
            for id in pending {
                guard let (at, by) = ready(id), at <= now else { continue }
                let ranks = min(configs[id].rankCount, machine.cores)
                guard !waiting.contains(ranks) else { continue }
                let open = free.indices.filter { free[$0] >= ranks && held[$0] == nil }
                var chosen = open.max(by: { (free[$0], -$0) < (free[$1], -$1) })
                if chosen == nil && ranks == 1 {
                    chosen = held.keys.sorted().first { free[$0] >= 1 && now + wall(id, ranks: 1, node: $0) <= held[$0]! }
                }
                guard let node = chosen else {
                    if ranks == 1 { continue }  // a later single may still end in time on a held node
                    waiting.insert(ranks)
                    let hosts = free.indices.filter { held[$0] == nil }
                    if let node = hosts.max(by: { (free[$0], -$0) < (free[$1], -$1) }) { held[node] = freeAt(node, ranks: ranks) }
                    continue
                }
                let w = wall(id, ranks: ranks, node: node)
                free[node] -= ranks
                start[id] = now; end[id] = now + w; after[id] = by; busyAt[id] = machine.cores - free[node]
                running.append((end[id], node, ranks, id))
                busy += w * Double(ranks)
                pending.removeAll { $0 == id }
                started = true
                break  // the order may change what fits: look again from the first
            }
            if started { continue }
            // nothing fits now: advance to the next end (or the next source checkpoint)
            let nextReady = pending.compactMap { ready($0)?.at }.filter { $0 > now }.min()
            let nextEnd = running.map(\.end).filter { $0 > now }.min()
            guard let next = [nextReady, nextEnd].compactMap({ $0 }).min() else { break }
            now = next
            for r in running where r.end <= now { free[r.node] += r.ranks }
            running.removeAll { $0.end <= now }
        }
        let makespan = end.filter { !$0.isNaN }.max() ?? 0
        var path: [Int] = []
        if var last = end.indices.filter({ !end[$0].isNaN }).max(by: { end[$0] < end[$1] }) {
            path = [last]
            while after[last] >= 0 { last = after[last]; path.insert(last, at: 0) }
        }
        let cores = Double(machine.nodes * machine.cores)
        return Prediction(makespan: makespan, start: start, end: end, criticalPath: path,
                          utilisation: makespan > 0 ? busy / (cores * makespan) : 0, busy: busyAt)
    }
}
