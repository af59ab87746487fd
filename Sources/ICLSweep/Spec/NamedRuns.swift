import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import Yams

/// One run of a spec's `runs:` section: a named run with its own fields,
/// possibly built on other runs' checkpoints. An entry whose start takes a
/// list of `at` values is one run per value (`init_from_ciwl_only_4M`, ...);
/// an entry with several seeds one run per seed (`main-s1`).
public struct NamedRun {
    /// The run's name in the results file: `label`, then `-s<seed>` when
    /// its entry has several seeds.
    public let name: String
    /// The entry's name, with the `at` of its list when it has one: what
    /// summaries group seeds by (the `run` column).
    public let label: String
    public let config: RunConfig
    /// Fields the entry sets (dotted paths), with their values.
    let overrides: [(path: String, value: FieldValue)]
    /// Sequence counts the entry asks to keep checkpoints at (`keep:`).
    let keep: [Int]
    let reader: SpecReader
    /// Where each key of the entry was written.
    let keyReaders: [String: SpecReader]
    /// Where each start part's `from` and `at` were written.
    let partReaders: [(from: SpecReader, at: SpecReader, groups: SpecReader?)]
    /// The entry's seed count (for resolving `from`).
    let seed: UInt64
}

/// Reading the `runs:` section.
enum NamedRuns {
    static let entryKeys = ["variant", "classes", "exemplars", "seeds", "keep", "init", "graft", "evaluate", "freeze"]

