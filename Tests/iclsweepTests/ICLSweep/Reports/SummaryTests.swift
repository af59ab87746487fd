import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

final class SummaryTests: XCTestCase {
    /// A history with the given icl and flip in-context accuracies at 0, 10, 20, ...
    func history(icl: [Double], flip: [Double], ciwl: Double = 0.9) -> History {
        History(records: icl.indices.map { p in
            var ic = [Double](repeating: 0.5, count: Evaluator.allCases.count)
            ic[1] = icl[p]; ic[3] = ciwl; ic[4] = flip[p]
            return EvalRecord(sequences: 10 * p, trainLoss: 1, accuracy: [1, 0, 0.1, 0, 0, 1], inContextAccuracy: ic,
                              loss: [1, 1, 1, 1, 1, 1])
        })
    }

    func testTransientRun() {
        let s = RunStatistics(history(icl: [0.5, 0.9, 0.95, 0.7, 0.6], flip: [0.5, 0.9, 0.8, 0.45, 0.2]))
        XCTAssertEqual(s.peakICL, 0.95)
        XCTAssertEqual(s.peakICLAt, 20)
        XCTAssertEqual(s.finalICL, 0.6)
        XCTAssertEqual(s.transience, 0.35, accuracy: 1e-12)
        XCTAssertEqual(s.finalFlip, 0.2)
        XCTAssertEqual(s.flipBelowHalfAt, 30, "first point after flip's peak with flip < 0.5")
        XCTAssertEqual(s.finalCIWL, 0.9)
        XCTAssertEqual(s.finalIWL, 0.1)
    }

    func testFlipThatNeverRoseOrNeverFellHasNoCrossing() {
        // CIWL first: flip only falls from its initial 0.5
        XCTAssert(RunStatistics(history(icl: [0.5, 0.6, 0.7], flip: [0.49, 0.2, 0.1])).flipBelowHalfAt.isNaN)
        // persistent ICL
        XCTAssert(RunStatistics(history(icl: [0.5, 0.9, 0.95], flip: [0.5, 0.9, 0.95])).flipBelowHalfAt.isNaN)
    }

    /// Beside the mean over seeds, every run's own row: a seed that did not
    /// behave is named, not averaged away.
    func testEveryRunHasItsOwnRow() {
        let transient = history(icl: [0.5, 0.9, 0.95, 0.7, 0.6], flip: [0.5, 0.9, 0.8, 0.45, 0.2])
        let never = history(icl: [0.5, 0.55, 0.6, 0.6, 0.58], flip: [0.49, 0.2, 0.1, 0.1, 0.1])
        let t = ResultsTable(name: "s", names: ["a-s0", "a-s1", "a-s2"], classes: [8, 8, 8], exemplars: [4, 4, 4],
                             variants: ["bursty", "bursty", "bursty"], seeds: [0, 1, 2], statuses: [.done, .done, .running],
                             messages: ["", "", ""], hosts: ["", "", ""], ranks: [1, 1, 1], sequencesDone: [40, 40, 10],
                             wallSeconds: [1, 1, 1], sequencesPerSecond: [1, 1, 1], checksums: [0, 0, 0],
                             points: [0, 10, 20, 30, 40], histories: [transient, never, never])
        let md = Summary(t).markdown
        XCTAssert(md.contains("| 8 | 4 | bursty | 2/3 | 0.775 ± 0.247 |"), "the cell's mean over its 2 done seeds:\n\(md)")
        XCTAssert(md.contains("## s: every run"), md)
        XCTAssert(md.contains("| a-s0 | 0.950 | 20 | 0.600 | 0.900 | 0.100 | 0.200 | 30 | 0.350 |"), md)
        XCTAssert(md.contains("| a-s1 | 0.600 | 20 | 0.580 | 0.900 | 0.100 | 0.100 | - | 0.020 |"), md)
        XCTAssertFalse(md.contains("| a-s2 |"), "a run still training has no row: \(md)")
    }
}
