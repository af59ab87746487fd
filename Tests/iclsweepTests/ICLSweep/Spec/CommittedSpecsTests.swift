import XCTest
@testable import ICLSweep
@testable import ICLTraining

/// Every spec in sweeps/ is valid as committed, and the paper suite holds
/// the authors' chain under their run names.
final class CommittedSpecsTests: XCTestCase {
    func testEverySpecInSweepsParses() throws {
        let folder = Launcher.packageRoot.appendingPathComponent("sweeps")
        let specs = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(specs.count, 5)
        for name in specs {
            XCTAssertNoThrow(try SweepSpec.load(path: folder.appendingPathComponent(name).path), name)
        }
        let suite = try SweepSpec.load(path: folder.appendingPathComponent("paper-suite.yaml").path)
        let names = Set(suite.runs.map(\.name))
        for name in ["main", "ciwl_only", "icl_only", "icl_only_graftl1", "icl_only_graftl1_from_ciwl_only_4M",
                     "icl_only_graftl1_from_ciwl_only_9.75M", "init_from_ciwl_only_4M", "mq", "12l", "12l_mq"] {
            XCTAssert(names.contains(name), "\(name) in paper-suite.yaml")
        }
        let twelve = try XCTUnwrap(suite.runs.first { $0.name == "12l" }).config
        XCTAssertEqual(twelve.model.layers, 12)
        XCTAssertEqual(twelve.model.mlpRatio, 4)
        XCTAssertEqual(twelve.model.positional, .sinusoidal)
        XCTAssertEqual(twelve.pairs, 8)
        XCTAssertEqual(twelve.burstiness, 3)
        XCTAssertEqual(twelve.evalBurstiness, 4)
        XCTAssertEqual([twelve.evalClasses, twelve.evalExemplars, twelve.evalSequences], [12_800, 20, 1000],
                       "the authors' ctx8 evaluator data: every class and exemplar, 1,000 sequences a set")
        let twelveMQ = try XCTUnwrap(suite.runs.first { $0.name == "12l_mq" }).config
        XCTAssertEqual([twelveMQ.evalClasses, twelveMQ.evalExemplars, twelveMQ.evalSequences], [12_800, 20, 1000])
        XCTAssertEqual(twelve.initSeed, 5)
        XCTAssertEqual(twelve.dataSeed, 2)
        XCTAssertEqual(try XCTUnwrap(suite.runs.first { $0.name == "icl_only" }).config.relabelLabels, 12_800)
    }
}
