import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

final class SweepSpecTests: XCTestCase {
    static let valid = """
    name: t
    results: out/t.h5
    data:
      synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}
    training:
      sequences: 3200
      batch: 32
      learning_rate: 1.0e-3
      eval_interval: 1600
    evaluation: {sequences: 100, seed: 7}
    grid:
      classes: [8, 16]
      exemplars: [4]
      variants: [bursty, icl_only]
      seeds: [0, 1, 2]
    """

    func parse(_ text: String) throws -> SweepSpec { try SweepSpec.parse(text, file: "/tmp/spec.yaml") }

    func error(_ text: String) -> String {
        do { _ = try parse(text); return "no error" } catch { return "\(error)" }
    }

    func testValidSpecMakesTheFullGrid() throws {
        let s = try parse(Self.valid)
        XCTAssertEqual(s.runs.count, 2 * 1 * 2 * 3)
        XCTAssertEqual(s.results, "/tmp/out/t.h5")
        XCTAssertEqual(s.runs[0].name, "K8-E4-bursty-s0")
        XCTAssertEqual(s.runs[11].name, "K16-E4-icl_only-s2")
        XCTAssertEqual(Set(s.runs.map(\.name)).count, 12)
        XCTAssertEqual(s.evalPoints, [0, 1600, 3200])
        XCTAssertEqual(s.runs[4].config.evalClasses, 8)
        XCTAssertEqual(s.runs[4].config.adam.learningRate, 1e-3)
        // longest expected run first: 16 classes before 8
        XCTAssertEqual(s.schedule.first!.config.classes, 16)
    }

    func testErrorsNameFileLineAndField() {
        func edited(_ from: String, _ to: String) -> String { Self.valid.replacingOccurrences(of: from, with: to) }
        var e = error(edited("  batch: 32", "  batch: 32\n  momentum: 0.9"))
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:8: training.momentum: unknown key"), e)
        e = error(edited("sequences: 3200", "sequences: lots"))
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:6: training.sequences: expected a whole number"), e)
        e = error(edited("seeds: [0, 1, 2]", "seeds: []"))
        XCTAssert(e.contains(":15: grid.seeds: must not be empty"), e)
        e = error(edited("seeds: [0, 1, 2]", "seeds: [0, 1, 1]"))
        XCTAssert(e.contains("grid.seeds: duplicate value 1"), e)
        e = error(edited("classes: [8, 16]", "classes: [8, 32]"))
        XCTAssert(e.contains("grid.classes: run K32-E4-bursty-s0 is impossible") && e.contains("exceeds the 16 classes"), e)
        e = error(edited("exemplars: [4]", "exemplars: [9]"))
        XCTAssert(e.contains("grid.exemplars") && e.contains("exceeds the 4 exemplars"), e)
        e = error(edited("[bursty, icl_only]", "[bursty, sometimes]"))
        XCTAssert(e.contains("grid.variants[1]: unknown value 'sometimes' (expected one of: bursty, matched"), e)
        e = error(edited("eval_interval: 1600", "eval_interval: 1000"))
        XCTAssert(e.contains("training.eval_interval: 1000 is not a multiple of the batch size 32"), e)
        e = error(edited("learning_rate: 1.0e-3", "learning_rate: -1"))
        XCTAssert(e.contains(":8: training.learning_rate: must be a positive finite number, got -1.0"), e)
        e = error(edited("name: t\n", ""))
        XCTAssert(e.contains("name: missing"), e)
        e = error("name: [unclosed")
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:") && e.contains("not valid YAML"), e)
        e = error(edited("  synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}",
                         "  file: {path: /nonexistent/features.h5}"))
        XCTAssert(e.contains("data.file.path") && e.contains("cannot open"), e)
    }

