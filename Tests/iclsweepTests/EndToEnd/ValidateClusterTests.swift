import XCTest

/// `iclsweep validate SPEC --cluster NODESxCORES` on the committed paper
/// suite: the prediction names the sharded runs' compute rate, says when it
/// is assumed rather than measured, and refuses a rate for a run the spec
/// does not have.
final class ValidateClusterTests: XCTestCase {
    let suite = Launcher.packageRoot.appendingPathComponent("sweeps/paper-suite.yaml").path

    func testAssumedRatesAreFlaggedAndMeasuredOnesSlowTheSweep() throws {
        let assumed = try Launcher.run(["validate", suite, "--cluster", "2x48"], timeout: 120)
        XCTAssertEqual(assumed.status, 0, assumed.output)
        XCTAssert(assumed.output.contains("12l: 0:00 to "), assumed.output)
        XCTAssert(assumed.output.contains("on 16 ranks, 16 shards at 1.00 of the whole batch's rate (assumed)"), assumed.output)
        XCTAssert(assumed.output.contains("note: 3 sharded runs"), assumed.output)

        let measured = try Launcher.run(["validate", suite, "--cluster", "2x48", "--shard-efficiency", "0.5"], timeout: 120)
        XCTAssertEqual(measured.status, 0, measured.output)
        XCTAssert(measured.output.contains("on 16 ranks, 16 shards at 0.50 of the whole batch's rate, "), measured.output)
        XCTAssertFalse(measured.output.contains("(assumed)") || measured.output.contains("note:"), measured.output)
        XCTAssertGreaterThan(try hours(measured.output), try hours(assumed.output))
    }

    func testARateForARunTheSpecDoesNotHaveIsRefused() throws {
        let r = try Launcher.run(["validate", suite, "--cluster", "2x48", "--shard-efficiency", "13l=0.7"], timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.output.contains("--shard-efficiency: no run named '13l' in"), r.output)
        let bad = try Launcher.run(["validate", suite, "--cluster", "2x48", "--shard-efficiency", "12l=fast"], timeout: 120)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("--shard-efficiency: expected NAME=X"), bad.output)
    }

    /// The predicted wall time, "... cores (...): the sweep takes about H:MM:SS", in hours.
    func hours(_ output: String) throws -> Double {
        let line = try XCTUnwrap(output.components(separatedBy: "docs/ranks.md states it): the sweep takes about ").dropFirst().first)
        let parts = line.prefix { $0 != "," }.split(separator: ":").compactMap { Double($0) }
        XCTAssertEqual(parts.count, 3, line)
        return parts[0] + parts[1] / 60 + parts[2] / 3600
    }
}
