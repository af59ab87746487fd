import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

final class TrainerTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try TemporaryFolder.make("trainer")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A tiny learnable configuration: 8 well-separated classes in 16 dimensions.
    func tinyConfig(variant: Variant = .bursty, sequences: Int = 4096, lr: Double = 3e-3) -> RunConfig {
        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 4, dim: 16, noise: 0.1, seed: 2)),
                          classes: 8, exemplars: 4, variant: variant, seed: 11, sequences: sequences, evalInterval: 1024, evalClasses: 8, evalExemplars: 4)
        c.batch = 16; c.evalSequences = 200; c.width = 16; c.heads = 2
        c.adam = AdamSettings(learningRate: lr)
        return c
    }

    func makeTrainer(_ c: RunConfig) throws -> Trainer {
        try Trainer(config: c, table: try c.data.table(classes: c.classes, exemplars: c.exemplars))
    }

    func testLossFallsOnALearnableTask() throws {
        let t = try makeTrainer(tinyConfig())
        var first = 0.0, last = 0.0
        for s in 0..<256 {
            let loss = try t.step()
            if s < 16 { first += loss / 16 }
            if s >= 240 { last += loss / 16 }
        }
        print("tiny task: mean loss of the first 16 steps \(first), of the last 16 \(last)")
        XCTAssertGreaterThan(first, 1.5, "starts near log(8) = 2.08")
        XCTAssertLessThan(last, first * 0.5, "loss falls by more than half")
        let record = try t.evaluate()
        XCTAssertGreaterThan(record.headline(.train), 0.6, "train-distribution accuracy well above chance 1/8")
    }

    func testSameSeedsGiveBitwiseIdenticalRuns() throws {
        let a = try makeTrainer(tinyConfig(sequences: 2048)), b = try makeTrainer(tinyConfig(sequences: 2048))
        XCTAssertEqual(try a.run(), .finished)
        XCTAssertEqual(try b.run(), .finished)
        XCTAssertEqual(a.params.storage.array, b.params.storage.array)
        XCTAssertEqual(a.history.bitPatterns, b.history.bitPatterns)
        var other = tinyConfig(sequences: 2048)
        other.seed = 12
        let c = try makeTrainer(other)
        _ = try c.run()
        XCTAssertNotEqual(a.params.storage.array, c.params.storage.array, "a different seed trains differently")
    }

    /// `train` is plain bursty sequences for every run (the authors'
    /// evaluator) with an in-context headline; `train_variant` is the run's
    /// own variant. Same seeds, so same initial weights: a ciwl_only run and
    /// a bursty run see the same `train` set and differ on `train_variant`.
    func testTrainIsPlainBurstyAndTrainVariantIsTheRunsOwn() throws {
        let bursty = try makeTrainer(tinyConfig()).evaluate()
        let ciwl = try makeTrainer(tinyConfig(variant: .ciwlOnly)).evaluate()
        let train = Evaluator.allCases.firstIndex(of: .train)!, own = Evaluator.allCases.firstIndex(of: .trainVariant)!
        XCTAssertEqual(bursty.loss[train], ciwl.loss[train])
        XCTAssertNotEqual(bursty.loss[own], ciwl.loss[own])
        XCTAssert(Evaluator.train.headlineIsInContext)
        XCTAssertEqual(bursty.headline(.train), bursty.inContextAccuracy[train])
    }

    /// The initialisation and the training sequences are seeded apart (as
    /// the authors do); both default to `seed`, which keeps old runs as they were.
    func testInitAndDataSeedsAreSeparate() throws {
        let base = try makeTrainer(tinyConfig(sequences: 512))
        var explicit = tinyConfig(sequences: 512)
        explicit.initSeed = 11; explicit.dataSeed = 11
        let same = try makeTrainer(explicit)
        var otherData = tinyConfig(sequences: 512)
        otherData.dataSeed = 5
        let sameInit = try makeTrainer(otherData)
        var otherInit = tinyConfig(sequences: 512)
        otherInit.initSeed = 5
        let sameData = try makeTrainer(otherInit)
        XCTAssertEqual(sameInit.params.storage.array, base.params.storage.array, "same init, different data")
        XCTAssertNotEqual(sameData.params.storage.array, base.params.storage.array, "different init")
        for t in [base, same, sameInit, sameData] { _ = try t.run() }
        XCTAssertEqual(same.params.storage.array, base.params.storage.array, "explicit seeds equal to seed change nothing")
        XCTAssertEqual(same.history.bitPatterns, base.history.bitPatterns)
        XCTAssertNotEqual(sameInit.params.storage.array, base.params.storage.array, "other sequences train differently")
        XCTAssertFalse(tinyConfig().json.contains("initSeed"), "stored configs without them are unchanged")
    }

    func testEvaluationPointsAndHistory() throws {
        var c = tinyConfig(sequences: 2560)
        c.evalInterval = 1024
        let t = try makeTrainer(c)
        _ = try t.run()
        XCTAssertEqual(t.history.records.map(\.sequences), [0, 1024, 2048, 2560])
        XCTAssert(t.history.records[0].trainLoss.isNaN)
        for r in t.history.records { XCTAssert(r.accuracy.allSatisfy { (0...1).contains($0) }) }
    }

    /// As the paper: `icl_only` relabels into a set as large as the class
    /// count and is measured by every evaluator; with a smaller relabel set
    /// the model cannot output true class labels, and only train and icl apply.
    func testICLOnlyRunsRelabelIntoEveryClassAndAreMeasuredByEveryEvaluator() throws {
        var c = tinyConfig(variant: .iclOnly, sequences: 512)
        XCTAssertNil(c.relabelSet)
        let full = try makeTrainer(c)
        XCTAssertEqual(full.config.model.outputs, c.classes)
        XCTAssert(try full.evaluate().accuracy.allSatisfy { !$0.isNaN }, "every evaluator applies")
        c.relabelSet = 2
        let t = try makeTrainer(c)
        XCTAssertEqual(t.config.model.outputs, 2)
        let r = try t.evaluate()
        XCTAssertFalse(r.accuracy[1].isNaN)  // icl
        XCTAssertFalse(r.accuracy[5].isNaN)  // train_variant
        XCTAssert([0, 2, 3, 4].allSatisfy { r.accuracy[$0].isNaN }, "train, iwl, ciwl, flip use true labels the model cannot output")
    }

    /// A run stopped and resumed from its checkpoint ends bitwise identical to
    /// one never interrupted.
    func testResumeFromCheckpointIsBitwiseIdentical() throws {
        var c = tinyConfig(sequences: 3072)
        c.checkpointInterval = 512
        let straight = try makeTrainer(c)
        _ = try straight.run()

        let ckpt = dir.appendingPathComponent("run.ckpt.h5")
        let first = try makeTrainer(c)
        var steps = 0
        let outcome = try first.run(checkpoint: ckpt, shouldStop: { steps += 1; return steps > 77 })
        XCTAssertEqual(outcome, .stopped(atSequences: 77 * 16))

        let resumed = try makeTrainer(c)
        XCTAssertNil(try resumed.loadCheckpoint(from: ckpt), "same process, same arithmetic: no warning")
        XCTAssertEqual(resumed.sequencesDone, 77 * 16)
        XCTAssertEqual(try resumed.run(checkpoint: ckpt), .finished)
        XCTAssertEqual(resumed.params.storage.array, straight.params.storage.array)
        XCTAssertEqual(resumed.adam.m.storage.array, straight.adam.m.storage.array)
        XCTAssertEqual(resumed.history.bitPatterns, straight.history.bitPatterns)
    }

    /// A checkpoint records the arithmetic of the process that wrote it (the
    /// BLAS, its kernels, where the unembedding runs, the C library's libm);
    /// resuming under other arithmetic works but warns that the last bits
    /// will differ from an uninterrupted run's, naming both.
    func testResumingUnderOtherArithmeticWarns() throws {
        let (c, t, ckpt) = try checkpointAfterOneStep()
        XCTAssertEqual(try CheckpointContents.read(ckpt).arithmetic, Kernels.arithmetic)
        XCTAssert(Kernels.arithmetic.hasPrefix("OpenBLAS 0."), Kernels.arithmetic)
        XCTAssert(Kernels.arithmetic.contains("\(BLAS.coreName) kernels; unembedding in "), Kernels.arithmetic)
        XCTAssertNotNil(cLibrary.range(of: #"^glibc [0-9]+\.[0-9]+$"#, options: .regularExpression), cLibrary)
        XCTAssert(Kernels.arithmetic.hasSuffix("; \(cLibrary) libm"), Kernels.arithmetic)

        let elsewhere = "OpenBLAS 0.3.21 Haswell kernels; unembedding in OpenBLAS"
        try H5File.open(ckpt.path, writable: true).setAttribute("arithmetic", elsewhere)
        let resumed = try makeTrainer(c)
        let warning = try XCTUnwrap(try resumed.loadCheckpoint(from: ckpt), "other arithmetic must warn")
        XCTAssert(warning.contains("was written with \(elsewhere), and this process has \(Kernels.arithmetic)"), warning)
        XCTAssert(warning.hasSuffix("will differ in the last bits from an uninterrupted run's"), warning)
        XCTAssertEqual(resumed.params.storage.array, t.params.storage.array, "the state is restored all the same")

        // Checkpoints of builds that did not record the C library: compared on what they name.
        let withoutLibm = String(Kernels.arithmetic.dropLast("; \(cLibrary) libm".count))
        try H5File.open(ckpt.path, writable: true).setAttribute("arithmetic", withoutLibm)
        XCTAssertNil(try makeTrainer(c).loadCheckpoint(from: ckpt), withoutLibm)
        XCTAssertFalse(Kernels.sameArithmetic(recorded: elsewhere), "an old description that names other kernels")
        XCTAssertFalse(Kernels.sameArithmetic(recorded: withoutLibm + "; glibc 2.31 libm",
                                              current: withoutLibm + "; glibc 2.36 libm"), "another C library")
    }

    /// A tiny run's trainer after one step, and its checkpoint then.
    func checkpointAfterOneStep() throws -> (RunConfig, Trainer, URL) {
        let c = tinyConfig(sequences: 512)
        let t = try makeTrainer(c)
        _ = try t.step()
        let ckpt = dir.appendingPathComponent("c.h5")
        try t.saveCheckpoint(to: ckpt)
        return (c, t, ckpt)
    }

    func testCorruptOrForeignCheckpointIsRefused() throws {
        let (c, t, ckpt) = try checkpointAfterOneStep()
        func loadError(_ config: RunConfig, _ url: URL) -> String {
            do { try makeTrainer(config).loadCheckpoint(from: url); return "loaded" } catch { return "\(error)" }
        }
        XCTAssertEqual(loadError(c, ckpt), "loaded")

        // Cut short.
        let truncated = dir.appendingPathComponent("t.h5")
        let bytes = try Data(contentsOf: ckpt)
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        XCTAssert(loadError(c, truncated).contains("unusable"), loadError(c, truncated))

        // One parameter byte flipped in the middle of the file's raw data.
        let flipped = dir.appendingPathComponent("f.h5")
        var altered = bytes
        let params = t.params.values(.unembedWeight)
        let needle = params.withUnsafeBytes { Data($0.prefix(16)) }
        let at = altered.range(of: needle)!.lowerBound + 4
        altered[at] ^= 0x40
        try altered.write(to: flipped)
        XCTAssert(loadError(c, flipped).contains("checksum mismatch"), loadError(c, flipped))

        // Another run's checkpoint.
        var other = c
        other.seed = 99
        XCTAssert(loadError(other, ckpt).contains("fields differ: seed"), loadError(other, ckpt))
    }

    func testNaNLossStopsTheRunNamingTheStep() throws {
        let t = try makeTrainer(tinyConfig())
        _ = try t.step()
        _ = try t.step()
        t.params[.unembedBias][0] = .nan
        XCTAssertThrowsError(try t.step()) { error in
            XCTAssertEqual("\(error)".contains("at step 3"), true, "\(error)")
        }
    }

    func testTraceHoldsOneFullStep() throws {
        let c = tinyConfig()
        let t = try makeTrainer(c)
        let path = dir.appendingPathComponent("trace.h5").path
        let recorder = try TraceRecorder(path: path)
        let loss = try t.step(trace: recorder)
        try recorder.finish()
        let file = try H5File.open(path)
        let stored: [Double] = try file.read("loss")
        XCTAssertEqual(stored, [loss])
        XCTAssertEqual(try file.dataset("batch/exemplars").shape, [16, 3, 16])
        XCTAssertEqual(try file.dataset("logits").shape, [16, 8])
        for tensor in t.params.layout.tensors {
            for group in ["params_before", "grads", "params_after"] {
                XCTAssertEqual(try file.dataset("\(group)/\(tensor.name)").shape, tensor.shape(t.config.model))
            }
        }
        let after: [Float] = try file.read("params_after/unembedding/weight")
        XCTAssertEqual(after, t.params.values(.unembedWeight))
        let before: [Float] = try file.read("params_before/unembedding/weight")
        XCTAssertNotEqual(before, after)
    }

    func testInvalidConfigsNameTheField() {
        func problems(_ edit: (inout RunConfig) -> Void) -> String {
            var c = tinyConfig()
            edit(&c)
            return c.problems().map(\.description).joined(separator: " | ")
        }
        XCTAssert(problems { $0.classes = 1 }.contains("classes: must be at least 2"))
        XCTAssert(problems { $0.heads = 3 }.contains("model.heads: 3 heads must divide the width (16)"))
        XCTAssert(problems { $0.adam.learningRate = .nan }.contains("training.learning_rate: must be a positive finite number"))
        XCTAssert(problems { $0.adam.learningRate = -1 }.contains("training.learning_rate: must be a positive finite number"))
        XCTAssert(problems { $0.sequences = 0 }.contains("training.sequences: must be a positive number"))
        XCTAssert(problems { $0.sequences = 100 }.contains("training.sequences: 100 is not a multiple of the batch size (16)"))
        XCTAssert(problems { $0.classes = 9 }.contains("classes: 9 exceeds the 8 classes"))
        XCTAssert(problems { $0.exemplars = 5 }.contains("exemplars: 5 exceeds the 4 exemplars"))
        XCTAssertEqual(problems { _ in }, "")
    }

    /// The 12-layer setting: training burstiness 3 of 8 pairs, the icl and
    /// flip sets with burstiness 4 (`evaluation.burstiness`), the others the run's.
    func testEvaluatorSetsDrawWithTheirBurstiness() throws {
        var c = RunConfig(data: .synthetic(SyntheticData(classes: 40, exemplars: 4, dim: 8, noise: 0.1, seed: 2)),
                          classes: 40, exemplars: 4, variant: .bursty, seed: 1, sequences: 64, evalInterval: 64, evalClasses: 40, evalExemplars: 4)
        c.batch = 16; c.evalSequences = 50; c.width = 16; c.heads = 2; c.pairs = 8; c.burstiness = 3; c.evalBurstiness = 4
        let t = try makeTrainer(c)
        func queryClassCount(_ e: Evaluator) -> Set<Int> {
            let set: Batch = t.evalSets[e]!
            var counts = Set<Int>()
            for b in 0..<set.size {
                let q: Int = set.row(b, 8) / 4
                counts.insert((0..<8).filter { (i: Int) -> Bool in set.row(b, i) / 4 == q }.count)
            }
            return counts
        }
        XCTAssertEqual(queryClassCount(.train), [3])
        XCTAssertEqual(queryClassCount(.icl), [4])
        XCTAssertEqual(queryClassCount(.flip), [4])
        XCTAssertEqual(queryClassCount(.ciwl), [0])
        c.evalBurstiness = 5
        XCTAssert(c.problems().contains(ConfigProblem("evaluation.burstiness", "5 must be 1, or at most half the context pairs (8)")))
    }
}

extension History {
    /// Every stored number's bits (NaN compares equal to itself here).
    var bitPatterns: [UInt64] {
        records.flatMap { r in
            [UInt64(r.sequences), r.trainLoss.bitPattern] + (r.accuracy + r.inContextAccuracy + r.loss).map(\.bitPattern)
        }
    }

}
