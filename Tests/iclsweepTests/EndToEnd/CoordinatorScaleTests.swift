import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The coordinator with 16 workers (`mpirun -np 17` on this 2-core machine)
/// and 2,000 one-step runs: every run is handed out and ends exactly once,
/// and the results equal a one-process sweep's, bit for bit.
final class CoordinatorScaleTests: XCTestCase {
    var f: SweepFixture!
    override func setUpWithError() throws { f = try SweepFixture("scale") }
    override func tearDownWithError() throws { f.remove() }

    func writeSpec(_ name: String) throws -> String {
        let path = f.path("\(name).yaml")
        try """
        name: scale
        results: \(name).h5
        data: {synthetic: {classes: 8, exemplars: 3, dim: 8, noise: 0.2, seed: 0}}
        model: {width: 8, heads: 2}
        training: {sequences: 64, batch: 32, learning_rate: 1.0e-3, eval_interval: 32}
        evaluation: {sequences: 16, classes: 4, exemplars: 1}
        grid:
          classes: [4, 5, 6, 7, 8]
          exemplars: [2, 3]
          variants: [bursty, matched, icl_only, ciwl_only]
          seeds: [\((0..<50).map(String.init).joined(separator: ", "))]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSixteenWorkersAndTwoThousandRunsEachEndExactlyOnce() throws {
        let one = try Launcher.run(["run", try writeSpec("one"), "--progress-every", "600"], timeout: 240)
        XCTAssertEqual(one.status, 0, one.output)
        let many = try Launcher.run(["run", try writeSpec("many"), "--progress-every", "600"], ranks: 17, timeout: 240)
        XCTAssertEqual(many.status, 0, many.output)
        XCTAssert(many.output.contains("2000 runs, 2000 to do, 16 worker ranks + coordinator"), many.output)

        // One "[k/2000] run ID NAME: done" line per run, each run once.
        let ended = many.output.split(separator: "\n").filter { $0.hasPrefix("[") }.compactMap { line -> Int? in
            guard let r = line.range(of: "] run ") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
        XCTAssertEqual(ended.count, 2000)
        XCTAssertEqual(Set(ended), Set(0..<2000))

        SweepFixture.assertSame(try SweepFixture.fingerprint(f.path("one.h5")), try SweepFixture.fingerprint(f.path("many.h5")),
                                "16 workers")
        let ranks = Set(try H5File.open(f.path("many.h5")).read("runs/rank") as [Int32])
        XCTAssert(ranks.count >= 8 && !ranks.contains(0), "the runs were spread over the workers: \(ranks.sorted())")
    }
}
