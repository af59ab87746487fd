import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The claim on a results file: one live holder, stale claims taken over.
final class ResultsClaimTests: XCTestCase {
    var results: String!

    override func setUp() {
        results = TemporaryFolder.path("claim", suffix: ".h5")
    }

    override func tearDown() {
        unlink(ResultsClaim.path(for: results))
        unsetenv("SLURM_JOB_ID")
        unsetenv("SLURM_RESTART_COUNT")
    }

    /// Writes a claim file as another process would have, with its heartbeat `age` seconds ago.
    func plant(_ holder: ClaimHolder, age: TimeInterval) throws {
        let path = ResultsClaim.path(for: results)
        try JSONEncoder().encode(holder).write(to: URL(fileURLWithPath: path))
        let then = Date().timeIntervalSince1970 - age
        var times = [timeval(tv_sec: Int(then), tv_usec: 0), timeval(tv_sec: Int(then), tv_usec: 0)]
        XCTAssertEqual(utimes(path, &times), 0)
    }

    func holder(host: String = hostName, pid: Int32, job: String? = nil, restart: Int? = nil) -> ClaimHolder {
        ClaimHolder(host: host, pid: pid, slurmJob: job, slurmRestart: restart, since: "2026-01-01T00:00:00Z", token: UUID().uuidString)
    }

    func testASecondClaimIsRefusedUntilTheFirstIsReleased() throws {
        let first = try ResultsClaim.acquire(results: results, log: { XCTFail("nothing to take over: \($0)") })
        XCTAssertThrowsError(try ResultsClaim.acquire(results: results, log: { _ in })) { error in
            let text = "\(error)"
            XCTAssert(text.contains("is in use by another sweep (host \(hostName), pid \(getpid())"), text)
        }
        if case .live? = ResultsClaim.inspect(results: results)?.1 {} else { XCTFail("the claim is live") }
        first.release()
        XCTAssertNil(ResultsClaim.inspect(results: results))
        try ResultsClaim.acquire(results: results, log: { _ in }).release()
    }

    func testTheClaimOfAProcessThatIsGoneIsTakenOver() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        try plant(holder(pid: p.processIdentifier), age: 1)
        var said: [String] = []
        let claim = try ResultsClaim.acquire(results: results, log: { said.append($0) })
        XCTAssertEqual(said.count, 1)
        XCTAssert(said[0].contains("its process \(p.processIdentifier) on \(hostName) is gone"), "\(said)")
        XCTAssertEqual(ResultsClaim.inspect(results: results)?.0.token, claim.holder.token)
        claim.release()
    }

    func testASilentClaimFromAnotherHostIsTakenOverOnlyWhenStale() throws {
        try plant(holder(host: "elsewhere", pid: 1), age: 5)
        XCTAssertThrowsError(try ResultsClaim.acquire(results: results, log: { _ in })) {
            XCTAssert("\($0)".contains("host elsewhere, pid 1"), "\($0)")
        }
        try plant(holder(host: "elsewhere", pid: 1), age: ResultsClaim.staleSeconds + 10)
        var said = ""
        try ResultsClaim.acquire(results: results, log: { said = $0 }).release()
        XCTAssert(said.contains("no heartbeat for"), said)
    }

    func testAnEarlierStartOfTheSameSlurmJobIsStale() throws {
        setenv("SLURM_JOB_ID", "4242", 1)
        setenv("SLURM_RESTART_COUNT", "1", 1)
        try plant(holder(host: "othernode", pid: 1, job: "4242", restart: 0), age: 1)
        var said = ""
        try ResultsClaim.acquire(results: results, log: { said = $0 }).release()
        XCTAssert(said.contains("earlier start (restart 0) of this Slurm job"), said)
        // Another job's claim is not.
        try plant(holder(host: "othernode", pid: 1, job: "77", restart: 0), age: 1)
        XCTAssertThrowsError(try ResultsClaim.acquire(results: results, log: { _ in }))
    }
}
