import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLTraining

/// The mechanism measures of an evaluation: where the query attends, per
/// layer and head, on the flip and ciwl sets, and the induction strength on
/// flip data.
final class MechanismTests: XCTestCase {
    func config() -> RunConfig {
        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 4, dim: 16, noise: 0.1, seed: 2)),
                          classes: 8, exemplars: 4, variant: .bursty, seed: 11, sequences: 512, evalInterval: 256, evalClasses: 8, evalExemplars: 4)
        c.batch = 16; c.evalSequences = 300; c.width = 16; c.heads = 2
        c.adam = AdamSettings(learningRate: 3e-3)
        return c
    }

    func trainer() throws -> Trainer {
        let c = config()
        return try Trainer(config: c, table: try c.data.table(classes: c.classes, exemplars: c.exemplars))
    }

    /// With every query and key projection zero, every score is 0: the query
    /// attends 1/5 to each of the 5 tokens in every layer and head, and the
    /// induction strength is exactly 0.
    func testAModelWithoutScoresAttendsUniformly() throws {
        let t = try trainer()
        for l in 0..<2 {
            let p = t.params[.qkv(l)], D = 16
            for row in 0..<D { for col in 0..<(2 * D) { p[row * 3 * D + col] = 0 } }  // q and k columns; v stays
        }
        let r = try t.evaluate()
        let m = try XCTUnwrap(r.mechanism)
        XCTAssertEqual(m, MechanismShape(layers: 2, heads: 2, tokens: 5))
        XCTAssertEqual(r.attention.count, 2 * 2 * 2 * 5)
        for a in r.attention { XCTAssertEqual(a, 0.2, accuracy: 1e-7) }
        XCTAssertEqual(r.induction, [0, 0, 0, 0])
    }

    /// After some training the pattern is not uniform; every number equals
    /// a direct computation from the attention probabilities of a forward
    /// pass over the same sets, with the query's partner found by class
    /// (the context exemplar of the query's class), not by label. The
    /// forward runs in the evaluator's chunks of sequences: OpenBLAS's Zen
    /// and Haswell kernels sum some rows of a product in another order than
    /// others, so a sequence's last bits depend on its row in the batch (a
    /// whole-set forward differed by 2e-9 on a Zen 3).
    func testMeasuresEqualADirectComputation() throws {
        let t = try trainer()
        for _ in 0..<24 { try t.step() }
        let r = try t.evaluate()
        let m = r.mechanism!, L = 2, H = 2, T = 5, n = 2, chunk = t.evalWorkspace.batch
        var expected = [Double](repeating: 0, count: r.attention.count), induction = [Double](repeating: 0, count: L * H)
        for (s, e) in Mechanism.sets.enumerated() {
            let set = t.evalSets[e]!
            for start in stride(from: 0, to: set.size, by: chunk) {
                var part = Batch(size: min(chunk, set.size - start), pairs: n)
                part.take(start ..< start + part.size, of: set)
                let ws = Workspace<Float>(t.model.config, batch: part.size)
                t.model.forwardFloat(t.params, ws, batch: part, table: t.table)
                for b in 0..<part.size {
                    let queryClass = part.row(b, n) / t.table.exemplars
                    let partner = (0..<n).first { part.row(b, $0) / t.table.exemplars == queryClass }
                    for l in 0..<L {
                        for h in 0..<H {
                            let row = ws.att[l].pointer + ((b * H + h) * T + T - 1) * T
                            for k in 0..<T { expected[((s * L + l) * H + h) * T + k] += Double(row[k]) / Double(set.size) }
                            if e == .flip, let partner {
                                induction[l * H + h] += (Double(row[2 * partner + 1]) - Double(row[2 * (1 - partner) + 1])) / Double(set.size)
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(m.tokens, T)
        for (a, b) in zip(r.attention, expected) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        for (a, b) in zip(r.induction, induction) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        XCTAssertGreaterThan(r.attention.max()! - r.attention.min()!, 0.05, "trained attention is not uniform")
        // each set's rows are distributions over the query's 5 positions
        for s in 0..<2 { for l in 0..<L { for h in 0..<H {
            XCTAssertEqual((0..<T).map { r.attention[((s * L + l) * H + h) * T + $0] }.reduce(0, +), 1, accuracy: 1e-6)
        } } }
    }

    /// The measures travel with the history through checkpoints, under the checksum.
    func testMeasuresSurviveACheckpoint() throws {
        let t = try trainer()
        XCTAssertEqual(try t.run(), .finished)
        let url = URL(fileURLWithPath: TemporaryFolder.path("mechanism", suffix: ".h5"))
        defer { try? FileManager.default.removeItem(at: url) }
        try t.saveCheckpoint(to: url)
        let back = try trainer()
        try back.loadCheckpoint(from: url)
        XCTAssertEqual(back.history.records.map(\.attention), t.history.records.map(\.attention))
        XCTAssertEqual(back.history.records.map(\.induction), t.history.records.map(\.induction))
        XCTAssertEqual(back.history.records.first?.mechanism, MechanismShape(layers: 2, heads: 2, tokens: 5))
    }
}
