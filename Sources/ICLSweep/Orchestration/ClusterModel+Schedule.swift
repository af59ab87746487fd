import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// The sweep on the model's machine: each run's start and end from its
/// wall time (`ClusterModel.seconds`), scheduled as the coordinator
/// schedules (see `ClusterModel`'s statement of the model).
extension ClusterModel {
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