    /// The larger model's fields: MLPs, their ratio, positions; shapes the data cannot feed.
    func testModelFieldsOfTheLargerModel() throws {
        func edited(_ model: String) -> String { Self.valid.replacingOccurrences(of: "training:\n", with: "model: \(model)\ntraining:\n") }
        let s = try parse(edited("{layers: 3, mlp: on, mlp_ratio: 2, positional: sinusoidal, pairs: 3}"))
        let m = s.runs[0].config.model
        XCTAssertEqual(m.layers, 3); XCTAssertEqual(m.mlpRatio, 2); XCTAssertEqual(m.positional, .sinusoidal); XCTAssertEqual(m.pairs, 3)
        XCTAssertEqual(try parse(edited("{mlp: on}")).runs[0].config.model.mlpRatio, 4, "ratio 4 by default")
        XCTAssertEqual(try parse(Self.valid).runs[0].config.json, try parse(edited("{mlp: off, positional: learned}")).runs[0].config.json,
                       "the defaults leave the stored config as it was")
        var e = error(edited("{positional: rotary}"))
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:5: model.positional: unknown value 'rotary' (expected one of: learned, sinusoidal)"), e)
        e = error(edited("{mlp: on, mlp_ratio: 0}"))
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:5: model.mlp_ratio: must be a positive number, got 0"), e)
        e = error(edited("{mlp_ratio: 2}"))
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:5: model.mlp_ratio: applies only with model.mlp: on (it is off)"), e)
        e = error(edited("{pairs: 7, positions: 8}"))
        XCTAssert(e.hasPrefix("/tmp/spec.yaml:5: model.positions: run K8-E4-bursty-s0 is impossible: model.positions: 8 positions must cover the 15 tokens of a sequence"), e)
        XCTAssertEqual(error(edited("{pairs: 7, positions: 8, positional: sinusoidal}")), "no error", "fixed positions need no table")
        // burstiness: a burst of the query class and one of a distractor must fit the context
        let bursty = Self.valid.replacingOccurrences(of: "  batch: 32\n", with: "  batch: 32\n  burstiness: 3\n")
        XCTAssertEqual(try parse(bursty.replacingOccurrences(of: "training:\n", with: "model: {pairs: 6}\ntraining:\n")).runs[0].config.burstiness, 3)
        e = error(bursty.replacingOccurrences(of: "training:\n", with: "model: {pairs: 5}\ntraining:\n"))
        XCTAssert(e.contains(":9: training.burstiness: run K8-E4-bursty-s0 is impossible: training.burstiness: 3 must be 1, or at most half the context pairs (5)"), e)
    }

    func testDifferencesNameTheFields() throws {
        let a = try parse(Self.valid)
        let b = try parse(Self.valid.replacingOccurrences(of: "sequences: 3200", with: "sequences: 6400")
            .replacingOccurrences(of: "results: out/t.h5", with: "results: elsewhere.h5")
            .replacingOccurrences(of: "name: t", with: "name: t  # a comment"))
        XCTAssertEqual(b.differences(from: a), ["training.sequences: 3200 -> 6400"])
    }

    func testNumbersAreComparedByValueWhenSpecsAreCompared() throws {
        let a = try parse(Self.valid.replacingOccurrences(of: "learning_rate: 1.0e-3", with: "learning_rate: 5.0e-4"))
        let b = try parse(Self.valid.replacingOccurrences(of: "learning_rate: 1.0e-3", with: "learning_rate: 0.0005")
                               .replacingOccurrences(of: "sequences: 3200", with: "sequences: 3_200"))
        XCTAssertEqual(a.differences(from: b), [])
        let c = try parse(Self.valid.replacingOccurrences(of: "learning_rate: 1.0e-3", with: "learning_rate: 0.0006"))
        XCTAssertEqual(c.differences(from: a), ["training.learning_rate: 0.0005 -> 0.0006"])
        let e = try parse(Self.valid.replacingOccurrences(of: "  batch: 32\n", with: ""))
        XCTAssertEqual(e.differences(from: try parse(Self.valid)), [], "a default and the same value written out are the same")
        let d = try parse(Self.valid.replacingOccurrences(of: "seeds: [0, 1, 2]", with: "seeds: [0, 1, 2.0e0]"))
        XCTAssertEqual(d.differences(from: try parse(Self.valid)), [], "lists of numbers too")
    }

