import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Runs on several ranks in a spec (`training.shards`, `training.ranks`):
/// how they are read, compared and placed, and the order gangs are served in.
final class PlacementTests: XCTestCase {
    static let spec = """
    name: gangs
    results: out/g.h5
    data:
      synthetic: {classes: 16, exemplars: 4, dim: 8, noise: 0.1, seed: 0}
    training:
      sequences: 4800
      batch: 24
      shards: 6
      ranks: 2
      eval_interval: 2400
    grid:
      classes: [8, 16]
      seeds: [0]
    runs:
      wide: {classes: 16, training.ranks: 3}
      alone: {classes: 8, training.ranks: 1}
    """

    func parse(_ text: String) throws -> SweepSpec { try SweepSpec.parse(text, file: "/tmp/g.yaml") }
    func error(_ text: String) -> String {
        do { _ = try parse(text); return "no error" } catch { return "\(error)" }
    }
    func placementError(_ spec: SweepSpec, _ perNode: [Int], processes: Int) -> String {
        do { try Placement.check(spec, workersPerNode: perNode, processes: processes); return "no error" } catch { return "\(error)" }
    }

    func testRanksArePerGridAndPerRunAndNeverPartOfTheRun() throws {
        let s = try parse(Self.spec)
        XCTAssertEqual(s.runs.count, 4)
        XCTAssertEqual(s.runs.map(\.config.rankCount), [2, 2, 3, 1])
        XCTAssertEqual(s.runs.map(\.config.shardCount), [6, 6, 6, 6])
        XCTAssertEqual(s.runs[0].name, "K8-E4-bursty-s0", "ranks are not in run names")
        // a resume with other ranks is the same sweep
        let other = try parse(Self.spec.replacingOccurrences(of: "  ranks: 2", with: "  ranks: 3")
            .replacingOccurrences(of: "training.ranks: 3", with: "training.ranks: 2"))
        XCTAssertEqual(other.differences(from: s), [])
        let reshard = try parse(Self.spec.replacingOccurrences(of: "shards: 6", with: "shards: 3"))
        XCTAssert(reshard.differences(from: s).contains("training.shards: 6 -> 3"), "shards change the bits: a new sweep")
        // wall costs: a gang shortens a run, its work stays
        XCTAssertEqual(s.runCosts(wall: true)[2] * 3, s.runCosts()[2], accuracy: 1e-6 * s.runCosts()[2])
    }

    func testBadShardsAndRanksAreRefusedAtTheirLine() {
        XCTAssertEqual(error(Self.spec.replacingOccurrences(of: "shards: 6", with: "shards: 5")),
                       "/tmp/g.yaml:8: training.shards: run K8-E4-bursty-s0 is impossible: training.shards: 5 does not divide the batch (24) into equal parts")
        var e = error(Self.spec.replacingOccurrences(of: "  ranks: 2", with: "  ranks: 8"))
        XCTAssert(e.hasPrefix("/tmp/g.yaml:9: training.ranks: run K8-E4-bursty-s0 is impossible: training.ranks: 8 ranks for 6 shards"), e)
        e = error(Self.spec.replacingOccurrences(of: "training.ranks: 3", with: "training.ranks: 7"))
        XCTAssert(e.hasPrefix("/tmp/g.yaml:15: runs.wide.training.ranks: run wide is impossible: training.ranks: 7 ranks for 6 shards"), e)
        e = error(Self.spec.replacingOccurrences(of: "  seeds: [0]", with: "  seeds: [0]\n  training.ranks: [1, 2]"))
        XCTAssert(e.contains("training.ranks") && e.contains("/tmp/g.yaml:14"), e)
    }

