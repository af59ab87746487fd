import XCTest

/// The h5py/pandas recipe in docs/results.md, run as written on a real
/// results file whose runs have different lengths: one row per run x
/// evaluation point x evaluator, each run with its own points.
final class ResultsRecipeTests: XCTestCase {
    func testTheDocumentedPandasRecipeReadsTheFile() throws {
        let probe = try Launcher.run(["/usr/bin/env", "python3", "-c", "import numpy, h5py, pandas"], raw: true)
        if probe.status != 0 { throw XCTSkip("python3 with numpy, h5py and pandas not available: \(probe.output)") }
        let f = try SweepFixture("recipe")
        defer { f.remove() }
        // 2 variants x training.sequences [640, 1280] with points every 320: 3 and 5 points a run
        let spec = f.path("recipe.yaml")
        try """
        name: recipe
        results: recipe.h5
        data:
          synthetic: {classes: 16, exemplars: 4, dim: 16, noise: 0.2, seed: 3}
        training: {batch: 32, learning_rate: 1.0e-3, eval_interval: 320}
        evaluation: {sequences: 64, seed: 5}
        grid: {classes: [8], exemplars: [4], variants: [bursty, matched], seeds: [0], training.sequences: [640, 1280]}
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let run = try Launcher.run(["run", spec, "--progress-every", "600"], timeout: 120)
        XCTAssertEqual(run.status, 0, run.output)

        let doc = try String(contentsOf: Launcher.packageRoot.appendingPathComponent("docs/results.md"), encoding: .utf8)
        let recipe = try XCTUnwrap(doc.components(separatedBy: "```python\n").dropFirst().first?.components(separatedBy: "```").first)
        let script = recipe.replacingOccurrences(of: "out/demo.h5", with: f.path("recipe.h5")) + """
            print("rows", len(df))
            print("points", df.groupby("run").sequences.nunique().tolist())
            print("last", df[(df.evaluator == "icl") & (df.sequences == 1280)].ic_accuracy.notna().sum())
            """
        try script.write(toFile: f.path("recipe.py"), atomically: true, encoding: .utf8)
        let r = try Launcher.run(["/usr/bin/env", "python3", f.path("recipe.py")], raw: true, timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssert(r.output.contains("rows \((3 + 5 + 3 + 5) * 6)"), r.output)
        XCTAssert(r.output.contains("points [3, 5, 3, 5]"), r.output)
        XCTAssert(r.output.contains("last 2"), "both 1,280-sequence runs measured at their end: \(r.output)")
    }
}