    func testAnEvalIntervalLongerThanTheRunIsRefused() {
        let text = Self.valid.replacingOccurrences(of: "eval_interval: 1600", with: "eval_interval: 6400")
        XCTAssertEqual(error(text), "/tmp/spec.yaml:9: training.eval_interval: 6400 is larger than training.sequences (3200): "
                       + "the run would only be evaluated at its start and end")
    }

    /// The grid is made from the index: a million points cost nothing until used.
    func testAMillionPointGridIsIndexedWithoutBeingBuilt() throws {
        let seeds = (0..<2500).map(String.init).joined(separator: ", ")
        let text = Self.valid
            .replacingOccurrences(of: "classes: [8, 16]", with: "classes: [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]")
            .replacingOccurrences(of: "variants: [bursty, icl_only]", with: "variants: [bursty, matched, icl_only, ciwl_only]")
            .replacingOccurrences(of: "exemplars: [4]", with: "exemplars: [1, 2, 3, 4]")
            .replacingOccurrences(of: "seeds: [0, 1, 2]", with: "seeds: [\(seeds)]")
        let s = try parse(text)
        XCTAssertEqual(s.runs.count, 10 * 4 * 4 * 2500)
        XCTAssertEqual(s.runs[399_999].name, "K12-E4-ciwl_only-s2499")
        XCTAssertEqual(s.runs[2500].name, "K3-E1-matched-s0")
        XCTAssertEqual(s.runs[123_456].id, 123_456)
        let order = s.schedule(of: [0, 399_999, 2500, 2501])
        XCTAssertEqual(order.first, 399_999, "the most classes first")
    }

    func testClassFrequencyIsReadAndCheckedLineByLine() throws {
        let zipf = try parse(Self.valid.replacingOccurrences(of: "  eval_interval: 1600", with: "  eval_interval: 1600\n  class_frequency: zipf\n  zipf_alpha: 1.2"))
        XCTAssertEqual(zipf.runs[0].config.classFrequency, .zipf(alpha: 1.2))
        XCTAssertNil(try parse(Self.valid).runs[0].config.classFrequency, "uniform leaves the stored config as it was")
        XCTAssertEqual(error(Self.valid.replacingOccurrences(of: "  eval_interval: 1600", with: "  eval_interval: 1600\n  zipf_alpha: 1.2")),
                       "/tmp/spec.yaml:10: training.zipf_alpha: applies only with training.class_frequency: zipf (it is uniform)")
        XCTAssertEqual(error(Self.valid.replacingOccurrences(of: "  eval_interval: 1600", with: "  eval_interval: 1600\n  class_frequency: zipf\n  zipf_alpha: -1")),
                       "/tmp/spec.yaml:11: training.zipf_alpha: must be a finite number >= 0, got -1.0")
        XCTAssertEqual(error(Self.valid.replacingOccurrences(of: "  eval_interval: 1600", with: "  eval_interval: 1600\n  class_frequency: power")),
                       "/tmp/spec.yaml:10: training.class_frequency: unknown value 'power' (expected one of: uniform, zipf)")
    }

    /// The hierarchical source's fields: read, swept, and spread refused without prototypes at its line.
    func testHierarchicalDataFieldsAreReadSweptAndChecked() throws {
        let line = "  synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}"
        let spec = try parse(Self.valid.replacingOccurrences(of: line, with: "  synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0, prototypes: 4, spread: 0.2}"))
        guard case .synthetic(let s) = spec.runs[0].config.data else { return XCTFail("synthetic data") }
        XCTAssertEqual(s.prototypes, 4)
        XCTAssertEqual(s.spread, 0.2)
        let swept = try parse(Self.valid.replacingOccurrences(of: line, with: "  synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}")
            .replacingOccurrences(of: "  seeds: [0, 1, 2]", with: "  seeds: [0]\n  data.synthetic.prototypes: [0, 4]"))
        XCTAssertEqual(swept.runs.count, 8)
        XCTAssert(swept.runs.contains { $0.name.contains("proto4") }, swept.runs.map(\.name).joined(separator: " "))
        XCTAssertEqual(error(Self.valid.replacingOccurrences(of: line, with: "  synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0, spread: 0.2}")),
                       "/tmp/spec.yaml:4: data.synthetic.spread: run K8-E4-bursty-s0 is impossible: "
                       + "data.synthetic.spread: applies only with data.synthetic.prototypes (the prototypes the classes vary)")
    }

