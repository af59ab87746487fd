import XCTest
@testable import ICLSweep

/// The estimates that let a worker held for a gang take a single-rank run.
final class BackfillTests: XCTestCase {
    func testAGangStartsWhenItsLastNeededWorkerIsFree() {
        XCTAssertEqual(Backfill.wait(needed: 2, ends: [50, 10, 30]), 30, "the second worker to be free")
        XCTAssertEqual(Backfill.wait(needed: 0, ends: [50]), 0, "enough are free now")
        XCTAssertNil(Backfill.wait(needed: 3, ends: [5, 6]), "not enough workers busy on the node: no estimate")
    }

    func testWorkLeftComesFromProgressAndTime() {
        // 1000 units at 10 per second per rank on 2 ranks: 50 s; half done at the last note, 5 s ago: 20 s left
        XCTAssertEqual(Backfill.left(cost: 1000, done: 500, total: 1000, ranks: 2, rate: 10, since: 5), 20)
        // no note yet: counted from its start
        XCTAssertEqual(Backfill.left(cost: 1000, done: nil, total: 1000, ranks: 1, rate: 10, since: 30), 70)
        XCTAssertEqual(Backfill.left(cost: 1000, done: nil, total: 1000, ranks: 1, rate: 10, since: 500), 0, "overdue: ends now")
    }

    func testOnlyRunsThatEndFirstBackfill() {
        XCTAssert(Backfill.fits(cost: 100, rate: 10, before: 10))
        XCTAssertFalse(Backfill.fits(cost: 101, rate: 10, before: 10), "it would delay the gang")
    }
}
