import XCTest

/// `slurm/iclsweep.sbatch` outside Slurm, signalled as it starts, many
/// times (`slurm/testing/stop-at-start`): every run takes the stop and none
/// meets a shell error. With a command substitution inside an arithmetic
/// expansion, bash 5.2 broke on 1-3% of them ("trap: line 2: unexpected EOF",
/// then an abort): the stop was lost, as one CI run of the Slurm tests showed.
final class BatchScriptTests: XCTestCase {
    func testTheBatchScriptTakesAStopAtAnyMomentOfItsStart() throws {
        let script = Launcher.packageRoot.appendingPathComponent("slurm/testing/stop-at-start").path
        let r = try Launcher.run([script, "500"], raw: true, timeout: 180)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssert(r.output.contains("500 runs: 0 without the stop, 0 with a shell error"), r.output)
    }
}
