import XCTest

/// The trace, read by an independent numpy implementation written from the
/// description in docs/model.md (scripts/check-trace.py): logits, loss, every gradient and the
/// Adam update must agree.
final class TraceCheckTests: XCTestCase {
    func testNumpyImplementationAgreesWithTheTrace() throws { try check([]) }

    /// The 12-layer model's kind of layers: MLPs, sinusoidal positions, more pairs (at 3 layers).
    func testNumpyImplementationAgreesWithADeeperModel() throws {
        try check(["--layers", "3", "--mlp", "--mlp-ratio", "2", "--positional", "sinusoidal", "--pairs", "3"])
    }

    /// Sinusoidal positions at the authors' 12-layer time scale (30), not 10,000.
    func testNumpyImplementationAgreesAtAnotherSinusoidTimeScale() throws {
        try check(["--layers", "2", "--mlp", "--positional", "sinusoidal", "--sin-time", "30", "--pairs", "3"])
    }

    func check(_ extra: [String]) throws {
        let probe = try Launcher.run(["/usr/bin/env", "python3", "-c", "import numpy, h5py"], raw: true)
        if probe.status != 0 { throw XCTSkip("python3 with numpy and h5py not available: \(probe.output)") }
        let dir = try TemporaryFolder.make("trace")
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("trace.h5").path
        let train = try Launcher.run(["train", "--classes", "24", "--exemplars", "6", "--dim", "20", "--heads", "4",
                                      "--sequences", "64", "--eval-interval", "64", "--eval-sequences", "32",
                                      "--learning-rate", "1e-3", "--trace", trace,
                                      "--out", dir.appendingPathComponent("m.h5").path] + extra)
        XCTAssertEqual(train.status, 0, train.output)
        let check = try Launcher.run(["/usr/bin/env", "python3",
                                      Launcher.packageRoot.appendingPathComponent("scripts/check-trace.py").path, trace], raw: true)
        print(check.output)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssert(check.output.contains("trace consistent"), check.output)
    }
}
