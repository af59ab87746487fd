/// Adam as optax applies it: `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
/// `p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`; no weight decay.
public struct AdamSettings: Codable, Equatable {
    public var learningRate: Double = 1e-5
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    public init(learningRate: Double = 1e-5) { self.learningRate = learningRate }
}

final class Adam<T: ModelScalar> {
    let settings: AdamSettings
    let m: ParameterSet<T>
    let v: ParameterSet<T>
    /// Updates applied so far.
    var step: Int = 0

    init(_ layout: ParameterLayout, settings: AdamSettings) {
        self.settings = settings
        m = ParameterSet(layout)
        v = ParameterSet(layout)
    }

    /// One update of every parameter from `grads`, which it zeroes as it reads
    /// them so the next backward can accumulate (one pass over memory, not two).
    func update(_ params: ParameterSet<T>, _ grads: ParameterSet<T>) {
        step += 1
        let s = settings
        let b1 = T(s.beta1), b2 = T(s.beta2), a1 = T(1 - s.beta1), a2 = T(1 - s.beta2), eps = T(s.eps)
        let lr = T(s.learningRate)
        let bc1 = T(1 - pow(s.beta1, Double(step)))
        let invBc1 = 1 / bc1
        let invBc2 = T(1 / (1 - pow(s.beta2, Double(step))))
        let p = params.storage.pointer, g = grads.storage.pointer, mp = m.storage.pointer, vp = v.storage.pointer
        if T.self == Float.self {
            func f(_ x: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
                UnsafeMutableRawPointer(x).assumingMemoryBound(to: Float.self)
            }
            Kernels.adam(p: f(p), g: f(g), m: f(mp), v: f(vp), count: params.storage.count,
                         b1: Float(b1), b2: Float(b2), a1: Float(a1), a2: Float(a2), lr: Float(lr),
                         invBc1: Float(invBc1), invBc2: Float(invBc2), eps: Float(eps))
            return
        }
        for i in 0..<params.storage.count {
            let gi = g[i]
            let mi = b1 * mp[i] + a1 * gi
            let vi = b2 * vp[i] + a2 * gi * gi
            mp[i] = mi
            vp[i] = vi
            p[i] -= lr * (mi * invBc1) / ((vi * invBc2).squareRoot() + eps)
            g[i] = 0
        }
    }
}

import Foundation
