import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Errors print as one line that says what to fix.
final class FaultTests: XCTestCase {
    func testFoundationFileErrorsNameThePathAndTheReason() throws {
        let file = TemporaryFolder.path("plain")
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        defer { unlink(file) }
        XCTAssertThrowsError(try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: true)) { error in
            XCTAssertEqual(describe(error), "\(file): File exists")
        }
        XCTAssertThrowsError(try FileManager.default.createDirectory(atPath: file + "/sub", withIntermediateDirectories: true)) { error in
            XCTAssertEqual(describe(error), "\(file)/sub: Not a directory")
        }
        XCTAssertEqual(describe(POSIXError(.ENOSPC)), "No space left on device")
        XCTAssertEqual(describe(DataError("two\nlines")), "two; lines")
    }

    func testEnvironmentalErrorsAreToldApartFromOthers() {
        XCTAssertEqual(Fault.classify("H5FD__sec2_write: file write failed: No space left on device"),
                       .environment(hint: "the file system is full: free space there"))
        XCTAssertEqual(Fault.classify("rename failed: Disk quota exceeded"),
                       .environment(hint: "you are over your disk quota: free space or ask for more"))
        XCTAssertEqual(Fault.classify("checksum mismatch (corrupt file)"), .other)
    }

    func testASweepFailureNamesRankRunCauseAndFix() {
        let f = SweepFailure(rank: 2, host: "node7", run: "run 5 K64-E8-bursty-s0", error: POSIXError(.EDQUOT))
        XCTAssertEqual(f.description, "error on rank 2 (node7), run 5 K64-E8-bursty-s0: Disk quota exceeded -- you are over "
                       + "your disk quota: free space or ask for more, then run the same command again: finished runs "
                       + "are kept and interrupted ones resume")
        XCTAssertFalse(f.description.contains("\n"))
    }
}
