import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// A tiny copy of `sweeps/paper-suite-small.yaml` (the same runs, names and
/// dependencies; 64 classes, lengths / 10) under real `mpirun`: the chain
/// completes, a job killed at random points and resumed twice gives the
/// same bits as one undisturbed process, and a source that diverges blocks
/// the runs built on it while the rest finish.
final class ChainSweepTests: XCTestCase {
    var fixture: SweepFixture!

    override func setUpWithError() throws { fixture = try SweepFixture("chain") }
    override func tearDownWithError() throws { fixture.remove() }

    /// The committed small suite, shrunk: `640_000` -> `64000` and so on.
    func writeTinySuite(_ name: String, edit: (String) -> String = { $0 }) throws -> String {
        let small = Launcher.packageRoot.appendingPathComponent("sweeps/paper-suite-small.yaml")
        var text = try String(contentsOf: small, encoding: .utf8)
        let regex = try NSRegularExpression(pattern: "\\b(\\d+)_000\\b")
        for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).reversed() {
            let r = Range(m.range, in: text)!, digits = Range(m.range(at: 1), in: text)!
            text.replaceSubrange(r, with: String(Int(text[digits])! * 100))
        }
        text = text.replacingOccurrences(of: "results: ../out/paper-suite-small.h5", with: "results: \(name).h5")
            .replacingOccurrences(of: "classes: 12800, exemplars: 20, dim: 32", with: "classes: 64, exemplars: 8, dim: 16")
            .replacingOccurrences(of: "  classes: 1600\n", with: "  classes: 64\n")
            .replacingOccurrences(of: "  sequences: 500 ", with: "  sequences: 100 ")
        XCTAssert(text.contains("at: [6400, 19200, 44800]") && text.contains("sequences: 64000"), text)
        let path = fixture.path("\(name).yaml")
        try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTinySuiteKilledAndResumedGivesTheUndisturbedBits() throws {
        let one = try writeTinySuite("one")
        let validate = try Launcher.run(["validate", one])
        XCTAssertEqual(validate.status, 0, validate.output)
        XCTAssert(validate.output.contains("icl_only_graftl1 <- graft from main @ 32,000 [layer1, unembedding]"), validate.output)
        XCTAssert(validate.output.contains("critical path: ciwl_only (to 44,800) -> icl_only_graftl1_from_ciwl_only_44.8k"), validate.output)

        let reference = try Launcher.run(["run", one, "--progress-every", "600"], ranks: 1)
        XCTAssertEqual(reference.status, 0, reference.output)
        let table = try ResultsFile.openForReading(fixture.path("one.h5")).table()
        XCTAssertEqual(table.names, ["main", "ciwl_only", "icl_only", "icl_only_graftl1", "icl_only_graftl1_from_ciwl_only_6.4k",
                                     "icl_only_graftl1_from_ciwl_only_19.2k", "icl_only_graftl1_from_ciwl_only_44.8k",
                                     "init_from_ciwl_only_6.4k", "init_from_ciwl_only_12.8k", "init_from_ciwl_only_25.6k", "mq",
                                     "main_layer0_from_0", "main_layer0_from_6.4k", "main_layer0_from_12.8k", "main_layer0_from_19.2k",
                                     "main_layer0_from_32k", "main_layer0_from_48k"])
        XCTAssertEqual(Set(table.statuses), [.done], reference.output)
        let want = try SweepFixture.fingerprint(fixture.path("one.h5"))
        // validate's size estimate holds (the file's metadata comes on top)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: fixture.path("one.h5"))[.size] as? Int)
        let expected = ResultsFile.expectedBytes(try SweepSpec.load(path: one))
        XCTAssert(size >= expected && size <= 2 * expected + 65_536, "file \(size) bytes, estimated \(expected)")
        // an init run starts from its source's weights: its first evaluation is the source's at that point
        let source = table.histories[1].records.first { $0.sequences == 6400 }!
        XCTAssertEqual(table.histories[7].records[0].inContextAccuracy[Evaluator.allCases.firstIndex(of: .ciwl)!],
                       source.inContextAccuracy[Evaluator.allCases.firstIndex(of: .ciwl)!])

        // 3 ranks, killed twice at random points (a worker, then the whole job), resumed each time.
        let killed = try writeTinySuite("killed")
        var rng = SystemRandomNumberGenerator()
        var interrupted = 0  // rounds that left work (the whole chain takes about 8 s on 3 ranks)
        for round in 0..<2 {
            let delay = Double.random(in: 0.5...2.5, using: &rng)
            let job = try Launcher.start(["run", killed], ranks: 3)
            Thread.sleep(forTimeInterval: delay)
            let children = Launcher.children(of: job.pid)
            if round == 0, let worker = children.last { kill(worker, SIGKILL) } else { for c in children { kill(c, SIGKILL) } }
            try job.finish(within: 60, what: "killed round \(round)")
            let left = (try? ResultsFile.openForReading(fixture.path("killed.h5")).statuses().filter { $0 != .done }.count) ?? 17
            print("round \(round): killed after \(String(format: "%.2f", delay)) s, \(left) runs not done")
            if left > 0 { interrupted += 1 }
        }
        XCTAssertGreaterThan(interrupted, 0, "a kill landed while work remained")
        let resumed = try Launcher.run(["run", killed], ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        SweepFixture.assertSame(want, try SweepFixture.fingerprint(fixture.path("killed.h5")), "killed twice and resumed")
    }

    func testADivergedSourceBlocksTheRunsBuiltOnIt() throws {
        let spec = try writeTinySuite("diverged") {
            $0.replacingOccurrences(of: "  main:                            # Fig. 1b: bursty; its checkpoints feed the runs below\n    variant: bursty\n",
                                    with: "  main:\n    variant: bursty\n    training.learning_rate: 1.0e+9\n")
        }
        let r = try Launcher.run(["run", spec], ranks: 3)
        XCTAssertEqual(r.status, 0, r.output)
        let t = try ResultsFile.openForReading(fixture.path("diverged.h5")).table()
        let status = Dictionary(uniqueKeysWithValues: zip(t.names, t.statuses))
        XCTAssertEqual(status["main"], .diverged)
        for name in t.names {
            if name == "main" { continue }
            let onMain = name == "icl_only_graftl1" || name.hasPrefix("main_layer0_from")
            XCTAssertEqual(status[name], onMain ? .blocked : .done, name)
        }
        let graft = t.names.firstIndex(of: "icl_only_graftl1")!
        XCTAssertEqual(t.messages[graft], "its source main ended without a checkpoint at 32,000 sequences")
        XCTAssert(r.output.contains("run 3 icl_only_graftl1: blocked: its source main ended without a checkpoint"), r.output)
        let state = try Launcher.run(["status", spec])
        XCTAssert(state.output.contains("7 blocked"), state.output)
    }
}
