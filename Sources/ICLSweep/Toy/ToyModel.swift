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
/// are standard normal (initial ones times `initScale`), as the authors'
/// `coopetition_model_solver.py`: plain gradient descent at learning rate 1,
/// up to 16,000 steps, stopping once the loss is below 1e-6.
public struct ToyModel {
    public struct Parameters: Codable, Equatable {
        /// Lengths of a, b, c, d. The authors' Figure 5: 20, 20, 20 and a
        /// longer d, 160 (the longer d makes the plateau and the late switch).
        public var dims = [20, 20, 20, 160]
        /// Floors of the two losses in the product: with `mu2 < mu1`, using
        /// mechanism 2 alone ends lower, so it wins in the end.
        public var mu1 = 0.1
        public var mu2 = 0.0
        /// Weight of the cost of using both mechanisms.
        public var alpha = 0.1
        public var learningRate = 1.0
        /// At most this many gradient steps.
        public var steps = 16_000
        /// The integration stops once the loss is below this.
        public var threshold = 1e-6
        /// Scale of the initial vectors (targets are standard normal).
        public var initScale = 1.0
        public var seed: UInt64 = 0
        /// Steps between recorded points.
        public var recordEvery = 10
        public init() {}

        /// Every parameter out of range, each naming its option.
        public func problems() -> [String] {
            var out: [String] = []
            if dims.count != 4 || dims.contains(where: { $0 < 1 }) {
                out.append("dims must be four positive lengths, of a, b, c and d (got \(dims.map(String.init).joined(separator: ",")))")
            }
            if !(mu1.isFinite && mu1 >= 0) { out.append("mu1 must be a finite number >= 0 (got \(mu1))") }
            if !(mu2.isFinite && mu2 >= 0) { out.append("mu2 must be a finite number >= 0 (got \(mu2))") }
            if !(alpha.isFinite && alpha >= 0) { out.append("alpha must be a finite number >= 0 (got \(alpha))") }
            if !(learningRate.isFinite && learningRate > 0) { out.append("learning-rate must be a positive finite number (got \(learningRate))") }
            if steps < 1 { out.append("steps must be a positive number (got \(steps))") }
            if !(threshold.isFinite && threshold >= 0) { out.append("threshold must be a finite number >= 0 (got \(threshold))") }
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
        func normal(_ n: Int, _ scale: Double) -> [Double] { (0..<n).map { _ in scale * rng.normal() } }
        let (na, nb, nc, nd) = (p.dims[0], p.dims[1], p.dims[2], p.dims[3])
        targetA = normal(na, 1); targetB = normal(nb, 1); targetC = normal(nc, 1); targetD = normal(nd, 1)
        a = normal(na, p.initScale); b = normal(nb, p.initScale); c = normal(nc, p.initScale); d = normal(nd, p.initScale)
    }

    /// `0.5 · mean((x ⊗ y ⊗ z - X ⊗ Y ⊗ Z)^2)` and its gradients in x, y, z.
    /// With `u = x ⊗ y ⊗ z` and `t` the target, `mean(u · t)` factorises:
    /// `(x·X)(y·Y)(z·Z) / n^3`, and `mean(u^2) = |x|^2 |y|^2 |z|^2 / n^3`
    /// (n^3: the tensor's size, the product of the three lengths).
    static func rankOneLoss(_ x: [Double], _ y: [Double], _ z: [Double], _ X: [Double], _ Y: [Double], _ Z: [Double])
        -> (loss: Double, dx: [Double], dy: [Double], dz: [Double]) {
        func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
        let n3 = Double(x.count) * Double(y.count) * Double(z.count)
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
        let p = parameters, ad = Double(a.count) * Double(d.count)  // the cost's mean is over (i, l)
        let m1 = ToyModel.rankOneLoss(a, b, c, targetA, targetB, targetC)
        let m2 = ToyModel.rankOneLoss(d, b, c, targetD, targetB, targetC)
        let aa = a.reduce(0) { $0 + $1 * $1 }, dd2 = d.reduce(0) { $0 + $1 * $1 }
        let cost = 0.5 * aa * dd2 / ad
        let loss = (m1.loss + p.mu1) * (m2.loss + p.mu2) + p.alpha * cost
        let w1 = m2.loss + p.mu2, w2 = m1.loss + p.mu1
        let da = zip(m1.dx, a).map { w1 * $0 + p.alpha * $1 * dd2 / ad }
        let dd = zip(m2.dx, d).map { w2 * $0 + p.alpha * $1 * aa / ad }
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

    /// Integrates up to `steps` gradient steps, stopping once the loss is
    /// below `threshold` (the authors' rule); returns the recorded points
    /// (step 0, every `recordEvery`, and the last).
    /// - Throws: `TrainingError.diverged` when the loss stops being finite.
    public mutating func run() throws -> [Point] {
        let p = parameters
        var out: [Point] = []
        for step in 0...p.steps {
            let e = evaluate()
            guard e.point.loss.isFinite else { throw TrainingError.diverged(step: step, loss: e.point.loss) }
            let last = step == p.steps || e.point.loss < p.threshold
            if step % p.recordEvery == 0 || last {
                var point = e.point
                point.step = step
                out.append(point)
            }
            if last { break }
            for i in a.indices { a[i] -= p.learningRate * e.da[i] }
            for i in b.indices { b[i] -= p.learningRate * e.db[i] }
            for i in c.indices { c[i] -= p.learningRate * e.dc[i] }
            for i in d.indices { d[i] -= p.learningRate * e.dd[i] }
        }
        return out
    }

    /// The paper's transient in a run's curve: L1 falls at least 10x below
    /// its plateau, then returns to at least half of it. The plateau is L1's
    /// highest value from step 50 (past the first descent from the random
    /// start) to its lowest point; nil when L1 never falls or never returns so.
    public struct Transient: Equatable {
        public var plateau: Double
        public var dipStep: Int
        public var dipL1: Double
        public var returnStep: Int
        /// L1 at the end of the run.
        public var finalL1: Double
    }

    public static func transient(_ points: [Point], plateauFrom: Int = 50) -> Transient? {
        guard let low = points.indices.filter({ points[$0].step >= plateauFrom }).min(by: { points[$0].l1 < points[$1].l1 }) else { return nil }
        guard let plateau = points[..<low].filter({ $0.step >= plateauFrom }).map(\.l1).max() else { return nil }
        guard points[low].l1 <= plateau / 10,
              let back = points[low...].first(where: { $0.l1 >= plateau / 2 }) else { return nil }
        return Transient(plateau: plateau, dipStep: points[low].step, dipL1: points[low].l1,
                         returnStep: back.step, finalL1: points.last!.l1)
    }

    /// The loss at the current vectors (for gradient checks).
    public var loss: Double { evaluate().point.loss }
}
