
/// Adam as optax applies it: `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
/// `p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`; no weight decay.
public struct AdamSettings: Codable, Equatable {
    /// The paper's learning rate (1e-5), the default of `training.learning_rate`.
    public static let paperLearningRate = 1e-5
    public var learningRate: Double = AdamSettings.paperLearningRate
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    /// Decoupled weight decay (AdamW): before each update every parameter is
    /// multiplied by `1 - learningRate * weightDecay`. nil (the paper's plain
    /// Adam) leaves the stored config, and so existing checkpoints, as they were.
    public var weightDecay: Double?
    /// Updates over which the learning rate rises linearly: update `t`
    /// (from 1) uses `learningRate * min(1, t / warmupSteps)`, as the
    /// authors' `--warmup_steps` (their `warmup_decay` optimiser starts at
    /// 1e-5 and adds a decay and gradient clipping). nil: constant, the
    /// paper's main runs (and stored configs as they were).
    public var warmupSteps: Int?
    /// The update at which the learning rate, after the warm-up, has fallen
    /// to 0 along a half cosine: update `t` in `W...D` uses
    /// `learningRate * (1 + cos(pi (t - W) / (D - W))) / 2`, and 0 after `D`,
    /// as the authors' `--optimizer cosine --decay_steps D` (optax's
    /// `warmup_cosine_decay_schedule`, whose `decay_steps` count the warm-up
    /// too). nil: no decay, the paper's runs (and stored configs as they were).
    public var decaySteps: Int?
    /// The learning rate of update `step` (from 1).
    public func learningRate(atStep step: Int) -> Double {
        let w = max(warmupSteps ?? 0, 0)
        if w > 0 && step < w { return learningRate * Double(step) / Double(w) }
        guard let d = decaySteps, d > w else { return learningRate }
        if step >= d { return 0 }
        return learningRate * (1 + cos(Double.pi * Double(step - w) / Double(d - w))) / 2
    }
    public init(learningRate: Double = AdamSettings.paperLearningRate) { self.learningRate = learningRate }
}

package final class Adam<T: ModelScalar> {
    let settings: AdamSettings
    package let m: ParameterSet<T>
    package let v: ParameterSet<T>
    /// Updates applied so far.
    package var step: Int = 0
    /// The parts of the buffer it updates: all of it, or what is not frozen.
    package let trainable: [Range<Int>]

    package init(_ layout: ParameterLayout, settings: AdamSettings, frozen: Set<Tensor> = []) {
        self.settings = settings
        m = ParameterSet(layout)
        v = ParameterSet(layout)
        trainable = layout.trainableRanges(frozen: frozen)
    }

    /// One update of every trainable parameter from `grads`, which it zeroes
    /// as it reads them so the next backward can accumulate (one pass over
    /// memory, not two). Frozen parameters keep their values (and their
    /// moments stay 0); their gradients are zeroed too. With `part`, only the
    /// parameters there (a rank's share of a run on several ranks): each
    /// element's update depends on that element alone, so the shares give
    /// the bits of one whole update.
    package func update(_ params: ParameterSet<T>, _ grads: ParameterSet<T>, within part: Range<Int>? = nil) {
        update(params, grads, within: [part ?? 0..<params.storage.count])
    }

    /// One update (one step of the moments' bias correction) of the
    /// parameters in `parts`: several ranges of the buffer, as one rank's
    /// share of a run on several ranks.
    package func update(_ params: ParameterSet<T>, _ grads: ParameterSet<T>, within parts: [Range<Int>]) {
        step += 1
        for part in parts where !part.isEmpty { update(params, grads, part: part) }
    }

    private func update(_ params: ParameterSet<T>, _ grads: ParameterSet<T>, part: Range<Int>) {
        let c = AdamCoefficients<T>(settings, step: step)
        let p = params.storage.pointer, g = grads.storage.pointer, mp = m.storage.pointer, vp = v.storage.pointer
        var frozenFrom = part.lowerBound
        for whole in trainable where whole.overlaps(part) {
            let r = whole.clamped(to: part)
            if r.lowerBound > frozenFrom { (g + frozenFrom).update(repeating: 0, count: r.lowerBound - frozenFrom) }
            frozenFrom = r.upperBound
            if let wd = settings.weightDecay, wd > 0 {
                let keep = T(1 - settings.learningRate(atStep: step) * wd)
                for i in r { p[i] *= keep }
            }
            if T.self == Float.self {
                let o = r.lowerBound
                Kernels.adam(p: Kernels.f(p + o), g: Kernels.f(g + o), m: Kernels.f(mp + o), v: Kernels.f(vp + o),
                             count: r.count, AdamCoefficients<Float>(settings, step: step))
            } else {
                adamScalar(p: p, g: g, m: mp, v: vp, range: r, c)
            }
        }
        if part.upperBound > frozenFrom { (g + frozenFrom).update(repeating: 0, count: part.upperBound - frozenFrom) }
    }
}

/// The per-step constants of the update, in the model's number type.
package struct AdamCoefficients<T: ModelScalar> {
    let b1, b2, a1, a2, lr, eps, invBc1, invBc2: T
    package init(_ s: AdamSettings, step: Int) {
        b1 = T(s.beta1); b2 = T(s.beta2); a1 = T(1 - s.beta1); a2 = T(1 - s.beta2)
        lr = T(s.learningRate(atStep: step)); eps = T(s.eps)
        invBc1 = 1 / T(1 - pow(s.beta1, Double(step)))
        invBc2 = T(1 / (1 - pow(s.beta2, Double(step))))
    }
}

/// The update of `range`, one element at a time; zeroes the gradients.
@inline(__always)
package func adamScalar<T: ModelScalar>(p: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<T>, m: UnsafeMutablePointer<T>,
                                v: UnsafeMutablePointer<T>, range: Range<Int>, _ c: AdamCoefficients<T>) {
    for i in range {
        let gi = g[i]
        let mi = c.b1 * m[i] + c.a1 * gi
        let vi = c.b2 * v[i] + c.a2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= c.lr * (mi * c.invBc1) / ((vi * c.invBc2).squareRoot() + c.eps)
        g[i] = 0
    }
}

import Foundation