    /// Each entry of `runs:` in order, expanded. `base` has every setting
    /// applied; fields the grid sweeps take their default (or must be set).
    static func read(_ reader: SpecReader, base: RunConfig, grid: Grid, active: [SpecField],
                     settings: [String: FieldValue]) throws -> [NamedRun] {
        guard let mapping = reader.node.mapping, !mapping.isEmpty else {
            throw reader.error("expected a mapping of run names to their fields, e.g. main: {variant: bursty}")
        }
        let fieldKeys = active.filter { $0.sweepable || !$0.recorded }.map(\.path)  // ranks: per run, never swept
        var out: [NamedRun] = []
        var entries = Set<String>()
        for (keyNode, valueNode) in mapping {
            guard let entry = keyNode.string, !entry.isEmpty else { throw reader.error("run names must be plain names", line: keyNode.mark?.line) }
            let r = SpecReader(file: reader.file, node: valueNode, path: "runs.\(entry)")
            guard entry.allSatisfy({ $0.isLetter || $0.isNumber || "_.".contains($0) }) else {
                throw r.error("a run name takes letters, digits, '_' and '.' only", line: keyNode.mark?.line)
            }
            if !entries.insert(entry).inserted { throw r.error("given twice", line: keyNode.mark?.line) }
            let keys = valueNode.mapping == nil && r.isNull ? [:] : try r.mapping(allowed: entryKeys + fieldKeys)
            var config = base
            // fields the grid sweeps: their defaults, unless this entry sets them
            for axis in grid.fieldAxes where keys[axis.name] == nil {
                guard let value = axis.field?.defaultValue else {
                    throw r.error("the grid sweeps \(axis.name), which has no default: set it for this run")
                }
                axis.field!.apply(&config, value)
            }
            var overrides: [(path: String, value: FieldValue)] = []
            for field in SpecField.all {
                guard let fr = keys[field.path] else { continue }
                let value = try field.kind.read(fr)
                field.apply(&config, value)
                if field.recorded { overrides.append((field.path, value)) }
            }
            for field in SpecField.all where keys[field.path] != nil {
                guard let (path, wanted) = field.requires else { continue }
                let has = overrides.first { $0.path == path }?.value ?? settings[path] ?? SpecField.byPath[path]!.defaultValue
                if has?.text != wanted {
                    throw keys[field.path]!.error("applies only with \(path): \(wanted) (it is \(has.map { "\($0)" } ?? "unset"))")
                }
            }
            let available: (classes: Int, exemplars: Int, dim: Int)
            do { available = try config.data.available() } catch { throw r.error("\(error)") }
            config.classes = try keys["classes"].map { try RunAxis.classes.kind.read($0).int } ?? available.classes
            config.exemplars = try keys["exemplars"].map { try RunAxis.exemplars.kind.read($0).int } ?? available.exemplars
            config.variant = try keys["variant"].map { Variant(rawValue: try RunAxis.variants.kind.read($0).text)! } ?? .bursty
            SpecField.applyDerived(&config) { keys[$0] != nil || settings[$0] != nil }
            let seeds: [UInt64] = try keys["seeds"].map { s in
                s.node.sequence == nil ? [try s.seed()] : try s.list { try $0.seed() }
            } ?? [0]
            let keep = try keys["keep"].map { k in try k.list { try FieldKind.count(min: 0).read($0).int } } ?? []

            // the start: at most one of init / graft / evaluate, plus freeze
            let modes = RunStart.Mode.allCases.filter { keys[$0.rawValue] != nil }
            if modes.count > 1 { throw keys[modes[1].rawValue]!.error("give at most one of init, graft and evaluate") }
            let freeze = try keys["freeze"].map { f in try f.list { try $0.string() } } ?? []
            var parts: [(from: String, at: [Int], groups: [String], readers: (from: SpecReader, at: SpecReader, groups: SpecReader?))] = []
            if let mode = modes.first {
                let mr = keys[mode.rawValue]!
                let partNodes: [SpecReader]
                if mode == .evaluate {
                    guard let list = mr.node.sequence, !list.isEmpty else {
                        throw mr.error("expected a list of parts, e.g. [{from: main, at: 20_000_000, groups: [rest]}, {from: main, at: [1_000_000, 2_000_000], groups: [layer0]}]")
                    }
                    partNodes = list.enumerated().map { SpecReader(file: r.file, node: $1, path: "\(mr.path)[\($0)]") }
                } else {
                    partNodes = [mr]
                }
                for p in partNodes {
                    let allowed = mode == .initialize ? ["from", "at"] : ["from", "at", "groups"]
                    let pk = try p.mapping(allowed: allowed)
                    guard let from = pk["from"] else { throw p.error("missing 'from' (the run whose checkpoint it starts from)") }
                    guard let at = pk["at"] else { throw p.error("missing 'at' (the source's sequence count)") }
                    let ats = at.node.sequence == nil ? [try FieldKind.count(min: 0).read(at).int]
                                                      : try at.list { try FieldKind.count(min: 0).read($0).int }
                    let groups: [String]
                    if mode == .initialize { groups = ["all"] } else {
                        guard let g = pk["groups"] else { throw p.error("missing 'groups' (e.g. [layer1, unembedding])") }
                        groups = try g.list { try $0.string() }
                    }
                    parts.append((try from.string(), ats, groups, (from, at, pk["groups"])))
                }
                if parts.filter({ $0.at.count > 1 }).count > 1 {
                    throw mr.error("only one part may list several 'at' values (each value makes one run)")
                }
            }
            let listed = parts.first { $0.at.count > 1 }
            let ats: [Int?] = listed.map { $0.at.map(Optional.some) } ?? [nil]
            for at in ats {
                let label = at.map { "\(entry)_\(shortCount($0))" } ?? entry
                var c = config
                if let mode = modes.first {
                    c.start = RunStart(mode: mode, parts: parts.map { p in
                        RunStart.Part(from: p.from, at: p.at.count > 1 ? at! : p.at[0], groups: p.groups)
                    }, freeze: freeze)
                    if mode == .evaluate { c.sequences = 0 }
                } else if !freeze.isEmpty {
                    c.start = RunStart(mode: nil, parts: [], freeze: freeze)
                }
                for seed in seeds {
                    var s = c
                    s.seed = seed
                    let name = seeds.count > 1 ? "\(label)-s\(seed)" : label
                    if let other = out.first(where: { $0.name == name }) {
                        throw r.error("makes a run named '\(name)', as \(other.reader.path) does", line: keyNode.mark?.line)
                    }
                    out.append(NamedRun(name: name, label: label, config: s, overrides: overrides, keep: keep, reader: r, keyReaders: keys,
                                        partReaders: parts.map(\.readers), seed: seed))
                }
            }
        }
        return out
    }

    /// `4M`, `9.75M`, `500k`, `1234`: a sequence count in a run name, as the authors write them.
    static func shortCount(_ n: Int) -> String {
        func trimmed(_ x: Double) -> String {
            var s = String(format: "%.3f", x)  // the authors write 9.75M for the step nearest it
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            return s
        }
        if n >= 1_000_000 { return trimmed(Double(n) / 1e6) + "M" }
        if n >= 1_000 { return trimmed(Double(n) / 1e3) + "k" }
        return String(n)
    }
}

