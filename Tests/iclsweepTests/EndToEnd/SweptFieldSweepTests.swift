import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Real `mpirun` jobs of a sweep over fields besides the four axes (the
/// learning rate and the data's noise, with include/exclude): the swept
/// values reach the runs, the file, the summary and the CSV, and a worker
/// killed mid-run resumes to the same bits as one uninterrupted rank.
final class SweptFieldSweepTests: XCTestCase {
    var fixture: SweepFixture!

    override func setUpWithError() throws { fixture = try SweepFixture("swept") }
    override func tearDownWithError() throws { fixture.remove() }

    func writeSpec(_ name: String) throws -> String {
        let text = SweepFixture.spec(results: "\(name).h5", sequences: 19_200)
            .replacingOccurrences(of: "  learning_rate: 1.0e-3\n", with: "")
            .replacingOccurrences(of: "noise: 0.2, ", with: "")
            .replacingOccurrences(of: "variants: [bursty, matched, icl_only, ciwl_only]", with: """
            variants: [bursty, matched]
              training.learning_rate: [5.0e-4, 0.002]
              data.synthetic.noise: [0.2, 1.0]
              exclude:
                - {classes: 8, data.synthetic.noise: 1.0}
              include:
                - {variants: icl_only, classes: 16, training.learning_rate: 1.0e-3, data.synthetic.noise: 0.2}
            """)
        let path = fixture.path("\(name).yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSweptFieldsReachTheFileAndTheSummaryAndResumeBitwise() throws {
        let one = try writeSpec("one")
        let validate = try Launcher.run(["validate", one])
        XCTAssertEqual(validate.status, 0, validate.output)
        XCTAssert(validate.output.contains("1 partial point excluded, 1 partial point included = 13 cells"), validate.output)

        let r1 = try Launcher.run(["run", one], ranks: 1)
        XCTAssertEqual(r1.status, 0, r1.output)
        let reference = try SweepFixture.fingerprint(fixture.path("one.h5"))
        let table = try ResultsFile.openForReading(fixture.path("one.h5")).table()
        // 2 classes x 2 variants x 2 rates x 2 noises = 16, less 4 excluded, plus 1 included
        XCTAssertEqual(table.count, 13)
        XCTAssertEqual(table.axes, ["training.learning_rate", "data.synthetic.noise"])
        XCTAssertEqual(table.names[0], "K8-E4-bursty-lr0.0005-noise0.2-s0")
        XCTAssertEqual(table.names.last, "K16-E4-icl_only-lr0.001-noise0.2-s0")
        XCTAssertEqual(table.axisValues[0].last, "0.001")
        XCTAssertEqual(Set(table.statuses), [.done])
        // the rate is used: the same cell at two rates trains differently
        let a = table.names.firstIndex(of: "K16-E4-bursty-lr0.0005-noise0.2-s0")!
        let b = table.names.firstIndex(of: "K16-E4-bursty-lr0.002-noise0.2-s0")!
        XCTAssertNotEqual(table.histories[a].trainLoss.last, table.histories[b].trainLoss.last)

        // The summary has one row per cell, with the swept fields as columns (read back from the CSV).
        let csv = try String(contentsOfFile: fixture.path("one.summary.csv"), encoding: .utf8).split(separator: "\n")
        let header = csv[0].split(separator: ",").map(String.init)
        XCTAssertEqual(Array(header.prefix(5)), ["classes", "exemplars", "variant", "training.learning_rate", "data.synthetic.noise"])
        XCTAssertEqual(csv.count, 1 + 13)
        let rows = csv.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssert(rows.contains { Array($0.prefix(5)) == ["16", "4", "bursty", "0.002", "1"] }, "\(rows)")
        XCTAssertFalse(rows.contains { $0[0] == "8" && $0[4] == "1" }, "excluded points are not run")
        let markdown = try String(contentsOfFile: fixture.path("one.summary.md"), encoding: .utf8)
        XCTAssert(markdown.contains("| classes | exemplars | variant | training.learning_rate | data.synthetic.noise | seeds |"), markdown)
        let plots = try Launcher.run(["plot", fixture.path("one.h5")])
        XCTAssertEqual(plots.status, 0, plots.output)
        let svg = try String(contentsOfFile: fixture.path("one.plots/K16-E4-bursty-lr0.002-noise1.svg"), encoding: .utf8)
        XCTAssert(svg.contains("learning_rate 0.002, noise 1"), "plot titles name the swept values")

        // 3 ranks, a worker killed mid-run, then resumed: the same bits as 1 rank.
        let killed = try writeSpec("killed")
        try SweepFixture.runAndKillAWorker(killed, results: fixture.path("killed.h5"), partway: 3200)
        let resumed = try Launcher.run(["run", killed], ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssert(resumed.output.contains("resuming from checkpoint"), resumed.output)
        SweepFixture.assertSame(reference, try SweepFixture.fingerprint(fixture.path("killed.h5")), "killed and resumed")

        // Writing a number differently is not a change of spec; changing a swept value is.
        let text = try String(contentsOfFile: killed, encoding: .utf8)
        try text.replacingOccurrences(of: "[5.0e-4, 0.002]", with: "[0.0005, 2.0e-3]").write(toFile: killed, atomically: true, encoding: .utf8)
        let same = try Launcher.run(["run", killed], ranks: 1)
        XCTAssertEqual(same.status, 0, same.output)
        XCTAssert(same.output.contains("13 runs, 0 to do"), same.output)
        try text.replacingOccurrences(of: "[5.0e-4, 0.002]", with: "[5.0e-4, 0.003]").write(toFile: killed, atomically: true, encoding: .utf8)
        let changed = try Launcher.run(["run", killed], ranks: 1)
        XCTAssertNotEqual(changed.status, 0, changed.output)
        XCTAssert(changed.output.contains("grid.training.learning_rate: [0.0005, 0.002] -> [0.0005, 0.003]"), changed.output)
    }
}
