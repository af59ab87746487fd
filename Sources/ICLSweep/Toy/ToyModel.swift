import Foundation
import ICLData
import ICLTraining

/// The paper's minimal model of two mechanisms that compete and cooperate
/// (Singh et al. 2025, Section 6, Fig. 5; the authors'
/// `coopetition_model_solver.py`), integrated by plain gradient descent.
///
/// Two rank-1 tensors of size `dim`^3 are learned from vectors:
/// - mechanism 1 (ICL):  `a ⊗ b ⊗ c`, fit to the target `a* ⊗ b* ⊗ c*`;
/// - mechanism 2 (CIWL): `d ⊗ b ⊗ c`, fit to the target `d* ⊗ b* ⊗ c*`.
/// They share `b` and `c`: what one learns there helps the other
/// (cooperation). With `Lk = 0.5 · mean((target_k - learned_k)^2)` the loss is
///
///     loss = (L1 + mu1) · (L2 + mu2)  +  alpha · 0.5 · mean((a ⊗ d)^2)
///
/// The product couples the two fits (competition: once one mechanism has
/// brought its loss down, the other's gradient is scaled down by it), and
/// the last term charges for using both at once. Initial and target vectors
/// are standard normal (initial ones times `initScale`).
public struct ToyModel {
    public struct Parameters: Codable, Equatable {
        /// Length of every vector (the authors' examples: 10).
        public var dim = 10
        /// Floors of the two losses in the product: with `mu2 < mu1`, using
        /// mechanism 2 alone ends lower, so it wins in the end.
        public var mu1 = 0.05
        public var mu2 = 0.01
        /// Weight of the cost of using both mechanisms.
        public var alpha = 1.0
        public var learningRate = 1.0
        public var steps = 40_000
        /// Scale of the initial vectors (targets are standard normal).
        public var initScale = 0.1
        public var seed: UInt64 = 0
        /// Steps between recorded points.
        public var recordEvery = 200
        public init() {}

        /// Every parameter out of range, each naming its option.
        public func problems() -> [String] {
            var out: [String] = []
            if dim < 1 { out.append("dim must be a positive number (got \(dim))") }
            if !(mu1.isFinite && mu1 >= 0) { out.append("mu1 must be a finite number >= 0 (got \(mu1))") }
            if !(mu2.isFinite && mu2 >= 0) { out.append("mu2 must be a finite number >= 0 (got \(mu2))") }
            if !(alpha.isFinite && alpha >= 0) { out.append("alpha must be a finite number >= 0 (got \(alpha))") }
            if !(learningRate.isFinite && learningRate > 0) { out.append("learning-rate must be a positive finite number (got \(learningRate))") }
            if steps < 1 { out.append("steps must be a positive number (got \(steps))") }
            if !(initScale.isFinite && initScale > 0) { out.append("init-scale must be a positive finite number (got \(initScale))") }
            if recordEvery < 1 { out.append("record-every must be a positive number (got \(recordEvery))") }
            return out
        }
    }

    /// One recorded point of the integration.
    public struct Point: Equatable {
        public var step: Int
        public var loss: Double
        public var l1: Double
        public var l2: Double
        public var cost: Double
        /// Norms of each mechanism's own vector: how much each is used.
        public var normA: Double
        public var normD: Double
        /// Fraction of each target explained: 1 - Lk / Lk at a zero tensor.
        public var explained1: Double
        public var explained2: Double
    }

    public let parameters: Parameters
    public internal(set) var a, b, c, d: [Double]
    let targetA, targetB, targetC, targetD: [Double]

    public init(_ p: Parameters) {
        parameters = p
        var rng = RNG(seed: p.seed, stream: 0x70F)
        func normal(_ scale: Double) -> [Double] { (0..<p.dim).map { _ in scale * rng.normal() } }
        targetA = normal(1); targetB = normal(1); targetC = normal(1); targetD = normal(1)
        a = normal(p.initScale); b = normal(p.initScale); c = normal(p.initScale); d = normal(p.initScale)
    }

