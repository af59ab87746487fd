import Foundation
import ICLSupport
import ICLData
import ICLModel

/// A run's complete state at a step boundary: parameters (one dataset per
/// named tensor), Adam moments and step, the sampler's RNG, the evaluation
/// history, the run's config and a checksum over all of it.
///
/// Written to `PATH.tmp` and renamed over `PATH`, so a crash mid-write
/// leaves the previous checkpoint in place; a file that was cut short or
/// altered fails the checksum and is refused.
extension Trainer {
    /// Writes the run's state to `url` (with `unlessPresent`, only when no
    /// file is there). In a gang every member calls this at the same step:
    /// the sliced Adam moments are gathered, and the leader writes.
    public func saveCheckpoint(to url: URL, unlessPresent: Bool = false) throws {
        if let sharded { try sharded.gatherMoments(adam) }
        guard leads, !(unlessPresent && FileManager.default.fileExists(atPath: url.path)) else { return }
        let tmp = url.path + ".tmp"
        var sum = Checksum()
        do {
            var complete = false
            defer { if !complete { unlink(tmp) } }  // a failed write frees its space at once
            let file = try H5File.create(tmp)
            try file.setAttribute("format", "iclsweep-checkpoint-1")
            try file.setAttribute("config", config.json)
            try file.setAttribute("arithmetic", Kernels.arithmetic)  // not in the checksum: a note, not state
            sum.add(config.json)
            for t in params.layout.tensors {
                let shape = t.shape(params.layout.config)
                for (group, set) in [("params", params), ("adam/m", adam.m), ("adam/v", adam.v)] {
                    let values = set.values(t)
                    try file.write("\(group)/\(t.name)", values, shape: shape)
                    sum.add(values)
                }
            }
            let state: [Int64] = [Int64(adam.step), Int64(lossCount)]
            try file.write("state/step_and_loss_count", state, shape: [2])
            try file.write("state/loss_sum", [lossSum], shape: [1])
            try file.write("state/rng", rng.words, shape: [4])
            sum.add(state); sum.add([lossSum]); sum.add(rng.words)
            try history.write(to: file, group: "history")
            for array in [history.trainLoss, history.accuracy, history.inContextAccuracy, history.loss] { sum.add(array) }
            sum.add(history.sequences)
            if history.mechanism != nil { sum.add(history.attention); sum.add(history.induction) }  // absent before the measures
            try file.setAttribute("checksum", sum.hex)
            try file.flush()
            complete = true
        }
        // Make the bytes durable before the rename makes them current (on a
        // network file system a full disk may only show here).
        do {
            try FileSystem.sync(tmp)
            try FileSystem.rename(tmp, to: url.path)
        } catch {
            unlink(tmp)
            throw TrainingError.checkpoint("checkpoint: \(describe(error))")
        }
    }

    /// Restores the state saved by `saveCheckpoint`. The checkpoint must
    /// belong to this run's config and pass its checksum.
    /// - Returns: a warning when the checkpoint was written with other
    ///   arithmetic than this process's (`Kernels.arithmetic`), so that the
    ///   run goes on with other last bits than an uninterrupted run.
    @discardableResult
    public func loadCheckpoint(from url: URL) throws -> String? {
        let c = try CheckpointContents.read(url)
        guard c.config == config else {
            throw c.unusable("it belongs to another run (fields differ: \(c.config.differingFields(from: config).joined(separator: ", ")))")
        }
        // All checks passed: only now touch the trainer's state.
        try setParameters { for t in params.layout.tensors { params.set(t, c.params[t]!) } }
        for t in params.layout.tensors {
            adam.m.set(t, c.m[t]!)
            adam.v.set(t, c.v[t]!)
        }
        adam.step = c.step
        lossCount = c.lossCount
        lossSum = c.lossSum
        rng = RNG(state: c.rng)
        history = c.history
        guard let before = c.arithmetic, !Kernels.sameArithmetic(recorded: before) else { return nil }
        return "checkpoint \(c.path) was written with \(before), and this process has \(Kernels.arithmetic): "
            + "the run goes on, but its results will differ in the last bits from an uninterrupted run's"
    }
}

/// Everything a checkpoint holds, read whole and checked against its
/// checksum before anything uses it.
public struct CheckpointContents {
    public let path: String
    public let config: RunConfig
    public let layout: ParameterLayout
    public let params: [Tensor: [Float]]
    let m: [Tensor: [Float]]
    let v: [Tensor: [Float]]
    let step: Int
    let lossCount: Int
    let lossSum: Double
    let rng: [UInt64]
    public let history: History
    /// `Kernels.arithmetic` of the process that wrote it (nil: written before it was recorded).
    public let arithmetic: String?

    /// The sequences the checkpointed run had trained.
    public var sequences: Int { step * config.batch }

    func unusable(_ why: String) -> TrainingError { .checkpoint("checkpoint \(path) is unusable: \(why)") }

    public static func read(_ url: URL) throws -> CheckpointContents {
        let path = url.path
        func fail(_ why: String) -> TrainingError { .checkpoint("checkpoint \(path) is unusable: \(why)") }
        let file: H5File
        do { file = try H5File.open(path) } catch { throw fail("cannot open (\(error)); it may be truncated") }
        do {
            guard try file.attribute("format") == "iclsweep-checkpoint-1" else { throw fail("unknown format") }
            let storedJSON = try file.attribute("config")
            let config = try RunConfig.fromJSON(storedJSON)
            var sum = Checksum()
            sum.add(storedJSON)
            // the tensors' shapes follow from the stored config; the input size from the stored weights
            let dim = try file.dataset("params/\(Tensor.exemplarWeight.name)").shape[0]
            let layout = ParameterLayout(config.model(inputDim: dim))
            var sets: [[Tensor: [Float]]] = [[:], [:], [:]]
            for t in layout.tensors {
                for (i, group) in ["params", "adam/m", "adam/v"].enumerated() {
                    let values: [Float] = try file.read("\(group)/\(t.name)")
                    guard values.count == layout.size(t) else { throw fail("\(group)/\(t.name) has the wrong size") }
                    sum.add(values)
                    sets[i][t] = values
                }
            }
            let state: [Int64] = try file.read("state/step_and_loss_count")
            let lossSum: [Double] = try file.read("state/loss_sum")
            let words: [UInt64] = try file.read("state/rng")
            guard state.count == 2, lossSum.count == 1, words.count == 4 else { throw fail("state has the wrong size") }
            sum.add(state); sum.add(lossSum); sum.add(words)
            let history = try History.read(from: file, group: "history")
            for array in [history.trainLoss, history.accuracy, history.inContextAccuracy, history.loss] { sum.add(array) }
            sum.add(history.sequences)
            if history.mechanism != nil { sum.add(history.attention); sum.add(history.induction) }  // absent before the measures
            guard try file.attribute("checksum") == sum.hex else { throw fail("checksum mismatch (corrupt file)") }
            let arithmetic = file.hasAttribute("arithmetic") ? try file.attribute("arithmetic") : nil
            return CheckpointContents(path: path, config: config, layout: layout, params: sets[0], m: sets[1], v: sets[2],
                                      step: Int(state[0]), lossCount: Int(state[1]), lossSum: lossSum[0], rng: words,
                                      history: history, arithmetic: arithmetic)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw fail("\(error)")
        }
    }
}
