import Foundation
import XCTest

/// `iclsweep train` (Sources/iclsweep/Train.swift) checks the files it will
/// write before it trains: a bad --out, --checkpoint or --trace fails with one
/// line naming the option, before the first evaluation, alone and under mpirun.
final class TrainCommandTests: XCTestCase {
    let args = ["train", "--classes", "32", "--exemplars", "4", "--dim", "16", "--sequences", "320", "--eval-interval", "160"]

    func testUnwritableOutputsFailBeforeTraining() throws {
        let folder = TemporaryFolder.path("train-outputs")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/plain"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))

        let cases: [(option: String, extra: [String], ranks: Int, says: String)] = [
            ("--out", ["--out", folder], 0, "Is a directory"),
            ("--out", ["--out", file + "/m.h5"], 0, "Not a directory"),           // a file where a folder must be
            ("--checkpoint", ["--out", folder + "/m.h5", "--checkpoint", folder], 0, "Is a directory"),
            ("--trace", ["--out", folder + "/m.h5", "--trace", file + "/t.h5"], 0, "Not a directory"),
            ("--out", ["--out", folder, "--shards", "2"], 2, "Is a directory"),
        ]
        for c in cases {
            let r = try Launcher.run(args + c.extra, ranks: c.ranks, timeout: 60)
            let name = "\(c.extra) on \(c.ranks) ranks"
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertFalse(r.output.contains("eval @"), "failed before training: \(name)\n\(r.output)")
            let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errors.count, 1, "one error line: \(name)\n\(r.output)")
            XCTAssert(errors.first?.hasPrefix("Error: \(c.option): ") == true && errors.first?.contains(c.says) == true,
                      "\(name): \(r.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/m.h5"), "no metrics written by a refused run")

        // A missing folder is made, as `run` makes the results' folder.
        let out = folder + "/new/sub/m.h5"
        let r = try Launcher.run(args + ["--out", out], timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssert(FileManager.default.fileExists(atPath: out), r.output)
    }
}
