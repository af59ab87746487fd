import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLTraining

/// The optimizer's weight decay: off, it changes nothing (not even the stored
/// config); on, it shrinks every parameter by 1 - lr * wd before the Adam step.
final class AdamTests: XCTestCase {
    let config = ModelConfig(inputDim: 6, labels: 5, width: 8, heads: 2, layers: 2, pairs: 2, maxPositions: 6)

    func testWeightDecayShrinksEveryParameterBeforeTheStep() {
        let layout = ParameterLayout(config)
        let params = ParameterSet<Float>(layout), grads = ParameterSet<Float>(layout)
        params.initializeFloat(seed: 4)
        let before = Array(UnsafeBufferPointer(start: params.storage.pointer, count: layout.count))
        var settings = AdamSettings(learningRate: 1e-2)
        settings.weightDecay = 0.5
        // zero gradients: Adam itself moves nothing, so only the decay acts
        Adam<Float>(layout, settings: settings).updateFloat(params, grads)
        let keep = Float(1 - 1e-2 * 0.5)
        for i in 0..<layout.count { XCTAssertEqual(params.storage.pointer[i], before[i] * keep, "parameter \(i)") }
        XCTAssert(before.contains { $0 != 0 && $0 * keep != $0 }, "the decay is visible")

        // and with no decay, nothing moves
        let plain = ParameterSet<Float>(layout)
        plain.initializeFloat(seed: 4)
        Adam<Float>(layout, settings: AdamSettings(learningRate: 1e-2)).updateFloat(plain, grads)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: plain.storage.pointer, count: layout.count)), before)
    }

    func testNoDecayLeavesTheStoredConfigAsItWas() throws {
        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 2, dim: 4, noise: 0.1, seed: 0)),
                          classes: 8, exemplars: 2, variant: .bursty, seed: 0, sequences: 64, evalInterval: 32, evalClasses: 8, evalExemplars: 2)
        XCTAssertFalse(c.json.contains("weightDecay"), "existing checkpoints' configs still match")
        c.adam.weightDecay = 0.1
        XCTAssert(c.json.contains("\"weightDecay\":0.1"), c.json)
        XCTAssertEqual(try RunConfig.fromJSON(c.json), c)
        c.adam.weightDecay = -1
        XCTAssert(c.problems().contains { $0.field == "training.weight_decay" && $0.message.hasPrefix("must be a finite number >= 0") }, "\(c.problems())")
    }

    /// Warm-up: update t uses lr * t / W until W, then lr; off, the stored
    /// config is as it was. With fresh moments Adam's first steps move each
    /// parameter by about the learning rate, so the warm-up's scale shows.
    func testWarmupRaisesTheLearningRateLinearly() throws {
        var settings = AdamSettings(learningRate: 1e-2)
        XCTAssertEqual(settings.learningRate(atStep: 1), 1e-2)
        settings.warmupSteps = 4
        XCTAssertEqual((1...6).map { settings.learningRate(atStep: $0) }, [0.25e-2, 0.5e-2, 0.75e-2, 1e-2, 1e-2, 1e-2])

        let layout = ParameterLayout(config)
        func firstStep(_ s: AdamSettings) -> [Float] {
            let params = ParameterSet<Float>(layout), grads = ParameterSet<Float>(layout)
            params.initializeFloat(seed: 4)
            let before = Array(UnsafeBufferPointer(start: params.storage.pointer, count: layout.count))
            for i in 0..<layout.count { grads.storage.pointer[i] = Float(i % 7) - 3 }
            Adam<Float>(layout, settings: s).updateFloat(params, grads)
            return (0..<layout.count).map { params.storage.pointer[$0] - before[$0] }
        }
        let warm = firstStep(settings), plain = firstStep(AdamSettings(learningRate: 1e-2))
        for i in 0..<layout.count where i % 7 != 3 {
            XCTAssertEqual(warm[i], plain[i] / 4, accuracy: 1e-6, "parameter \(i): a quarter of the full step")
        }

        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 2, dim: 4, noise: 0.1, seed: 0)),
                          classes: 8, exemplars: 2, variant: .bursty, seed: 0, sequences: 64, evalInterval: 32, evalClasses: 8, evalExemplars: 2)
        XCTAssertFalse(c.json.contains("warmupSteps"), "existing checkpoints' configs still match")
        c.adam.warmupSteps = 4000
        XCTAssertEqual(try RunConfig.fromJSON(c.json), c)
    }
}

