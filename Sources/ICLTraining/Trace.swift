import Foundation
import ICLSupport
import ICLModel

/// Records one training step in full for an independent implementation to
/// check: parameters before, the batch, query logits, loss, every gradient
/// and the parameters after the Adam update. Layout: docs/model.md, "Trace format".
public final class TraceRecorder {
    let file: H5File

    public init(path: String) throws { file = try H5File.create(path) }

    func before(_ trainer: Trainer) {
        record {
            let c = trainer.config, b = trainer.batch, n = c.pairs, dim = trainer.table.dim
            try file.setAttribute("config", c.json)
            try file.setAttribute("step", String(trainer.adam.step + 1))
            try writeSet(trainer.params, group: "params_before")
            var x = [Float](); x.reserveCapacity(b.rows.count * dim)
            for r in b.rows { x += UnsafeBufferPointer(start: trainer.table.pointer + Int(r) * dim, count: dim) }
            try file.write("batch/exemplars", x, shape: [b.size, n + 1, dim])
            try file.write("batch/labels", b.labels, shape: [b.size, n])
            try file.write("batch/targets", b.targets, shape: [b.size])
        }
    }

    func afterBackward(_ trainer: Trainer, loss: Double) {
        record {
            let ws = trainer.workspace, B = trainer.batch.size, C = trainer.model.config.outputs
            try file.write("logits", Array(UnsafeBufferPointer(start: ws.logits.pointer, count: B * C)), shape: [B, C])
            try file.write("loss", [loss], shape: [1])
            try writeSet(trainer.grads, group: "grads")
        }
    }

    func afterUpdate(_ trainer: Trainer) {
        record {
            try writeSet(trainer.params, group: "params_after")
            try file.flush()
        }
    }

    /// The first error met while recording, reported by `finish`.
    private var failure: Error?
    private func record(_ body: () throws -> Void) {
        guard failure == nil else { return }
        do { try body() } catch { failure = error }
    }

    /// Throws the first recording error, if any.
    public func finish() throws { if let failure { throw failure } }

    private func writeSet(_ set: ParameterSet<Float>, group: String) throws {
        for t in set.layout.tensors {
            try file.write("\(group)/\(t.name)", set.values(t), shape: t.shape(set.layout.config))
        }
    }
}
