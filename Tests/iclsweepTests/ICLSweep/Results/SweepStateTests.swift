import XCTest
@testable import ICLSupport
@testable import ICLSweep

/// What `status` concludes from the outcome record, the claim and the runs.
final class SweepStateTests: XCTestCase {
    var dir: URL!
    var results: String { dir.appendingPathComponent("r.h5").path }

    override func setUpWithError() throws { dir = try TemporaryFolder.make("state") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let unfinished: [RunStatus] = [.done, .running, .pending]
    let finished: [RunStatus] = [.done, .diverged]

    func testTheOutcomeDecidesAndAnErrorOutranksFinishedRuns() throws {
        try SweepOutcome(.stopped, message: "stopped by SIGTERM").write(besides: results)
        XCTAssertEqual(SweepState.of(results: results, statuses: unfinished).exitCode, 75)
        XCTAssertEqual(SweepState.of(results: results, statuses: finished).exitCode, 0)
        // every run final, but the summary could not be written: the last sweep failed
        try SweepOutcome(.error, message: "writing the summary failed").write(besides: results)
        XCTAssertEqual(SweepState.of(results: results, statuses: finished), .failed(message: "writing the summary failed"))
        try SweepOutcome(.complete, message: "every run finished").write(besides: results)
        XCTAssertEqual(SweepState.of(results: results, statuses: finished).exitCode, 0)
    }

    /// A worker's error, recorded as it aborts the job, stands against what
    /// rank 0 writes afterwards in the same sweep (mpirun's SIGTERM makes it
    /// write "stopped"); the next sweep (another claim) replaces it.
    func testAWorkersErrorStandsAgainstTheSameSweepsLaterEnding() throws {
        try SweepOutcome(.running, message: "the sweep runs", claim: "one").write(besides: results)
        try SweepOutcome(.error, message: "error on rank 1: H5Fflush failed", claim: "one").write(besides: results)
        try SweepOutcome(.stopped, message: "stopped by SIGTERM", claim: "one").write(besides: results)
        try SweepOutcome(.complete, message: "every run finished", claim: "one").write(besides: results)
        XCTAssertEqual(SweepState.of(results: results, statuses: unfinished), .failed(message: "error on rank 1: H5Fflush failed"))
        try SweepOutcome(.running, message: "the sweep runs", claim: "two").write(besides: results)
        try SweepOutcome(.stopped, message: "stopped by SIGTERM", claim: "two").write(besides: results)
        XCTAssertEqual(SweepState.of(results: results, statuses: unfinished).exitCode, 75)
    }

    /// A sweep that could record nothing at its end left its start's
    /// `running` record: with no live sweep holding the file, that is an
    /// error, not "work remains".
    func testARunningRecordWithNoSweepIsAnError() throws {
        try SweepOutcome(.running, message: "the sweep runs", claim: "abc").write(besides: results)
        let state = SweepState.of(results: results, statuses: unfinished)
        XCTAssertEqual(state.exitCode, 1, state.summary)
        XCTAssert(state.summary.contains("ended without recording how"), state.summary)
    }

    /// On a full disk the atomic replacement fails (tested end to end in
    /// `SweepFaultTests` on a full tmpfs), and the ending is written over the
    /// bytes the start reserved, never growing the file.
    func testTheEndingFitsInTheBytesTheStartReserved() throws {
        try SweepOutcome(.running, message: "the sweep runs").write(besides: results)
        let path = SweepOutcome.path(for: results)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, SweepOutcome.reservedBytes)
        try FileSystem.overwrite(path, SweepOutcome(.error, message: String(repeating: "x", count: 5000)).bytes)
        XCTAssertEqual(SweepOutcome.read(besides: results)?.ending, .error)
        XCTAssertEqual(SweepOutcome.read(besides: results)?.message.count, 3000, "messages are cut to fit")
        XCTAssertThrowsError(try FileSystem.overwrite(path, [UInt8](repeating: 32, count: SweepOutcome.reservedBytes + 1))) { error in
            XCTAssertEqual((error as? FileSystemError)?.errno, ENOSPC, "\(error)")
        }
    }

    func testTheFailSettingIsParsedAndABadOneNamed() {
        XCTAssertEqual(IOCalls.Plan.parse("12"), IOCalls.Plan(call: 12, errno: ENOSPC, rank: 0))
        XCTAssertEqual(IOCalls.Plan.parse("3:EIO:2"), IOCalls.Plan(call: 3, errno: EIO, rank: 2))
        XCTAssertEqual(IOCalls.Plan.parse("3:122"), IOCalls.Plan(call: 3, errno: 122, rank: 0))
        for bad in ["", "0", "x", "3:ENOPE", "3:EIO:-1", "1:2:3:4"] { XCTAssertNil(IOCalls.Plan.parse(bad), bad) }
    }
}