    func testGangsMustFitTheJobAndANode() throws {
        let s = try parse(Self.spec)
        XCTAssertEqual(placementError(s, [3], processes: 4), "no error")
        XCTAssertEqual(placementError(s, [2], processes: 3),
                       "/tmp/g.yaml:15: runs.wide.training.ranks: run wide asks for 3 ranks, and this job has 2 training ranks (3 processes: rank 0 "
                       + "coordinates, the others train); start at least 4 processes, or lower training.ranks")
        XCTAssertEqual(placementError(s, [2, 2], processes: 5),
                       "/tmp/g.yaml:15: runs.wide.training.ranks: run wide asks for 3 ranks on one node, and the largest node has 2 training ranks "
                       + "(nodes: 2, 2); lower training.ranks, give the job nodes with more ranks, or let gangs span nodes (run --gangs-across-nodes)")
        let grid = try parse(Self.spec.replacingOccurrences(of: "  ranks: 2", with: "  ranks: 4").replacingOccurrences(of: "shards: 6", with: "shards: 12")
            .replacingOccurrences(of: "training.ranks: 3", with: "training.ranks: 1"))
        XCTAssertEqual(placementError(grid, [1], processes: 1),
                       "/tmp/g.yaml:9: training.ranks: run K8-E4-bursty-s0 asks for 4 ranks, and this job has 1 training rank (one "
                       + "process); start at least 5 processes, or lower training.ranks")
    }

    /// One lane per rank count, each in hand-out order; the heads best first.
    func testReadyRunsServeTheBestRunOfEachLane() throws {
        let s = try parse(Self.spec)
        let graph = RunGraph(s.runs, costs: s.runCosts(wall: true))
        let order = s.schedule(of: Array(0..<4), graph: graph)
        XCTAssertEqual(order, [3, 1, 0, 2], "wall time first: alone (1 rank), the grid's runs (2 ranks), wide (3 ranks)")
        var ready = ReadyRuns(Array(order.prefix(3)), graph: graph) { s.runs.config(of: $0).rankCount }
        XCTAssertEqual(ready.heads.map(\.run), [3, 1], "the first of each lane")
        XCTAssertEqual(ready.take(ranks: 2), 1)
        ready.release(2)
        XCTAssertEqual(ready.head(ranks: 3), 2)
        XCTAssertEqual(ready.take(ranks: 1), 3)
        XCTAssertEqual(ready.heads.map(\.run), [0, 2])
        XCTAssertNil(ready.head(ranks: 1))
        _ = ready.take(ranks: 3); _ = ready.take(ranks: 2)
        XCTAssert(ready.isEmpty)
    }

    /// A worker held for a gang takes the best run of a lane that fits,
    /// queued from the start or released later, in hand-out order.
    func testReadyRunsGiveTheBestRunThatFits() throws {
        let s = try parse(Self.spec.replacingOccurrences(of: "  ranks: 2", with: "  ranks: 1")
            .replacingOccurrences(of: "  seeds: [0]", with: "  seeds: [0, 1, 2]"))
        let graph = RunGraph(s.runs, costs: s.runCosts(wall: true))
        let singles = s.schedule(of: Array(0..<s.runs.count), graph: graph).filter { s.runs.config(of: $0).rankCount == 1 }
        XCTAssertEqual(singles.count, 7, "six grid runs and alone")
        var ready = ReadyRuns(Array(singles.dropFirst()), graph: graph) { s.runs.config(of: $0).rankCount }
        ready.release(singles[0])
        XCTAssertEqual(ready.first(ranks: 1) { _ in true }, singles[0], "a released run in its place: first")
        XCTAssertEqual(ready.first(ranks: 1) { $0 != singles[0] && $0 != singles[1] }, singles[2])
        XCTAssertNil(ready.first(ranks: 1) { _ in false })
        XCTAssertNil(ready.first(ranks: 3) { _ in true }, "no lane")
        ready.take(singles[3])
        ready.take(singles[0])
        var rest: [Int] = []
        while let next = ready.head(ranks: 1) { rest.append(ready.take(ranks: 1)); XCTAssertEqual(rest.last, next) }
        XCTAssertEqual(rest, [singles[1], singles[2]] + singles[4...], "the others in order")
    }
}