/// Every run of a spec: the grid's runs (ids `0..<grid.count`), then the
/// named runs of `runs:` in order. Nothing proportional to the grid is kept.
public struct RunList: RandomAccessCollection {
    public let grid: Grid
    public let named: [NamedRun]
    /// Run id of each start part of each named run (`named[i]` has id `grid.count + i`).
    let sources: [[Int]]
    /// Sequence counts at which each run keeps a checkpoint (its dependants'
    /// and its own `keep:`); only runs that keep any.
    public let keep: [Int: [Int]]

    public var startIndex: Int { 0 }
    public var endIndex: Int { grid.count + named.count }

    public subscript(id: Int) -> GridPoint {
        var point: GridPoint
        if id < grid.count {
            point = grid[id]
        } else {
            let n = named[id - grid.count]
            point = GridPoint(id: id, config: n.config, name: n.name, fields: namedFields(n))
            point.sources = sources[id - grid.count]
        }
        point.keep = keep[id] ?? []
        return point
    }

    /// Run `id`'s config (without building the whole point).
    public func config(of id: Int) -> RunConfig { id < grid.count ? grid[id].config : named[id - grid.count].config }

    public func name(of id: Int) -> String { id < grid.count ? grid.name(of: id) : named[id - grid.count].name }

    /// Each run's number of evaluation points (its config's `evalPoints`),
    /// one config per cell, and one for the whole grid unless it sweeps a length.
    public func pointCounts() -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count)
        if grid.count > 0 {
            if ["training.sequences", "training.eval_interval"].contains(where: grid.sweeps) {
                for cell in 0..<grid.cellCount {
                    let n = grid[cell * grid.seedCount].config.evalPoints.count
                    out += repeatElement(n, count: grid.seedCount)
                }
            } else {
                out = Array(repeating: grid[0].config.evalPoints.count, count: grid.count)
            }
        }
        return out + named.map { $0.config.evalPoints.count }
    }

    /// The length in bytes of the longest run name.
    public var longestName: Int { Swift.max(grid.longestName, named.map { $0.name.utf8.count }.max() ?? 0) }

    /// The per-run columns of the results file besides classes, exemplars,
    /// variant and seed: the grid's swept fields, the fields named runs set,
    /// and `run` (the named run's label; `-` for grid runs).
    public var columns: [String] {
        var out = grid.fieldAxes.map(\.name)
        for field in SpecField.all where !out.contains(field.path) && named.contains(where: { $0.overrides.contains { $0.path == field.path } }) {
            out.append(field.path)
        }
        return named.isEmpty ? out : out + ["run"]
    }

    /// Whether a column holds numbers (else text).
    func columnIsNumber(_ column: String) -> Bool {
        guard let kind = SpecField.byPath[column]?.kind else { return false }  // `run`
        switch kind {
        case .choice, .text: return false
        case .count, .number, .seed: return true
        }
    }

    /// The value of `column` for run `id`.
    func value(_ column: String, of id: Int) -> FieldValue {
        if id < grid.count {
            if column == "run" { return .text("-") }
            if let i = grid.axes.firstIndex(where: { $0.name == column }) { return grid.values(of: id)[i] }
            return grid.settings[column] ?? SpecField.byPath[column]?.defaultValue ?? .double(.nan)
        }
        let n = named[id - grid.count]
        if column == "run" { return .text(n.label) }
        if column == "training.sequences" { return .int(n.config.sequences) }  // 0 for an evaluate-only run
        if let o = n.overrides.first(where: { $0.path == column }) { return o.value }
        return grid.settings[column] ?? SpecField.byPath[column]?.defaultValue ?? .double(.nan)
    }

    private func namedFields(_ n: NamedRun) -> [(path: String, value: FieldValue)] {
        let id = grid.count + named.firstIndex { $0.name == n.name }!
        return columns.map { ($0, value($0, of: id)) }
    }

    /// The id of the run a named run's `from` names: a named entry with the
    /// same seed, else any run by its full name (`gridNames`: the grid's
    /// runs by name, built once when a `from` names one).
    func resolve(_ from: String, seed: UInt64, gridNames: () -> [String: Int]) -> Int? {
        if let i = named.firstIndex(where: { $0.label == from && $0.seed == seed }) { return grid.count + i }
        if let i = named.firstIndex(where: { $0.name == from }) { return grid.count + i }
        return from.hasPrefix("K") && from.contains("-") ? gridNames()[from] : nil
    }

    // MARK: - Building and checking

    /// Resolves every `from`, gathers the checkpoints each source keeps and
    /// checks the chain: sources exist and are trained, `at` lies on the
    /// source's steps within its length, grafted tensors fit, no cycle.
    static func make(grid: Grid, named: [NamedRun]) throws -> RunList {
        var list = RunList(grid: grid, named: named, sources: [], keep: [:])
        var sources: [[Int]] = []
        var keep: [Int: Set<Int>] = [:]
        var dims: [DataSource: Int] = [:]
        var gridIndex: [String: Int]?
        func gridNames() -> [String: Int] {
            if let gridIndex { return gridIndex }
            let index = Dictionary((0..<grid.count).map { (grid.name(of: $0), $0) }, uniquingKeysWith: { a, _ in a })
            gridIndex = index
            return index
        }
        func model(_ c: RunConfig) -> ModelConfig {
            let dim = dims[c.data] ?? ((try? c.data.available().dim) ?? 1)
            dims[c.data] = dim
            return c.model(inputDim: dim)
        }
        for (i, n) in named.enumerated() {
            let id = grid.count + i
            for k in n.keep {
                if k > n.config.sequences || k % n.config.batch != 0 {
                    throw n.reader.error("keep: \(k) is not a step of this run (a multiple of \(n.config.batch) up to \(n.config.sequences))")
                }
                keep[id, default: []].insert(k)
            }
            guard let start = n.config.start else { sources.append([]); continue }
            var ids: [Int] = []
            let tensors = start.tensors(model: model(n.config))
            for (p, (part, readers)) in zip(start.parts, n.partReaders).enumerated() {
                guard let source = list.resolve(part.from, seed: n.seed, gridNames: gridNames) else {
                    let seeded = named.contains { $0.label == part.from } ? " with seed \(n.seed)" : ""
                    throw readers.from.error("no run named '\(part.from)'\(seeded) in this spec")
                }
                if source == id { throw readers.from.error("a run cannot start from itself") }
                let s = list.config(of: source)
                if s.start?.evaluatesOnly == true { throw readers.from.error("'\(part.from)' only evaluates: it keeps no checkpoints") }
                if part.at > s.sequences || part.at % s.batch != 0 {
                    throw readers.at.error("'\(part.from)' never reaches \(Format.count(part.at)) sequences at a step "
                                           + "(it trains \(Format.count(s.sequences)) in steps of \(s.batch))")
                }
                let (mine, theirs) = (model(n.config), model(s))
                for t in tensors[p] ?? [] where !ParameterLayout(theirs).tensors.contains(t) || t.shape(theirs) != t.shape(mine) {
                    let there = ParameterLayout(theirs).tensors.contains(t) ? "\(t.shape(theirs))" : "absent"
                    throw (readers.groups ?? readers.from).error("\(t.name) does not fit: \(there) in '\(part.from)', "
                                                                 + "\(t.shape(mine)) in this run's model")
                }
                keep[source, default: []].insert(part.at)
                ids.append(source)
            }
            sources.append(ids)
        }
        list = RunList(grid: grid, named: named, sources: sources, keep: keep.mapValues { $0.sorted() })
        // a cycle among named runs (grid runs have no sources)
        var state = [Int](repeating: 0, count: named.count)  // 0 new, 1 on the path, 2 done
        func visit(_ i: Int, _ path: [Int]) throws {
            if state[i] == 2 { return }
            if state[i] == 1 {
                let cycle = (path.drop { $0 != i } + [i]).map { named[$0].name }.joined(separator: " -> ")
                throw named[i].reader.error("dependency cycle: \(cycle)")
            }
            state[i] = 1
            for s in sources[i] where s >= grid.count { try visit(s - grid.count, path + [i]) }
            state[i] = 2
        }
        for i in named.indices { try visit(i, []) }
        return list
    }
}
