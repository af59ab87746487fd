import XCTest
@testable import ICLData
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The one field table: the generated reference is the committed one, each
/// field's default is what a config holds unless set, `train` makes the same
/// config as a spec from the same values, and command-line errors name the option.
final class SpecReferenceTests: XCTestCase {
    func testTheCommittedReferenceIsTheGeneratedOne() throws {
        let committed = try String(contentsOf: Launcher.packageRoot.appendingPathComponent("docs/spec.md"), encoding: .utf8)
        XCTAssertEqual(committed, SpecReference.markdown(),
                       "docs/spec.md is stale: run `iclsweep fields > docs/spec.md` (or `swift run iclsweep fields`)")
        for field in SpecField.all {
            XCTAssertFalse(field.help.isEmpty, "\(field.path) has a help line")
            XCTAssert(committed.contains("| `\(field.path)` |"), "\(field.path) is in the reference")
        }
    }

    /// A config made with nothing set holds every default of the table
    /// (RunConfig's own starting values are held to it here).
    func testEveryDefaultIsTheConfigsValueWhenUnset() throws {
        let plain = try RunSettings().config(classes: 16, exemplars: 4, variant: .bursty, seed: 3,
                                             defaults: ["training.sequences": .int(640), "training.eval_interval": .int(320)])
        var bare = RunConfig(data: plain.data, classes: 16, exemplars: 4, variant: .bursty, seed: 3, sequences: 640, evalInterval: 320,
                             evalClasses: 16, evalExemplars: 4)
        XCTAssertEqual(bare, plain, "RunConfig's starting values are the table's defaults")
        for field in SpecField.all where field.defaultValue != nil && field.applies(to: plain.data) && !field.path.hasPrefix("data.") {
            var c = bare
            field.apply(&c, field.defaultValue!)
            XCTAssertEqual(c, bare, "\(field.path): applying its default changes nothing")
        }
        bare.evalClasses = 0
        SpecField.applyDerived(&bare) { _ in false }
        XCTAssertEqual(bare.evalClasses, 16, "derived: min(classes, 1600)")
    }

    /// `train --OPTION VALUE` and `--set PATH=VALUE` make the config a spec
    /// makes from the same values, field for field (so the same bits).
    func testTrainOptionsMakeTheSpecsConfig() throws {
        let spec = try SweepSpec.parse("""
            name: same
            results: same.h5
            data:
              synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.3, seed: 2}
            model: {layers: 3, mlp: on, mlp_ratio: 2, positional: sinusoidal, pairs: 4}
            training: {sequences: 640, eval_interval: 320, learning_rate: 1.0e-3, burstiness: 2, class_frequency: zipf, zipf_alpha: 0.5}
            evaluation: {sequences: 64, burstiness: 1}
            grid: {classes: [12], exemplars: [3], variants: [matched], seeds: [7]}
            """, file: "/tmp/same.yaml")
        var settings = RunSettings()
        try settings.read(["--data-classes", "16", "--data-exemplars=4", "--dim", "8", "--noise", "0.3", "--data-seed", "2",
                           "--layers", "3", "--mlp", "--mlp-ratio", "2", "--positional", "sinusoidal", "--pairs", "4",
                           "--sequences", "640", "--eval-interval", "320", "--set", "training.learning_rate=1.0e-3",
                           "--burstiness", "2", "--class-frequency", "zipf", "--zipf-alpha", "0.5",
                           "--eval-sequences", "64", "--set=evaluation.burstiness=1"])
        let config = try settings.config(classes: 12, exemplars: 3, variant: .matched, seed: 7)
        XCTAssertEqual(config, spec.runs[0].config, config.differingFields(from: spec.runs[0].config).joined(separator: ", "))
    }

    func testBadOptionsNameTheOption() {
        func error(_ words: [String]) -> String {
            do {
                var s = RunSettings()
                try s.read(words)
                _ = try s.config(classes: 8, exemplars: 4, variant: .bursty, seed: 0, defaults: ["training.sequences": .int(64),
                                                                                              "training.eval_interval": .int(64)])
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(error(["--dim", "0"]), "--dim: must be a positive number, got 0")
        XCTAssertEqual(error(["--learning-rate", "fast"]), "--learning-rate: expected a number, got 'fast'")
        XCTAssertEqual(error(["--positional", "rotary"]), "--positional: unknown value 'rotary' (expected one of: learned, sinusoidal)")
        XCTAssertEqual(error(["--zipf-alpha", "2"]), "--zipf-alpha: applies only with --class-frequency zipf")
        XCTAssertEqual(error(["--set", "model.layerz=3"]), "--set: no field 'model.layerz' (`iclsweep fields` lists them)")
        XCTAssertEqual(error(["--set", "model.layers"]), "--set: expected PATH=VALUE, e.g. --set model.layers=12")
        XCTAssert(error(["--bogus", "1"]).hasPrefix("unknown option '--bogus'"))
        XCTAssertEqual(error(["--layers"]), "--layers: missing value")
        XCTAssertEqual(error(["--layers", "2_000"]), "no error", "numbers read as a spec reads them")
        XCTAssertEqual(error(["--mlp", "--layers", "3"]), "no error", "a bare off/on option first, before another option")
    }
}