    // MARK: - Grid over any field

    static let swept = """
    name: t
    results: out/t.h5
    data:
      synthetic: {classes: 16, exemplars: 4, dim: 8, seed: 0}
    training:
      sequences: 3200
      eval_interval: 1600
    evaluation: {sequences: 100}
    grid:
      classes: [8, 16]
      variants: [bursty, matched, icl_only]
      training.learning_rate: [1.0e-4, 3.0e-4]
      data.synthetic.noise: [0.1, 0.5]
      seeds: [0, 1]
      exclude:
        - {variants: icl_only, data.synthetic.noise: 0.5}
        - {classes: 8, training.learning_rate: 3.0e-4}
      include:
        - {variants: ciwl_only, training.learning_rate: 1.0e-3, data.synthetic.noise: [0.1, 0.9]}
    """

    func testAnyFieldIsAnAxisWithIncludeAndExclude() throws {
        let s = try parse(Self.swept)
        // product 2 x 3 x 2 x 2 = 24 cells; exclude icl_only x noise 0.5 (4) and classes 8 x lr 3e-4 (6,
        // one of them already gone): 24 - 4 - 5 = 15; include ciwl_only x lr 1e-3 x 2 noises x 2 classes = 4
        XCTAssertEqual(s.grid.cellCount, 19)
        XCTAssertEqual(s.runs.count, 38)
        XCTAssertEqual(s.runs[0].name, "K8-E4-bursty-lr0.0001-noise0.1-s0")
        XCTAssertEqual(s.runs[1].name, "K8-E4-bursty-lr0.0001-noise0.1-s1")
        XCTAssertEqual(s.runs.last!.name, "K16-E4-ciwl_only-lr0.001-noise0.9-s1")
        let names = s.runs.map(\.name)
        XCTAssertEqual(Set(names).count, 38)
        XCTAssertFalse(names.contains { $0.contains("icl_only") && $0.contains("noise0.5") })
        XCTAssertFalse(names.contains { $0.hasPrefix("K8-") && $0.contains("lr0.0003") })
        XCTAssertTrue(names.contains("K16-E4-icl_only-lr0.0003-noise0.1-s1"))
        // the values reach the runs' configs
        let last = s.runs.last!.config
        XCTAssertEqual(last.adam.learningRate, 1e-3)
        XCTAssertEqual(last.variant, .ciwlOnly)
        guard case .synthetic(let d) = last.data else { return XCTFail("synthetic data expected") }
        XCTAssertEqual(d.noise, 0.9)
        XCTAssertEqual(d.dim, 8)
        XCTAssertEqual(s.runs[0].fields.map(\.path), ["training.learning_rate", "data.synthetic.noise"])
        // one feature table per data source, sized for the runs that use it
        XCTAssertEqual(s.tables.count, 3)
        XCTAssertTrue(s.tables.allSatisfy { $0.classes == 16 && $0.exemplars == 4 })
        // defaults: exemplars from the data, evaluation from the runs
        XCTAssertEqual(s.runs[0].config.exemplars, 4)
        XCTAssertEqual(s.runs[0].config.evalClasses, 8)
    }

    func testSweptTrainingLengthsGiveTheUnionOfEvaluationPoints() throws {
        let s = try parse(Self.valid.replacingOccurrences(of: "  sequences: 3200\n", with: "")
            .replacingOccurrences(of: "  seeds: [0, 1, 2]", with: "  seeds: [0, 1, 2]\n  training.sequences: [3200, 4800]"))
        XCTAssertEqual(s.evalPoints, [0, 1600, 3200, 4800])
        XCTAssertEqual(s.sequences(of: [0, 3]), 3200 + 4800)
        XCTAssertEqual(s.runs[3].name, "K8-E4-bursty-seq4800-s0")
    }

