import XCTest
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// `iclsweep toy`: parameters from a spec (errors with their line), and
/// the HDF5, CSV and SVG it writes.
final class ToyOutputTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = try TemporaryFolder.make("toy")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ text: String) throws -> String {
        let path = dir.appendingPathComponent("toy.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSpecErrorsNameTheLine() throws {
        let ok = try ToyOutput.load(path: try write("toy:\n  dims: [6, 6, 6, 12]\n  mu2: 0.02\n  learning_rate: 0.1\n"), over: .init())
        XCTAssertEqual(ok.dims, [6, 6, 6, 12]); XCTAssertEqual(ok.mu2, 0.02); XCTAssertEqual(ok.learningRate, 0.1); XCTAssertEqual(ok.mu1, 0.1)
        func error(_ text: String) throws -> String {
            do { _ = try ToyOutput.load(path: try write(text), over: .init()); return "no error" } catch { return "\(error)" }
        }
        XCTAssert(try error("toy:\n  mu1: 0.2\n  alpha: -1\n").hasSuffix("toy.yaml:3: toy.alpha: alpha must be a finite number >= 0 (got -1.0)"))
        XCTAssert(try error("toy:\n  beta: 1\n").contains("toy.yaml:2: toy.beta: unknown key in toy"))
        XCTAssert(try error("toy:\n  steps: 0\n").contains("toy.yaml:2: toy.steps: must be a positive number, got 0"))
    }

    func testTheCommandWritesCurvesAndAFigure() throws {
        let spec = try write("toy:\n  dims: [5, 5, 5, 10]\n  steps: 400\n  record_every: 100\n  mu2: 0.01\n")
        let out = dir.appendingPathComponent("curves").path
        let r = try Launcher.run(["toy", "--spec", spec, "--seed", "2", "--out", out])
        XCTAssertEqual(r.status, 0, r.output)
        let csv = try String(contentsOfFile: out + ".csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "step,loss,l1,l2,cost,norm_a,norm_d,explained1,explained2")
        XCTAssertEqual(csv.count, 1 + 5, "steps 0, 100, 200, 300, 400")
        let file = try H5File.open(out + ".h5")
        XCTAssertEqual(try file.read("toy/step") as [Double], [0, 100, 200, 300, 400])
        XCTAssert(try file.attribute("parameters").contains("\"seed\":2"))
        XCTAssert(try String(contentsOfFile: out + ".svg", encoding: .utf8).contains("minimal model"))
        // the same command gives the same curves
        let again = try Launcher.run(["toy", "--spec", spec, "--seed", "2", "--out", out + "2"])
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(try String(contentsOfFile: out + "2.csv", encoding: .utf8), csv.joined(separator: "\n") + "\n")
        let seeds = try Launcher.run(["toy", "--spec", spec, "--seeds", "0-2", "--out", out + "-seeds"])
        XCTAssertEqual(seeds.status, 0, seeds.output)
        let table = try String(contentsOfFile: out + "-seeds.seeds.md", encoding: .utf8)
        XCTAssertEqual(table.split(separator: "\n").filter { $0.hasPrefix("| 0 |") || $0.hasPrefix("| 1 |") || $0.hasPrefix("| 2 |") }.count, 3, table)
        XCTAssert(table.contains("of 3 seeds show the transient"), table)
        XCTAssertNotEqual(try Launcher.run(["toy", "--seeds", "banana", "--out", out]).status, 0)
        let bad = try Launcher.run(["toy", "--mu2=-0.5", "--out", out])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("mu2 must be a finite number >= 0 (got -0.5)"), bad.output)
        let diverged = try Launcher.run(["toy", "--learning-rate", "10000", "--out", out])
        XCTAssertNotEqual(diverged.status, 0)
        XCTAssert(diverged.output.contains("training diverged") && diverged.output.contains("lower --learning-rate"), diverged.output)
    }
}
