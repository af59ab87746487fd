import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLTraining

/// Runs built on other runs' checkpoints (`RunStart`), checked against
/// weights built by hand: grafted tensors equal the source's bitwise and
/// never move, frozen tensors never move, the rest trains, and an
/// evaluate-only model is exactly the tensors of the checkpoints it names.
final class RunStartTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try TemporaryFolder.make("runstart")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func config(_ variant: Variant = .bursty, seed: UInt64 = 11, sequences: Int = 1024, start: RunStart? = nil) -> RunConfig {
        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 4, dim: 16, noise: 0.1, seed: 2)),
                          classes: 8, exemplars: 4, variant: variant, seed: seed, sequences: sequences, evalInterval: 512, evalClasses: 8, evalExemplars: 4)
        c.batch = 16; c.evalSequences = 100; c.width = 16; c.heads = 2
        c.adam = AdamSettings(learningRate: 3e-3)
        c.start = start
        return c
    }

    func trainer(_ c: RunConfig) throws -> Trainer {
        try Trainer(config: c, table: try c.data.table(classes: c.classes, exemplars: c.exemplars))
    }

    /// A source run trained `sequences` and checkpointed there.
    func source(_ variant: Variant, seed: UInt64, sequences: Int) throws -> (Trainer, CheckpointContents) {
        let t = try trainer(config(variant, seed: seed, sequences: sequences))
        XCTAssertEqual(try t.run(), .finished)
        let url = dir.appendingPathComponent("\(variant)-\(seed)-\(sequences).h5")
        try t.saveCheckpoint(to: url)
        return (t, try CheckpointContents.read(url))
    }

    let layer1: [Tensor] = [.lnGain(1), .lnBias(1), .qkv(1), .attnOut(1)]
    let unembedding: [Tensor] = [.finalGain, .finalBias, .unembedWeight, .unembedBias]

    func testGraftTakesTheSourcesTensorsAndHoldsThemFixed() throws {
        let (main, checkpoint) = try source(.bursty, seed: 3, sequences: 512)
        let start = RunStart(mode: .graft, parts: [.init(from: "main", at: 512, groups: ["layer1", "unembedding"])], freeze: [])
        let fresh = try trainer(config(.iclOnly))
        let t = try trainer(config(.iclOnly, start: start))
        try t.assemble(from: [checkpoint])
        let grafted = Set(layer1 + unembedding)
        for tensor in Tensor.all(layers: 2) {
            let expected = grafted.contains(tensor) ? main.parameters(tensor) : fresh.parameters(tensor)
            XCTAssertEqual(t.parameters(tensor).map(\.bitPattern), expected.map(\.bitPattern), "\(tensor.name) after assembling")
        }
        XCTAssertEqual(try t.run(), .finished)
        for tensor in Tensor.all(layers: 2) {
            if grafted.contains(tensor) {
                XCTAssertEqual(t.parameters(tensor).map(\.bitPattern), main.parameters(tensor).map(\.bitPattern), "\(tensor.name) is held fixed")
            } else if tensor != .labelEmbedding {  // only the rows of labels in use move
                XCTAssertNotEqual(t.parameters(tensor), fresh.parameters(tensor), "\(tensor.name) trains")
            }
        }
        // the same graft again gives the same bits
        let again = try trainer(config(.iclOnly, start: start))
        try again.assemble(from: [checkpoint])
        _ = try again.run()
        XCTAssertEqual(again.history.bitPatterns, t.history.bitPatterns)
    }

    func testInitTakesEveryWeightAndAFreshOptimizer() throws {
        let (source, checkpoint) = try source(.ciwlOnly, seed: 3, sequences: 512)
        let start = RunStart(mode: .initialize, parts: [.init(from: "ciwl_only", at: 512, groups: ["all"])], freeze: [])
        let t = try trainer(config(.bursty, start: start))
        try t.assemble(from: [checkpoint])
        XCTAssertEqual(t.params.storage.array.map(\.bitPattern), source.params.storage.array.map(\.bitPattern))
        XCTAssertEqual(t.sequencesDone, 0)
        XCTAssert(t.adam.m.storage.array.allSatisfy { $0 == 0 }, "fresh optimizer state")
        // the source's weights measured on this run's evaluator sets: the same numbers
        let probe = try trainer(config(.bursty))
        probe.params.storage.pointer.update(from: source.params.storage.pointer, count: probe.params.storage.count)
        XCTAssertEqual(try t.evaluate().loss.map(\.bitPattern), try probe.evaluate().loss.map(\.bitPattern))
        _ = try t.run()
        XCTAssertNotEqual(t.params.storage.array, source.params.storage.array, "every weight trains")
    }

    func testFreezeHoldsGroupsFixedFromAFreshStart() throws {
        let start = RunStart(mode: nil, parts: [], freeze: ["embedding", "layer0"])
        let fresh = try trainer(config())
        let t = try trainer(config(start: start))
        _ = try t.run()
        for tensor in Tensor.all(layers: 2) {
            if [Tensor.exemplarWeight, .exemplarBias, .labelEmbedding, .positions, .lnGain(0), .lnBias(0), .qkv(0), .attnOut(0)].contains(tensor) {
                XCTAssertEqual(t.parameters(tensor).map(\.bitPattern), fresh.parameters(tensor).map(\.bitPattern), "\(tensor.name) frozen")
            } else {
                XCTAssertNotEqual(t.parameters(tensor), fresh.parameters(tensor), "\(tensor.name) trains")
            }
        }
        XCTAssert(t.adam.m.values(.qkv(0)).allSatisfy { $0 == 0 }, "no optimizer state for frozen tensors")
    }

    /// Fig. 3b: layer 0 from one checkpoint, everything else from another.
    func testEvaluateOnlyAssemblesAModelFromTwoCheckpoints() throws {
        let (late, lateCheckpoint) = try source(.bursty, seed: 3, sequences: 1024)
        let (early, earlyCheckpoint) = try source(.bursty, seed: 3, sequences: 256)
        let start = RunStart(mode: .evaluate, parts: [.init(from: "main", at: 1024, groups: ["rest"]),
                                                      .init(from: "main", at: 256, groups: ["layer0"])], freeze: [])
        var c = config(start: start)
        c.sequences = 0
        XCTAssertEqual(c.problems(), [])
        let t = try trainer(c)
        try t.assemble(from: [lateCheckpoint, earlyCheckpoint])
        for tensor in Tensor.all(layers: 2) {
            let fromEarly = [Tensor.lnGain(0), .lnBias(0), .qkv(0), .attnOut(0)].contains(tensor)
            XCTAssertEqual(t.parameters(tensor).map(\.bitPattern), (fromEarly ? early : late).parameters(tensor).map(\.bitPattern), tensor.name)
        }
        XCTAssertEqual(try t.run(), .finished)
        XCTAssertEqual(t.history.records.map(\.sequences), [0], "evaluated once, not trained")
        XCTAssertNotEqual(t.history.records[0].loss, try late.evaluate().loss, "layer 0 from the early checkpoint changes the model")
    }

    func testProblemsNameTheField() {
        func problems(_ start: RunStart, sequences: Int = 1024) -> [String] { config(sequences: sequences, start: start).problems().map(\.description) }
        let part = { (g: [String]) in RunStart.Part(from: "main", at: 512, groups: g) }
        XCTAssertEqual(problems(RunStart(mode: .graft, parts: [part(["layer2"])], freeze: [])),
                       ["graft: no parameter group 'layer2' in a 2-layer model (groups: all, embedding, layer0, layer1, unembedding, or a tensor name)"])
        XCTAssertEqual(problems(RunStart(mode: nil, parts: [], freeze: ["all"])), ["freeze: leaves nothing to train"])
        XCTAssertEqual(problems(RunStart(mode: .graft, parts: [part(["embedding", "layer0"])], freeze: ["layer1", "unembedding"])),
                       ["graft: graft and freeze leave nothing to train"])
        XCTAssert(problems(RunStart(mode: .evaluate, parts: [part(["layer0"])], freeze: []), sequences: 0)
            .contains { $0.hasPrefix("evaluate: no checkpoint gives exemplar_embedding/weight") })
        XCTAssert(problems(RunStart(mode: .evaluate, parts: [part(["rest"])], freeze: []))
            .contains("training.sequences: an evaluate-only run trains nothing: must be 0 (got 1024)"))
        XCTAssertEqual(problems(RunStart(mode: .graft, parts: [part(["unembedding/weight"])], freeze: [])), [], "a tensor's own name is a group")
    }

    func testAGraftThatDoesNotFitIsRefused() throws {
        // a 16-class source: its unembedding has 16 outputs, the target's 8
        var c = config(seed: 3, sequences: 256)
        c.data = .synthetic(SyntheticData(classes: 16, exemplars: 4, dim: 16, noise: 0.1, seed: 2)); c.classes = 16
        let s = try trainer(c)
        _ = try s.run()
        let url = dir.appendingPathComponent("wide.h5")
        try s.saveCheckpoint(to: url)
        let t = try trainer(config(start: RunStart(mode: .graft, parts: [.init(from: "wide", at: 256, groups: ["unembedding"])], freeze: [])))
        XCTAssertThrowsError(try t.assemble(from: [try CheckpointContents.read(url)])) { error in
            XCTAssert("\(error)".contains("unembedding/weight is [16, 16] there, [16, 8] in this run's model"), "\(error)")
        }
    }
}
