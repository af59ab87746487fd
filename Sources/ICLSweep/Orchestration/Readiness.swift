import Foundation
import ICLSupport
import ICLTraining

/// Which runs of a sweep may start. A run built on others may start once
/// each checkpoint it names exists (or once it has a checkpoint of its own);
/// until then it waits. When a source ends (done, failed, diverged, or
/// blocked itself) without the checkpoint a run waits for, that run is
/// blocked, and so is everything built on it: blocked, not failed, so that
/// `--retry-failed` runs it once its source is fixed.
///
/// Work is proportional to the runs with sources, never to the grid.
struct Readiness {
    struct Key: Hashable { let run: Int; let at: Int }

    let spec: SweepSpec
    let graph: RunGraph
    /// Runs waiting, with how many of their checkpoints are still missing.
    private(set) var waiting: [Int: Int] = [:]
    /// The runs waiting on each (source, sequence count).
    private var waiters: [Key: [Int]] = [:]

    /// Sorts `todo` (in priority order: sources before the runs built on
    /// them) into the runs that may start now, those that wait, and those
    /// blocked already (a source that is final without the checkpoint).
    static func make(spec: SweepSpec, todo: [Int], graph: RunGraph) -> (Readiness, ready: [Int], blocked: [(run: Int, why: String)]) {
        var r = Readiness(spec: spec, graph: graph)
        var willRun = Set(todo.filter { $0 >= spec.grid.count || graph.dependants[$0] != nil })
        var ready: [Int] = [], blocked: [(run: Int, why: String)] = []
        for id in todo {
            let sources = id >= spec.grid.count ? graph.sources(of: id) : []
            if sources.isEmpty || FileManager.default.fileExists(atPath: spec.checkpoint(for: spec.runs[id]).path) {
                ready.append(id)
                continue
            }
            var unmet = 0, why: String?
            for s in sources where !r.exists(s.run, s.at) {
                if willRun.contains(s.run) {
                    unmet += 1
                    r.waiters[Key(run: s.run, at: s.at), default: []].append(id)
                } else {
                    why = r.missing(s.run, s.at)
                }
            }
            if let why {
                blocked.append((id, why))
                willRun.remove(id)
                for (key, runs) in r.waiters { r.waiters[key] = runs.filter { $0 != id } }
            } else if unmet == 0 {
                ready.append(id)
            } else {
                r.waiting[id] = unmet
            }
        }
        r.waiters = r.waiters.filter { !$0.value.isEmpty }
        return (r, ready, blocked)
    }

    private init(spec: SweepSpec, graph: RunGraph) { self.spec = spec; self.graph = graph }

    func exists(_ run: Int, _ at: Int) -> Bool { Readiness.exists(run, at, spec) }
    func missing(_ run: Int, _ at: Int) -> String { Readiness.missing(run, at, spec) }

    static func exists(_ run: Int, _ at: Int, _ spec: SweepSpec) -> Bool {
        FileManager.default.fileExists(atPath: spec.keptCheckpoint(run: run, at: at).path)
    }

    static func missing(_ run: Int, _ at: Int, _ spec: SweepSpec) -> String {
        "its source \(spec.runs.name(of: run)) ended without a checkpoint at \(Format.count(at)) sequences"
    }

    /// Source `run` kept its checkpoint at `at`: the runs it frees.
    mutating func kept(run: Int, at: Int) -> [Int] {
        guard let runs = waiters.removeValue(forKey: Key(run: run, at: at)) else { return [] }
        var freed: [Int] = []
        for id in runs {
            waiting[id]! -= 1
            if waiting[id] == 0 { waiting[id] = nil; freed.append(id) }
        }
        return freed
    }

    /// Run `run` ended for good (any final status): the runs waiting on it
    /// start when the checkpoint they need exists, else they are blocked,
    /// and everything built on those too. Returns (freed, blocked).
    mutating func ended(run: Int) -> (freed: [Int], blocked: [(run: Int, why: String)]) {
        var freed: [Int] = [], blocked: [(run: Int, why: String)] = []
        var ending = [(run, "")]
        while let (source, because) = ending.popLast() {
            for key in waiters.keys.filter({ $0.run == source }).sorted(by: { $0.at < $1.at }) {
                if because.isEmpty && exists(key.run, key.at) { freed += kept(run: key.run, at: key.at); continue }
                for id in waiters.removeValue(forKey: key)! where waiting[id] != nil {
                    waiting[id] = nil
                    let why = because.isEmpty ? missing(key.run, key.at) : "its source \(spec.runs.name(of: source)) is blocked: \(because)"
                    blocked.append((id, why))
                    ending.append((id, why))
                }
            }
        }
        return (freed, blocked)
    }

    /// Every waiting run, blocked: no run left will write what they wait for.
    mutating func blockAll() -> [(run: Int, why: String)] {
        let out = waiting.keys.sorted().map { ($0, "waits on a checkpoint that no run left in this sweep writes") }
        waiting = [:]
        waiters = [:]
        return out
    }

    /// For one process: why `run` cannot start now (a checkpoint it names is
    /// missing and it has none of its own), or nil.
    static func missingSource(of run: GridPoint, spec: SweepSpec) -> String? {
        guard let start = run.config.start, !start.parts.isEmpty,
              !FileManager.default.fileExists(atPath: spec.checkpoint(for: run).path) else { return nil }
        return zip(run.sources, start.parts).first { !exists($0, $1.at, spec) }.map { missing($0, $1.at, spec) }
    }
}
