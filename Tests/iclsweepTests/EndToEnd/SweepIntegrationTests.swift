import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Real `mpirun` jobs of a small sweep: results are bitwise identical on 1
/// and 3 ranks, and after a SIGKILL mid-run followed by a resume.
final class SweepIntegrationTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try TemporaryFolder.make("sweep")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func spec(results: String, sequences: Int = 48_000) -> String { SweepFixture.spec(results: results, sequences: sequences) }

    func writeSpec(_ name: String, results: String, sequences: Int = 48_000) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try spec(results: results, sequences: sequences).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func fingerprint(_ path: String) throws -> [String: [UInt64]] { try SweepFixture.fingerprint(path) }

    func assertSame(_ a: [String: [UInt64]], _ b: [String: [UInt64]], _ label: String) { SweepFixture.assertSame(a, b, label) }

    func testOneRankThreeRanksAndKilledThenResumedAgreeBitwise() throws {
        // 1 rank: one process trains everything.
        let one = try writeSpec("one.yaml", results: "one.h5", sequences: 32_000)  // long enough to kill a run part-way
        let r1 = try Launcher.run(["run", one, "--progress-every", "5"], ranks: 1)
        XCTAssertEqual(r1.status, 0, r1.output)
        XCTAssert(r1.output.contains("1 process"), r1.output)
        let reference = try fingerprint(dir.appendingPathComponent("one.h5").path)
        XCTAssertEqual(reference["runs/status"], Array(repeating: UInt64(RunStatus.done.rawValue), count: 8))
        let acc = try H5File.open(dir.appendingPathComponent("one.h5").path).read("metrics/accuracy") as [Double]
        XCTAssert(acc.contains { !$0.isNaN && $0 > 0.5 }, "the runs learned something")

        // 3 ranks: coordinator and two workers.
        let three = try writeSpec("three.yaml", results: "three.h5", sequences: 32_000)
        let r3 = try Launcher.run(["run", three], ranks: 3)
        XCTAssertEqual(r3.status, 0, r3.output)
        XCTAssert(r3.output.contains("2 worker ranks + coordinator"), r3.output)
        assertSame(reference, try fingerprint(dir.appendingPathComponent("three.h5").path), "3 ranks")
        let ranks = try H5File.open(dir.appendingPathComponent("three.h5").path).read("runs/rank") as [Int32]
        XCTAssertEqual(Set(ranks), [1, 2], "both workers trained, the coordinator did not")

        // 3 ranks, one worker SIGKILLed mid-run, then the same command again.
        let killed = try writeSpec("killed.yaml", results: "killed.h5", sequences: 32_000)
        let killedPath = dir.appendingPathComponent("killed.h5").path
        try SweepFixture.runAndKillAWorker(killed, results: killedPath)
        let interrupted = try ResultsFile.openForReading(killedPath).table()
        XCTAssert(interrupted.statuses.contains(.running), "the file stays readable and shows the interrupted run")
        XCTAssert(interrupted.statuses.contains { $0 != .done }, "work remained")

        let status = try Launcher.run(["status", killedPath])
        XCTAssertEqual(status.status, 75, "work remains: \(status.output)")
        XCTAssert(status.output.contains("stopped") && status.output.contains("was killed"), status.output)

        let resumed = try Launcher.run(["run", killed], ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssert(resumed.output.contains("resuming from checkpoint"), resumed.output)
        assertSame(reference, try fingerprint(killedPath), "killed and resumed")

        // Done runs are skipped on a further start.
        let again = try Launcher.run(["run", killed], ranks: 3)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssert(again.output.contains("8 runs, 0 to do"), again.output)

        // The summary sits beside the results.
        let csv = try String(contentsOfFile: dir.appendingPathComponent("killed.summary.csv").path, encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 8)
    }

    /// Two nodes simulated on this machine (a test-only split of the node):
    /// each fills its own shared table, and the results do not change; a node
    /// whose arithmetic differs from rank 0's is named in a warning.
    func testOneTablePerNodeOnTwoSimulatedNodesAgreesBitwise() throws {
        let one = try writeSpec("solo.yaml", results: "solo.h5", sequences: 9600)
        XCTAssertEqual(try Launcher.run(["run", one]).status, 0)
        let two = try writeSpec("nodes.yaml", results: "nodes.h5", sequences: 9600)
        let r = try Launcher.run(["run", two], ranks: 5, env: [NodeLayout.simulatedNodesVariable: "2"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssert(r.output.contains("features: 16 x 4 x 16 floats (0 MB), one copy per node on 2 nodes"), r.output)
        assertSame(try fingerprint(dir.appendingPathComponent("solo.h5").path),
                   try fingerprint(dir.appendingPathComponent("nodes.h5").path), "2 simulated nodes")
        let ranks = try H5File.open(dir.appendingPathComponent("nodes.h5").path).read("runs/rank") as [Int32]
        XCTAssert(Set(ranks).isSuperset(of: [1, 2]) && Set(ranks).isSubset(of: [1, 2, 3, 4]), "\(ranks)")
        XCTAssertFalse(r.output.contains("trains with"), "every node has rank 0's arithmetic: \(r.output)")

        // A node of another kind (a test-only description of its arithmetic; simulated
        // node 1 is rank 1 alone) says so in one line, and the sweep goes on.
        let mixed = try writeSpec("mixed.yaml", results: "mixed.h5", sequences: 9600)
        let bin = try Launcher.binary()
        let other = "\(Kernels.testArithmeticVariable)=test arithmetic B"
        let m = try Launcher.run(["/usr/bin/mpirun", "--oversubscribe", "-np", "1", bin, "run", mixed,
                                  ":", "-np", "1", "/usr/bin/env", other, bin, "run", mixed,
                                  ":", "-np", "1", bin, "run", mixed],
                                 raw: true, env: [NodeLayout.simulatedNodesVariable: "2"])
        XCTAssertEqual(m.status, 0, m.output)
        let warnings = m.output.split(separator: "\n").filter { $0.contains("trains with") }
        XCTAssertEqual(warnings.count, 1, m.output)
        XCTAssert(warnings.first?.contains("(rank 1) trains with test arithmetic B, but rank 0 (") == true, m.output)
        XCTAssert(warnings.first?.hasSuffix("keep a sweep on one kind of node (Slurm: --constraint)") == true, m.output)
        assertSame(try fingerprint(dir.appendingPathComponent("solo.h5").path),
                   try fingerprint(dir.appendingPathComponent("mixed.h5").path), "the same arithmetic under another name")
    }

    func testChangedSpecIsRefusedAndNothingIsTouched() throws {
        let path = try writeSpec("s.yaml", results: "s.h5", sequences: 3200)
        XCTAssertEqual(try Launcher.run(["run", path]).status, 0)
        let results = dir.appendingPathComponent("s.h5").path
        let before = try Data(contentsOf: URL(fileURLWithPath: results))
        let changed = try writeSpec("s.yaml", results: "s.h5", sequences: 6400)
        let r = try Launcher.run(["run", changed], ranks: 2)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssert(r.output.contains("training.sequences: 3200 -> 6400"), r.output)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: results)), before)
    }

    func testInvalidSpecCreatesNothing() throws {
        let path = dir.appendingPathComponent("bad.yaml").path
        try spec(results: "bad.h5").replacingOccurrences(of: "seeds: [0]", with: "seeds: [0]\n  width: 3")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let r = try Launcher.run(["run", path], ranks: 2)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssert(r.output.contains("bad.yaml:17: grid.width: unknown key"), r.output)
        XCTAssertFalse(r.output.contains("Backtrace") || r.output.contains("crashed"), r.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.h5").path))
        let v = try Launcher.run(["validate", path])
        XCTAssertNotEqual(v.status, 0)
        XCTAssert(v.output.contains("grid.width: unknown key"), v.output)
    }

    /// A run that diverges is recorded with its message and the sweep goes on to the end.
    func testDivergedRunsAreRecordedAndTheSweepCompletes() throws {
        let path = dir.appendingPathComponent("div.yaml").path
        try spec(results: "div.h5", sequences: 3200).replacingOccurrences(of: "learning_rate: 1.0e-3", with: "learning_rate: 1.0e30")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let r = try Launcher.run(["run", path], ranks: 2)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssert(r.output.contains("diverged: training diverged: loss NaN at step"), r.output)
        let t = try ResultsFile.openForReading(dir.appendingPathComponent("div.h5").path).table()
        XCTAssertEqual(t.statuses, Array(repeating: .diverged, count: 8))
        XCTAssert(t.messages.allSatisfy { $0.hasPrefix("training diverged: loss NaN at step ") }, "\(t.messages)")
        XCTAssert(t.checksums.allSatisfy { $0 != 0 }, "final rows get a checksum: \(t.checksums)")
        let verify = try Launcher.run(["verify", path], timeout: 60)
        XCTAssertEqual(verify.status, 0, verify.output)
        let again = try Launcher.run(["run", path], ranks: 2)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssert(again.output.contains("8 runs, 0 to do"), "diverged runs are final: \(again.output)")
        let retry = try Launcher.run(["run", path, "--retry-failed"], ranks: 2)
        XCTAssert(retry.output.contains("8 runs, 8 to do"), retry.output)
    }
}
