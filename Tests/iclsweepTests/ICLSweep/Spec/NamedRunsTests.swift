import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// A spec's `runs:` section: named runs, their expansion, the checkpoints
/// sources keep, the dependency graph, and every bad chain refused with its
/// line before anything is created.
final class NamedRunsTests: XCTestCase {
    static let chain = """
    name: chain
    results: out/chain.h5
    data:
      synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}
    training:
      sequences: 3200
      learning_rate: 1.0e-3
      eval_interval: 1600
    evaluation: {sequences: 100}
    runs:
      main:
        variant: bursty
        keep: [1600]
      ciwl_only:
        variant: ciwl_only
      icl_only_graftl1:
        variant: icl_only
        graft: {from: main, at: 3200, groups: [layer1, unembedding]}
      init_from_ciwl_only:
        init: {from: ciwl_only, at: [320, 960]}
        training.sequences: 1600
      layer0_from:
        evaluate:
          - {from: main, at: 3200, groups: [rest]}
          - {from: main, at: [0, 1600], groups: [layer0]}
    """

    func parse(_ text: String) throws -> SweepSpec { try SweepSpec.parse(text, file: "/tmp/chain.yaml") }
    func error(_ text: String) -> String {
        do { _ = try parse(text); return "no error" } catch { return "\(error)" }
    }
    func edited(_ from: String, _ to: String) -> String {
        precondition(Self.chain.contains(from), from)
        return Self.chain.replacingOccurrences(of: from, with: to)
    }

    func testNamedRunsExpandAndKeepWhatTheirDependantsNeed() throws {
        let s = try parse(Self.chain)
        XCTAssertEqual(s.runs.map(\.name), ["main", "ciwl_only", "icl_only_graftl1", "init_from_ciwl_only_320", "init_from_ciwl_only_960",
                                            "layer0_from_0", "layer0_from_1.6k"])
        XCTAssertEqual(s.grid.count, 0, "no grid: only the named runs")
        let graft = s.runs[2]
        XCTAssertEqual(graft.config.variant, .iclOnly)
        XCTAssertEqual(graft.config.start?.mode, .graft)
        XCTAssertEqual(graft.sources, [0])
        XCTAssertEqual(s.runs[3].config.sequences, 1600)
        XCTAssertEqual(s.runs[3].config.start?.parts, [.init(from: "ciwl_only", at: 320, groups: ["all"])])
        XCTAssertEqual(s.runs[6].config.sequences, 0, "evaluate-only")
        XCTAssertEqual(s.runs[6].sources, [0, 0])
        XCTAssertEqual(s.runs[0].keep, [0, 1600, 3200], "its own keep: and every point a dependant names")
        XCTAssertEqual(s.runs[1].keep, [320, 960])
        XCTAssertEqual(s.runs.columns, ["training.sequences", "run"])
        XCTAssertEqual(s.runs.value("run", of: 4), .text("init_from_ciwl_only_960"))
        // sources go before the runs built on them
        let order = s.schedule.map(\.id)
        for run in s.runs { for source in run.sources { XCTAssertLessThan(order.firstIndex(of: source)!, order.firstIndex(of: run.id)!) } }

        let graph = RunGraph(s.runs, costs: s.runCosts())
        XCTAssertEqual(graph.downstream(of: 1), [3, 4])
        let (_, path) = graph.criticalPath()
        XCTAssertEqual(path.map { s.runs.name(of: $0.run) }, ["main", "icl_only_graftl1"], "main to its end, then the graft")
        XCTAssert(graph.describe().contains("  icl_only_graftl1 <- graft from main @ 3,200 [layer1, unembedding]"), "\(graph.describe())")
    }

    func testSeveralSeedsResolveSourcesWithinTheSeed() throws {
        let s = try parse(edited("    variant: bursty\n    keep: [1600]", "    variant: bursty\n    seeds: [0, 1]")
            .replacingOccurrences(of: "    variant: icl_only\n", with: "    variant: icl_only\n    seeds: [0, 1]\n"))
        let graft1 = try XCTUnwrap(s.runs.first { $0.name == "icl_only_graftl1-s1" })
        XCTAssertEqual(s.runs.name(of: graft1.sources[0]), "main-s1")
        XCTAssertEqual(graft1.config.seed, 1)
        // a source with one run is that run for every seed; with several, the seed must match
        let one = try parse(edited("init: {from: ciwl_only, at: [320, 960]}", "init: {from: ciwl_only, at: [320, 960]}\n    seeds: [3, 4]"))
        XCTAssertEqual(one.runs.filter { $0.name.hasPrefix("init_from") }.map { one.runs.name(of: $0.sources[0]) }, Array(repeating: "ciwl_only", count: 4))
        let e = error(edited("    variant: bursty\n    keep: [1600]", "    variant: bursty\n    seeds: [0, 1]")
            .replacingOccurrences(of: "    variant: icl_only\n", with: "    variant: icl_only\n    seeds: [3]\n"))
        XCTAssert(e.hasSuffix("runs.icl_only_graftl1.graft.from: no run named 'main' with seed 3 in this spec"), e)
    }