extension AdamTests {
    /// Decay: after a warm-up of W, update t uses lr (1 + cos(pi (t-W)/(D-W))) / 2
    /// until D (half way: half the rate), then 0, as optax's
    /// warmup_cosine_decay_schedule; off, the stored config is as it was.
    func testDecayFallsAlongAHalfCosineAfterTheWarmup() throws {
        var s = AdamSettings(learningRate: 1e-2)
        s.warmupSteps = 4
        s.decaySteps = 12
        let lr = (1...14).map { s.learningRate(atStep: $0) }
        XCTAssertEqual(Array(lr[0..<4]), [0.25e-2, 0.5e-2, 0.75e-2, 1e-2], "the warm-up as before")
        XCTAssertEqual(lr[7], 0.5e-2, accuracy: 1e-15, "update 8, half way from 4 to 12: half the rate")
        XCTAssertEqual(lr[5], 1e-2 * (1 + cos(Double.pi / 4)) / 2, accuracy: 1e-15)
        XCTAssertEqual(Array(lr[11...]), [0, 0, 0], "0 from update D on")
        for i in 4..<11 { XCTAssertLessThan(lr[i + 1], lr[i], "falls at every update after the warm-up") }
        s.warmupSteps = nil
        XCTAssertEqual(s.learningRate(atStep: 1), 1e-2 * (1 + cos(Double.pi / 12)) / 2, accuracy: 1e-15, "no warm-up: the decay starts at 0")

        var c = RunConfig(data: .synthetic(SyntheticData(classes: 8, exemplars: 2, dim: 4, noise: 0.1, seed: 0)),
                          classes: 8, exemplars: 2, variant: .bursty, seed: 0, sequences: 64, evalInterval: 32, evalClasses: 8, evalExemplars: 2)
        XCTAssertFalse(c.json.contains("decaySteps"), "existing checkpoints' configs still match")
        c.adam.warmupSteps = 4000
        c.adam.decaySteps = 4000
        XCTAssert(c.problems().contains { $0.field == "training.decay_steps" && $0.message.contains("must exceed training.warmup_steps (4000)") },
                  "\(c.problems())")
        c.adam.decaySteps = 20000
        XCTAssert(c.problems().isEmpty, "\(c.problems())")
        XCTAssertEqual(try RunConfig.fromJSON(c.json), c)
    }
}

/// Adam on slices of the buffer (a gang's members each update one) gives
/// the bits of one update of the whole, frozen tensors included.
final class AdamSliceTests: XCTestCase {
    func testSlicesGiveTheWholeUpdate() {
        let config = ModelConfig(inputDim: 6, labels: 5, width: 8, heads: 2, layers: 2, pairs: 2, maxPositions: 6)
        let layout = ParameterLayout(config)
        func run(_ parts: [Range<Int>]?) -> [UInt32] {
            let params = ParameterSet<Float>(layout), grads = ParameterSet<Float>(layout)
            params.initializeFloat(seed: 4)
            var settings = AdamSettings(learningRate: 1e-2)
            settings.weightDecay = 0.1
            let adam = Adam<Float>(layout, settings: settings, frozen: [.qkv(0)])
            for step in 0..<3 {
                for i in 0..<layout.count { grads.storage.pointer[i] = Float(sin(Double(i * (step + 1)))) }
                if let parts {
                    for p in parts { adam.updateFloat(params, grads, within: p); adam.step -= 1 }
                    adam.step += 1
                } else {
                    adam.updateFloat(params, grads)
                }
            }
            XCTAssert(grads.storage.array.allSatisfy { $0 == 0 }, "every gradient is consumed")
            return params.storage.array.map(\.bitPattern) + adam.m.storage.array.map(\.bitPattern)
        }
        let n = layout.count
        let whole = run(nil)
        XCTAssertEqual(run([0..<n]), whole)
        XCTAssertEqual(run([0..<16, 16..<(n / 2), (n / 2)..<n]), whole)
        XCTAssertEqual(run([0..<7, 7..<n]), whole, "a cut that is not a multiple of the vector width")
    }

}