    func testGridErrorsNameTheLine() {
        func withGrid(_ extra: String) -> String { error(Self.valid + "\n" + extra) }
        XCTAssertEqual(withGrid("  training.momentum: [0.9]"),
                       "/tmp/spec.yaml:16: grid.training.momentum: unknown key in grid (expected classes, exemplars, variants, seeds, "
                       + "include, exclude, or a field's dotted path such as training.learning_rate)")
        XCTAssertEqual(withGrid("  training: [1]"),
                       "/tmp/spec.yaml:16: grid.training: names a section, not a field: sweep one of its fields, e.g. training.sequences")
        let noNoise = Self.valid.replacingOccurrences(of: "noise: 0.1, ", with: "")
        XCTAssertEqual(error(noNoise + "\n  data.synthetic.noise: [0.1, -1]"),
                       "/tmp/spec.yaml:16: grid.data.synthetic.noise[1]: must be a finite number >= 0, got -1.0")
        XCTAssertEqual(withGrid("  model.width: [32, wide]"),
                       "/tmp/spec.yaml:16: grid.model.width[1]: expected a whole number, got 'wide'")
        XCTAssertEqual(withGrid("  training.learning_rate: [1.0e-4]"),
                       "/tmp/spec.yaml:16: grid.training.learning_rate: is swept here and also set at line 8: keep one")
        XCTAssertEqual(withGrid("  training.zipf_alpha: [0.5, 1.0]"),
                       "/tmp/spec.yaml:16: grid.training.zipf_alpha: applies only with training.class_frequency: zipf, "
                       + "and run K8-E4-bursty-alpha0.5-s0 has training.class_frequency: uniform (exclude those points)")
        XCTAssertEqual(withGrid("  training.weight_decay: [0, -0.1]"),
                       "/tmp/spec.yaml:16: grid.training.weight_decay[1]: must be a finite number >= 0, got -0.1")
        XCTAssertEqual(withGrid("  data.file.dataset: [a, b]"), "/tmp/spec.yaml:16: grid.data.file.dataset: cannot be swept (one value for the whole sweep)")
        XCTAssertEqual(error(Self.valid.replacingOccurrences(of: "  batch: 32\n", with: "") + "\n  training.batch: [32, 48]"),
                       "/tmp/spec.yaml:15: grid.training.batch: run K8-E4-bursty-b48-s0: 3200 is not a multiple of the batch size 48")
        XCTAssertEqual(withGrid("  model.width: [64, 60]"),
                       "/tmp/spec.yaml:16: grid.model.width: run K8-E4-bursty-w60-s0: heads (8) must divide width (60)")
        XCTAssertEqual(withGrid("  exclude: [{variants: matched}]"),
                       "/tmp/spec.yaml:16: grid.exclude[0].variants: matched is not among the grid's values of variants")
        XCTAssertEqual(withGrid("  exclude: [{seeds: 1}]"),
                       "/tmp/spec.yaml:16: grid.exclude[0].seeds: every point runs every seed: seeds cannot be named in exclude")
        XCTAssertEqual(withGrid("  include: [{model.width: 32}]"),
                       "/tmp/spec.yaml:16: grid.include[0].model.width: unknown key in grid.include[0] (expected one of: classes, exemplars, variants, seeds)")
        XCTAssertEqual(withGrid("  exclude: [{variants: [bursty, icl_only]}]"), "/tmp/spec.yaml:12: grid: exclude removes every point of the grid")
        let file = Self.valid.replacingOccurrences(of: "  synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}",
                                                   with: "  file: {path: /nonexistent/features.h5}")
        XCTAssertEqual(error(file + "\n  data.synthetic.noise: [0.1]"),
                       "/tmp/spec.yaml:16: grid.data.synthetic.noise: applies only to synthetic data (data: synthetic)")
    }
}
