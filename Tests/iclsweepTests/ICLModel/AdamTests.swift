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
}
