import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Which run waits on which checkpoint of which, and what that means for
/// the order of work. Only runs in `runs:` have sources; any run can be one.
/// Nothing here is proportional to the grid.
public struct RunGraph {
    let runs: RunList
    let costs: RunCosts
    /// For each source run: the runs that start from it, with the sequence count they wait for.
    public let dependants: [Int: [(run: Int, at: Int)]]
    /// A run's own cost plus the longest chain waiting on it (runs with dependants only).
    private let chain: [Int: Double]

    public init(_ runs: RunList, costs: RunCosts) {
        self.runs = runs
        self.costs = costs
        var dependants: [Int: [(run: Int, at: Int)]] = [:]
        for id in runs.grid.count..<runs.count {
            for s in RunGraph.sources(of: id, in: runs) { dependants[s.run, default: []].append((id, s.at)) }
        }
        self.dependants = dependants
        var chain: [Int: Double] = [:]
        func visit(_ id: Int) -> Double {
            if let c = chain[id] { return c }
            let c = costs[id] + ((dependants[id] ?? []).map { visit($0.run) }.max() ?? 0)
            chain[id] = c
            return c
        }
        for id in dependants.keys { _ = visit(id) }
        self.chain = chain
    }

    /// The checkpoints run `id` starts from: (source run, sequence count).
    public func sources(of id: Int) -> [(run: Int, at: Int)] { RunGraph.sources(of: id, in: runs) }

    private static func sources(of id: Int, in runs: RunList) -> [(run: Int, at: Int)] {
        guard id >= runs.grid.count, let start = runs.named[id - runs.grid.count].config.start else { return [] }
        return zip(runs.sources[id - runs.grid.count], start.parts.map(\.at)).map { ($0, $1) }
    }

    /// Hand-out priority: the work that hangs on the run, its own included.
    public func priority(_ id: Int) -> Double { chain[id] ?? costs[id] }

    /// Every run that starts from `id`, directly or through others.
    public func downstream(of id: Int) -> [Int] {
        var out: [Int] = [], seen = Set<Int>(), stack = [id]
        while let r = stack.popLast() {
            for d in dependants[r] ?? [] where seen.insert(d.run).inserted { out.append(d.run); stack.append(d.run) }
        }
        return out.sorted()
    }

    /// The chain that bounds the sweep's length with unlimited workers: a
    /// run starts when every source has reached its checkpoint (a source
    /// reaches `at` after `at / sequences` of its cost). Returns its cost and
    /// its runs, the first source first, with the `at` each is needed to.
    public func criticalPath() -> (cost: Double, path: [(run: Int, until: Int?)]) {
        var finish: [Int: Double] = [:], startOf: [Int: Double] = [:], via: [Int: (run: Int, at: Int)] = [:]
        func fraction(_ s: Int, _ at: Int) -> Double {
            let total = runs.config(of: s).sequences
            return total > 0 ? Double(at) / Double(total) : 1
        }
        func visit(_ id: Int) -> Double {
            if let f = finish[id] { return f }
            var start = 0.0
            for s in sources(of: id) {
                let ready = visit(s.run) - costs[s.run] * (1 - fraction(s.run, s.at))
                if ready > start || via[id] == nil { start = max(start, ready); via[id] = s }
            }
            startOf[id] = start
            finish[id] = start + costs[id]
            return finish[id]!
        }
        var best = -1.0, last = -1
        // grid runs without dependants: only the longest cell matters
        if runs.grid.count > 0, let cell = (0..<runs.grid.cellCount).max(by: { costs.cells[$0] < costs.cells[$1] }) {
            best = costs.cells[cell]; last = cell * runs.grid.seedCount
        }
        for id in Array(dependants.keys) + Array(runs.grid.count..<runs.count) where visit(id) > best {
            best = visit(id); last = id
        }
        guard last >= 0 else { return (0, []) }
        var path: [(run: Int, until: Int?)] = [(last, nil)]
        var r = last
        while let s = via[r] { path.insert((s.run, s.at), at: 0); r = s.run }
        return (best, path)
    }

    /// One line per run built on others: `name <- source @ 4M (graft layer1, unembedding)`.
    public func describe() -> [String] {
        (runs.grid.count..<runs.count).compactMap { id in
            let n = runs.named[id - runs.grid.count]
            guard let start = n.config.start else { return nil }
            let parts = zip(sources(of: id), start.parts).map { s, p in
                "\(runs.name(of: s.run)) @ \(Format.count(s.at))" + (start.mode == .initialize ? "" : " [\(p.groups.joined(separator: ", "))]")
            }
            let frozen = start.freeze.isEmpty ? "" : "; freeze \(start.freeze.joined(separator: ", "))"
            if parts.isEmpty { return "  \(n.name): fresh start\(frozen)" }
            return "  \(n.name) <- \(start.mode?.rawValue ?? "start") from \(parts.joined(separator: " + "))\(frozen)"
        }
    }
}
