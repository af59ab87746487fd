import XCTest

/// The launcher every end-to-end test relies on ends its waits whatever a
/// job leaves behind. Foundation's Process counts a job as running while any
/// process it left lives; a stray sleep so hung a CI run for its 90 minutes.
final class LauncherTests: XCTestCase {
    func testAJobThatLeavesAProcessBehindHasEndedWithItsOwnStatus() throws {
        let started = Date()
        let r = try Launcher.run(["/bin/bash", "-c", "sleep 600 & echo left; exit 3"], raw: true, timeout: 60)
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertEqual(r.output, "left\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "the wait ended with the job, not with its sleep")
    }

    func testAJobKilledByASignalReportsTheSignal() throws {
        let r = try Launcher.run(["/bin/bash", "-c", "sleep 600 & kill -TERM $$"], raw: true, timeout: 60)
        XCTAssertEqual(r.status, SIGTERM, r.output)
    }

    func testAHungJobFailsWithinItsTimeoutAndTakesWhatItStartedWithIt() throws {
        let started = Date()
        let job = try Launcher.start(["/bin/bash", "-c", "setsid sleep 600 & sleep 600 & echo started; wait"], raw: true)
        XCTAssertThrowsError(try job.finish(within: 2)) { error in
            XCTAssert("\(error)".contains("did not finish in 2 s"), "\(error)")
            XCTAssert("\(error)".contains("started"), "the error has the job's output: \(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        XCTAssertFalse(job.isRunning)
        XCTAssertEqual(job.status, SIGKILL)
    }

    /// Foundation reaps a process a moment before it clears `isRunning`; a
    /// look in that moment once read "still running" and failed a CI run with
    /// "did not finish in 30 s" 13 s after the attempt began. Watched without
    /// pause from start to end, a job that has been seen ending stays ended.
    func testAJobSeenEndingStaysEnded() throws {
        var flips = 0
        for _ in 0..<300 {
            let job = try Launcher.start(["/bin/true"], raw: true)
            let deadline = Date().addingTimeInterval(10)
            while job.isRunning && Date() < deadline {}
            for _ in 0..<300 where job.isRunning { flips += 1 }
            XCTAssertEqual(job.status, 0)
            try job.finish(within: 10)
        }
        XCTAssertEqual(flips, 0, "looks that read an ended job as running")
    }
}