    /// `0.5 · mean((x ⊗ y ⊗ z - X ⊗ Y ⊗ Z)^2)` and its gradients in x, y, z.
    /// With `u = x ⊗ y ⊗ z` and `t` the target, `mean(u · t)` factorises:
    /// `(x·X)(y·Y)(z·Z) / n^3`, and `mean(u^2) = |x|^2 |y|^2 |z|^2 / n^3`.
    static func rankOneLoss(_ x: [Double], _ y: [Double], _ z: [Double], _ X: [Double], _ Y: [Double], _ Z: [Double])
        -> (loss: Double, dx: [Double], dy: [Double], dz: [Double]) {
        func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
        let n3 = pow(Double(x.count), 3)
        let xx = dot(x, x), yy = dot(y, y), zz = dot(z, z), xX = dot(x, X), yY = dot(y, Y), zZ = dot(z, Z)
        let XX = dot(X, X), YY = dot(Y, Y), ZZ = dot(Z, Z)
        let loss = 0.5 * (xx * yy * zz - 2 * xX * yY * zZ + XX * YY * ZZ) / n3
        // d/dx of 0.5 mean((u - t)^2) = (x |y|^2 |z|^2 - X (y·Y)(z·Z)) / n^3, and likewise
        let dx = zip(x, X).map { ($0 * yy * zz - $1 * yY * zZ) / n3 }
        let dy = zip(y, Y).map { ($0 * xx * zz - $1 * xX * zZ) / n3 }
        let dz = zip(z, Z).map { ($0 * xx * yy - $1 * xX * yY) / n3 }
        return (loss, dx, dy, dz)
    }

    /// The loss and every term at the current vectors, with the gradients.
    func evaluate() -> (point: Point, da: [Double], db: [Double], dc: [Double], dd: [Double]) {
        let p = parameters, n = Double(p.dim)
        let m1 = ToyModel.rankOneLoss(a, b, c, targetA, targetB, targetC)
        let m2 = ToyModel.rankOneLoss(d, b, c, targetD, targetB, targetC)
        let aa = a.reduce(0) { $0 + $1 * $1 }, dd2 = d.reduce(0) { $0 + $1 * $1 }
        let cost = 0.5 * aa * dd2 / (n * n)
        let loss = (m1.loss + p.mu1) * (m2.loss + p.mu2) + p.alpha * cost
        let w1 = m2.loss + p.mu2, w2 = m1.loss + p.mu1
        let da = zip(m1.dx, a).map { w1 * $0 + p.alpha * $1 * dd2 / (n * n) }
        let dd = zip(m2.dx, d).map { w2 * $0 + p.alpha * $1 * aa / (n * n) }
        let db = zip(m1.dy, m2.dy).map { w1 * $0 + w2 * $1 }
        let dc = zip(m1.dz, m2.dz).map { w1 * $0 + w2 * $1 }
        func zeroLoss(_ X: [Double], _ Y: [Double], _ Z: [Double]) -> Double {
            ToyModel.rankOneLoss([Double](repeating: 0, count: X.count), Y, Z, X, Y, Z).loss
        }
        let point = Point(step: 0, loss: loss, l1: m1.loss, l2: m2.loss, cost: cost,
                          normA: aa.squareRoot(), normD: dd2.squareRoot(),
                          explained1: 1 - m1.loss / zeroLoss(targetA, targetB, targetC),
                          explained2: 1 - m2.loss / zeroLoss(targetD, targetB, targetC))
        return (point, da, db, dc, dd)
    }

    /// Integrates `steps` gradient steps; returns the recorded points
    /// (step 0, every `recordEvery`, and the last).
    /// - Throws: `TrainingError.diverged` when the loss stops being finite.
    public mutating func run() throws -> [Point] {
        let p = parameters
        var out: [Point] = []
        for step in 0...p.steps {
            let e = evaluate()
            guard e.point.loss.isFinite else { throw TrainingError.diverged(step: step, loss: e.point.loss) }
            if step % p.recordEvery == 0 || step == p.steps {
                var point = e.point
                point.step = step
                out.append(point)
            }
            if step == p.steps { break }
            for i in 0..<p.dim {
                a[i] -= p.learningRate * e.da[i]; b[i] -= p.learningRate * e.db[i]
                c[i] -= p.learningRate * e.dc[i]; d[i] -= p.learningRate * e.dd[i]
            }
        }
        return out
    }

    /// The loss at the current vectors (for gradient checks).
    public var loss: Double { evaluate().point.loss }
}
