import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

final class PlotTests: XCTestCase {
    /// A run whose in-context ICL accuracy is `icl` at 0, 10, 20, ...
    func history(icl: [Double]) -> History {
        History(records: icl.indices.map { p in
            var ic = [Double](repeating: 0.5, count: Evaluator.allCases.count)
            ic[1] = icl[p]
            return EvalRecord(sequences: 10 * p, trainLoss: 1, accuracy: [1, 0, 0.1, 0, 0, 1], inContextAccuracy: ic,
                              loss: [1, 1, 1, 1, 1, 1])
        })
    }

    func table(_ histories: [History], names: [String], cells: [String]) -> ResultsTable {
        let n = histories.count
        return ResultsTable(name: "p", names: names, classes: Array(repeating: 8, count: n), exemplars: Array(repeating: 4, count: n),
                            variants: cells, seeds: Array(0..<n), statuses: Array(repeating: .done, count: n),
                            messages: Array(repeating: "", count: n), hosts: Array(repeating: "", count: n),
                            ranks: Array(repeating: 1, count: n), sequencesDone: Array(repeating: 20, count: n),
                            wallSeconds: Array(repeating: 1, count: n), sequencesPerSecond: Array(repeating: 1, count: n),
                            checksums: Array(repeating: 0, count: n), points: [0, 10, 20], histories: histories)
    }

    /// The ICL line's points in a panel drawn at x0 = 60, width 300, y0 = 60, height 180.
    func iclPolylines(_ svg: String) -> [String] {
        svg.components(separatedBy: "<polyline points='").dropFirst()
            .map { $0.components(separatedBy: "/>")[0] }
            .filter { $0.contains("stroke='\(Plotter.colors[.icl]!)'") }
            .map { String($0.prefix { $0 != "'" }) }
    }

    /// The per-seed figure draws each run alone, named: two seeds that peak
    /// at different times are two curves, not their mean.
    func testSeedsFigureHasOnePanelPerRunWithItsOwnCurve() throws {
        let t = table([history(icl: [0.5, 1.0, 0.5]), history(icl: [0.5, 0.5, 1.0])],
                      names: ["K8-E4-bursty-s0", "K8-E4-bursty-s1"], cells: ["bursty", "bursty"])
        let plotter = Plotter(t)
        let cell = try XCTUnwrap(plotter.summary.cells.first)
        let seeds = plotter.seedsFigure(cell)
        XCTAssert(seeds.contains(">K8-E4-bursty-s0</text>") && seeds.contains(">K8-E4-bursty-s1</text>"), seeds)
        // panel 1 at x 60..360, y 60..240; panel 2 at x 430..730
        XCTAssertEqual(iclPolylines(seeds), ["60.0,150.0 210.0,60.0 360.0,150.0", "430.0,150.0 580.0,150.0 730.0,60.0"])
        // the cell's own figure is their mean: flat at 0.75 after the start
        let mean = iclPolylines(plotter.cellFigure(cell))
        XCTAssertEqual(mean.count, 1)
        XCTAssert(mean[0].hasSuffix(",120.0 550.0,120.0"), mean[0])

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plot-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let written = try plotter.write(to: folder).map { URL(fileURLWithPath: $0).lastPathComponent }
        XCTAssertEqual(written, ["overview.svg", "K8-E4-bursty.svg", "K8-E4-bursty-seeds.svg"])
    }

    func testACellOfOneRunHasNoSeedsFigure() throws {
        let t = table([history(icl: [0.5, 1.0, 0.5]), history(icl: [0.5, 0.5, 1.0])],
                      names: ["K8-E4-bursty-s0", "K8-E4-matched-s0"], cells: ["bursty", "matched"])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plot1-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let written = try Plotter(t).write(to: folder).map { URL(fileURLWithPath: $0).lastPathComponent }
        XCTAssertEqual(written, ["overview.svg", "K8-E4-bursty.svg", "K8-E4-matched.svg"])
    }
}