    func testBadChainsAreRefusedWithTheirLine() {
        var e = error(edited("graft: {from: main,", "graft: {from: mian,"))
        XCTAssertEqual(e, "/tmp/chain.yaml:18: runs.icl_only_graftl1.graft.from: no run named 'mian' in this spec")
        e = error(edited("at: 3200, groups: [layer1, unembedding]", "at: 6400, groups: [layer1, unembedding]"))
        XCTAssertEqual(e, "/tmp/chain.yaml:18: runs.icl_only_graftl1.graft.at: 'main' never reaches 6,400 sequences at a step "
                       + "(it trains 3,200 in steps of 32)")
        e = error(edited("at: [320, 960]", "at: [320, 970]"))
        XCTAssert(e.hasPrefix("/tmp/chain.yaml:20: runs.init_from_ciwl_only.init.at: 'ciwl_only' never reaches 970"), e)
        e = error(edited("groups: [layer1, unembedding]", "groups: [layer2, unembedding]"))
        XCTAssert(e.hasPrefix("/tmp/chain.yaml:18: runs.icl_only_graftl1.graft: run icl_only_graftl1 is impossible: graft: no parameter group 'layer2'"), e)
        e = error(edited("  ciwl_only:\n    variant: ciwl_only", "  ciwl_only:\n    variant: ciwl_only\n    freeze: [all]"))
        XCTAssert(e.contains(":16: runs.ciwl_only.freeze: run ciwl_only is impossible: freeze: leaves nothing to train"), e)
        // a source with other class counts: the unembedding does not fit
        e = error(edited("  main:\n    variant: bursty", "  main:\n    variant: bursty\n    classes: 8"))
        XCTAssert(e.hasPrefix("/tmp/chain.yaml:") && e.contains("runs.icl_only_graftl1.graft.groups: unembedding/weight does not fit: [64, 8] in 'main', [64, 16] in this run's model"), e)
        // a cycle
        e = error(edited("  ciwl_only:\n    variant: ciwl_only", "  ciwl_only:\n    variant: ciwl_only\n    init: {from: init_from_ciwl_only_320, at: 320}"))
        XCTAssert(e.contains("dependency cycle: ") && e.contains("ciwl_only -> init_from_ciwl_only_320 -> ciwl_only"), e)
        e = error(edited("at: 3200, groups: [rest]}", "at: 3200, groups: [embedding]}"))
        XCTAssert(e.contains(":24: runs.layer0_from.evaluate: run layer0_from_0 is impossible: evaluate: no checkpoint gives layer1/ln/gain"), e)
        e = error(edited("at: 3200, groups: [rest]}", "at: 3200, groups: [rest, layer0]}"))
        XCTAssert(e.contains("evaluate: layer0/ln/gain is taken from two checkpoints"), e)
        e = error(edited("    keep: [1600]", "    keep: [1601]"))
        XCTAssert(e.contains("runs.main: keep: 1601 is not a step of this run"), e)
        e = error(edited("  init_from_ciwl_only:", "  main:"))
        XCTAssert(e.contains("given twice"), e)
        e = error(Self.chain.replacingOccurrences(of: "runs:", with: "grid: {seeds: [0]}\nruns:")
            .replacingOccurrences(of: "  main:\n    variant: bursty", with: "  K16-E4-bursty-s0:\n    variant: bursty"))
        XCTAssert(e.contains("a run name takes letters, digits, '_' and '.' only"), e)
    }

    /// Named runs and a grid together; a grid run can be a source by its name.
    func testGridRunsCanBeSources() throws {
        let s = try parse(Self.chain.replacingOccurrences(of: "runs:", with: "grid: {variants: [bursty, matched]}\nruns:")
            .replacingOccurrences(of: "graft: {from: main,", with: "graft: {from: K16-E4-matched-s0,"))
        XCTAssertEqual(s.runs.count, 2 + 7)
        XCTAssertEqual(s.runs[2 + 2].sources, [1])
        XCTAssertEqual(s.runs[1].keep, [3200])
        XCTAssertEqual(s.runs.value("run", of: 0), .text("-"))
    }
}
