import Foundation
import XCTest

/// The command line as Sources/iclsweep/ICLSweep.swift reads it, under a real
/// mpirun: every rank has the same arguments, so a mistake is said once.
final class CommandLineTests: XCTestCase {
    func testAMistypedOptionUnderMpirunIsSaidOnce() throws {
        let cases: [(args: [String], says: String)] = [
            (["run", "--bogus", "x.yaml"], "Unknown option '--bogus'"),
            (["train", "--variant", "nonsense"], "'nonsense' is invalid for '--variant <variant>'"),
        ]
        for c in cases {
            let alone = try Launcher.run(c.args, timeout: 60)
            let r = try Launcher.run(c.args, ranks: 3, timeout: 60)
            for (what, result) in [("alone", alone), ("on 3 ranks", r)] {
                XCTAssertNotEqual(result.status, 0, "\(c.args) \(what)")
                let errors = result.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
                XCTAssertEqual(errors.count, 1, "\(c.args) \(what): one error line\n\(result.output)")
                XCTAssert(errors.first?.contains(c.says) ?? false, "\(c.args) \(what)\n\(result.output)")
            }
        }
    }

    /// What only a job can get wrong (its number of processes), found alike on
    /// every rank after MPI starts: one line, without a usage text.
    func testAGangMistakeIsSaidOnce() throws {
        let args = ["train", "--classes", "32", "--exemplars", "4", "--dim", "16", "--sequences", "320", "--eval-interval", "160"]
        let cases: [(extra: [String], says: String)] = [
            ([], "mpirun started 3 processes: 3 ranks for 1 shard"),
            (["--shards", "4", "--ranks", "2"], "--ranks: 2, but mpirun started 3 processes"),
        ]
        for c in cases {
            let r = try Launcher.run(args + c.extra, ranks: 3, timeout: 60)
            XCTAssertEqual(r.status, 1, "\(c.extra)\n\(r.output)")
            let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errors.count, 1, "\(c.extra): one error line\n\(r.output)")
            XCTAssert(errors.first?.contains(c.says) ?? false, "\(c.extra)\n\(r.output)")
            XCTAssertFalse(r.output.contains("Usage:"), "a job's mistake is not a usage error:\n\(r.output)")
        }
    }
}
