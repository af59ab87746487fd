import XCTest
@testable import ICLSupport
@testable import ICLSweep

/// What is refused before anything is created: results paths the file
/// system cannot hold, measured by the longest name `ResultsPaths` makes.
final class StartDecisionTests: XCTestCase {
    func spec(results: String) throws -> SweepSpec {
        try SweepSpec.parse(SweepSpecTests.valid.replacingOccurrences(of: "results: out/t.h5", with: "results: \(results)"),
                            file: "/tmp/spec.yaml")
    }

    func testAResultsPathThatIsAFolderOrTooLongIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.path
        XCTAssertThrowsError(try StartDecision.checkResultsPath(spec(results: folder))) {
            XCTAssertEqual("\($0)", "results: \(folder) is a folder; give the path of a file, e.g. \(folder)/results.h5")
        }
        let longName = folder + "/" + String(repeating: "n", count: 230) + ".h5"
        XCTAssertThrowsError(try StartDecision.checkResultsPath(spec(results: longName))) {
            XCTAssert("\($0)".contains("over the file system's limit of 255 bytes"), "\($0)")
        }
        let deep = folder + String(repeating: "/d", count: 2030) + "/r.h5"  // 4,070 bytes: its checkpoints reach past 4,096
        XCTAssertThrowsError(try StartDecision.checkResultsPath(spec(results: deep))) {
            XCTAssert("\($0)".contains("exceeds the system's limit of 4096 bytes"), "\($0)")
        }
        XCTAssertNoThrow(try StartDecision.checkResultsPath(spec(results: folder + "/" + String(repeating: "d", count: 200) + ".h5")))
    }

    /// The longest path is what the sweep would really make: a checkpoint's
    /// temporary file for the run with the longest name, or the claim's.
    func testTheLongestPathIsTheLongestOneMade() throws {
        let s = try spec(results: "out/t.h5")
        let made = s.runs.map { s.checkpoint(for: $0).path + ".tmp" } + [s.paths.claimAside(token: UUID().uuidString)]
        let longest = s.paths.longest(runs: s.runs.count, longestRunName: s.runs.longestName, longestKept: nil)
        XCTAssertEqual(longest.path, made.map(\.utf8.count).max())
        XCTAssertEqual(longest.name, made.map { ($0 as NSString).lastPathComponent.utf8.count }.max())
        XCTAssertEqual(s.runs.longestName, s.runs.map(\.name.utf8.count).max())
    }
}
