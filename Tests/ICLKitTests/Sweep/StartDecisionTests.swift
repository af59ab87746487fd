import XCTest
@testable import ICLSupport
@testable import ICLSweep

/// What is refused before anything is created: results paths the file system cannot hold.
final class StartDecisionTests: XCTestCase {
    func testAResultsPathThatIsAFolderOrTooLongIsRefused() {
        let folder = FileManager.default.temporaryDirectory.path
        XCTAssertThrowsError(try StartDecision.checkResultsPath(folder)) {
            XCTAssertEqual("\($0)", "results: \(folder) is a folder; give the path of a file, e.g. \(folder)/results.h5")
        }
        let longName = folder + "/" + String(repeating: "n", count: 230) + ".h5"
        XCTAssertThrowsError(try StartDecision.checkResultsPath(longName)) {
            XCTAssert("\($0)".contains("exceeds the file system's limit of 255 bytes"), "\($0)")
        }
        let deep = folder + String(repeating: "/d", count: 2100) + "/r.h5"
        XCTAssertThrowsError(try StartDecision.checkResultsPath(deep)) {
            XCTAssert("\($0)".contains("exceeds the system's limit of 4096 bytes"), "\($0)")
        }
        XCTAssertNoThrow(try StartDecision.checkResultsPath(folder + "/" + String(repeating: "d", count: 200) + ".h5"))
    }
}
