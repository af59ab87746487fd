import ICLData

// MARK: - The model in Float, compiled here

// The trainer calls the model from another target, where generic code would
// run unspecialized (measured: about ten times slower). These Float entry
// points are compiled in this target: the generic model specialized for
// Float, under this target's -Ounchecked. The generic code itself serves the
// Double gradient checks.

extension Transformer where T == Float {
    /// `forward` in Float.
    @discardableResult
    package func forwardFloat(_ p: ParameterSet<Float>, _ ws: Workspace<Float>, batch: Batch, table: FeatureTable,
                              gradient: Bool = false, outOf total: Int? = nil,
                              times: UnsafeMutablePointer<StepTimes>? = nil) -> Double {
        forward(p, ws, batch: batch, table: table, gradient: gradient, outOf: total, times: times)
    }

    /// `backward` in Float.
    package func backwardFloat(_ p: ParameterSet<Float>, _ g: ParameterSet<Float>, _ ws: Workspace<Float>, batch: Batch,
                               tables: Bool = true, times: UnsafeMutablePointer<StepTimes>? = nil) {
        backward(p, g, ws, batch: batch, tables: tables, times: times)
    }
}

extension Adam where T == Float {
    /// `update` in Float.
    package func updateFloat(_ params: ParameterSet<Float>, _ grads: ParameterSet<Float>, within part: Range<Int>? = nil) {
        update(params, grads, within: part)
    }

    /// `update(within: parts)` in Float.
    package func updateFloat(_ params: ParameterSet<Float>, _ grads: ParameterSet<Float>, within parts: [Range<Int>]) {
        update(params, grads, within: parts)
    }
}

extension ParameterSet where T == Float {
    /// `initialize` in Float.
    package func initializeFloat(seed: UInt64) { initialize(seed: seed) }
}
