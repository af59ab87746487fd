import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The results file on its own (serial HDF5): statuses it does not know are
/// errors, and every done run's rows carry a checksum that `verify` checks.
final class ResultsFileTests: XCTestCase {
    var f: SweepFixture!
    override func setUpWithError() throws { f = try SweepFixture("results") }
    override func tearDownWithError() throws { f.remove() }

    func makeFile() throws -> (SweepSpec, ResultsFile) {
        let text = SweepSpecTests.valid.replacingOccurrences(of: "results: out/t.h5", with: "results: r.h5")
        let spec = try SweepSpec.parse(text, file: f.path("s.yaml"))
        return (spec, try ResultsFile.create(spec: spec, comm: nil))
    }

    /// A history with a value per point that depends on the run.
    func history(_ spec: SweepSpec, run: Int) -> History {
        History(records: spec.runs[run].config.evalPoints.map { p in
            let x = Double(run) + Double(p) / 1e4, all = [Double](repeating: x, count: Evaluator.allCases.count)
            return EvalRecord(sequences: p, trainLoss: x, accuracy: all, inContextAccuracy: all, loss: all)
        })
    }

    func finish(_ spec: SweepSpec, _ file: ResultsFile, run: Int) throws {
        let point = spec.runs[run]
        try file.markRunning(point, host: "h", rank: 1)
        let h = history(spec, run: run)
        for (p, r) in h.records.enumerated() { try file.writeEval(run, point: p, r) }
        try file.markDone(point, history: h)
    }

    func testVerifyFindsDamagedRowsAndOnlyThose() throws {
        let (spec, file) = try makeFile()
        for run in [0, 3, 5] { try finish(spec, file, run: run) }
        XCTAssertEqual(try file.verify().map(\.run), [])
        // A flipped value in one run's metrics, and a changed grid point in another's.
        var changed = history(spec, run: 3).records[1]
        changed.inContextAccuracy[2] = 0.25
        try file.writeEval(3, point: 1, changed)
        try file.dataset("runs/seed").writeBlock([Int64(99)], start: [5], count: [1])
        let damaged = try file.verify()
        XCTAssertEqual(damaged.map(\.run), [3, 5])
        XCTAssert(damaged[0].description.hasPrefix("run 3 \(spec.runs[3].name): "), damaged[0].description)
        XCTAssert(damaged[0].reason.contains("do not match their checksum"), damaged[0].reason)
        // Putting the values back makes it intact again.
        for (p, r) in history(spec, run: 3).records.enumerated() { try file.writeEval(3, point: p, r) }
        try file.dataset("runs/seed").writeBlock([Int64(spec.runs[5].config.seed)], start: [5], count: [1])
        XCTAssertEqual(try file.verify().count, 0)
        try file.close()
    }

    /// Each run takes rows for its own evaluation points only: runs of
    /// 3,200 and 32,000 sequences (3 and 21 points) take 3 and 21 rows, not
    /// 21 each, and read back with their own points; the size `validate`
    /// prints is the file's.
    func testEachRunTakesRowsForItsOwnPoints() throws {
        let text = SweepSpecTests.valid.replacingOccurrences(of: "results: out/t.h5", with: "results: r.h5")
            .replacingOccurrences(of: "  seeds: [0, 1, 2]", with: "  seeds: [0]\n  training.sequences: [3200, 32000]")
            .replacingOccurrences(of: "  sequences: 3200\n", with: "")
        let spec = try SweepSpec.parse(text, file: f.path("s.yaml"))
        let counts = spec.runs.pointCounts()
        XCTAssertEqual(counts, [3, 21, 3, 21, 3, 21, 3, 21])
        let file = try ResultsFile.create(spec: spec, comm: nil)
        XCTAssertEqual(file.firstPoint, [0, 3, 24, 27, 48, 51, 72, 75])
        XCTAssertEqual(try file.dataset(ResultsSchema.accuracy).shape, [96, Evaluator.allCases.count])
        for run in [0, 1, 6] { try finish(spec, file, run: run) }
        let t = try file.table()
        XCTAssertEqual(t.histories[0].records.map(\.sequences), [0, 1600, 3200])
        XCTAssertEqual(t.histories[1].records.map(\.sequences), Array(stride(from: 0, through: 32000, by: 1600)))
        XCTAssertEqual(t.histories[1].records.last?.trainLoss, 1 + 3.2)
        XCTAssertEqual(t.histories[6].records.map(\.trainLoss), [6, 6.16, 6.32])
        XCTAssert(t.histories[2].records.allSatisfy { $0.trainLoss.isNaN }, "nothing written yet")
        XCTAssertEqual(t.points, Array(stride(from: 0, through: 32000, by: 1600)))
        XCTAssertEqual(try file.verify().count, 0)
        try file.close()
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: spec.results)[.size] as? Int)
        let expected = ResultsFile.expectedBytes(spec)
        XCTAssert(size >= expected && size <= expected + 80_000, "file \(size) bytes, estimated \(expected)")
    }

    func testAStatusThisVersionDoesNotKnowIsAnError() throws {
        let (spec, file) = try makeFile()
        try file.dataset("runs/status").writeBlock([Int32(9)], start: [4], count: [1])
        XCTAssertThrowsError(try file.statuses()) { error in
            let text = "\(error)"
            XCTAssert(text.contains("run 4 of \(spec.results) has status 9"), text)
            XCTAssert(text.contains("0 pending"), text)
        }
        try file.close()
    }

    /// Files of format 2 (five evaluators, `train` being the run's own
    /// variant) are refused with that reason instead of being misread.
    func testAnOlderFormatIsRefusedWithTheReason() throws {
        let (spec, file) = try makeFile()
        try file.close()
        for (format, reason) in [("iclsweep-results-2", "format 2: five evaluators"),
                                 ("iclsweep-results-3", "format 3: every run padded to the longest run's evaluation points")] {
            let raw = try H5File.open(spec.results, writable: true)
            try raw.setAttribute("format", format)
            try raw.close()
            XCTAssertThrowsError(try ResultsFile.openForReading(spec.results)) { error in
                XCTAssert("\(error)".contains(reason) && "\(error)".contains("start a new results file"), "\(error)")
            }
        }
    }
}
