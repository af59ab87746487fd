import CHDF5
import Foundation
import ICLSupport

/// Exemplar vectors `[classes, exemplars, dim]`, row-major and contiguous:
/// the vector of exemplar `e` of class `c` is row `c * exemplars + e`. The
/// memory is the table's own, or (in a sweep) memory shared by every rank
/// of a node, which the table only reads.
public struct FeatureTable {
    public let classes: Int
    public let exemplars: Int
    public let dim: Int
    private let storage: Storage

    /// Owned memory, freed with the last copy of the table; or a view of memory owned elsewhere.
    private final class Storage {
        let base: UnsafeMutablePointer<Float>
        let owned: Bool
        init(base: UnsafeMutablePointer<Float>, owned: Bool) { self.base = base; self.owned = owned }
        deinit { if owned { base.deallocate() } }
    }

    /// A table in memory of its own, filled by `fill` (given the `count` floats to write).
    public init(classes: Int, exemplars: Int, dim: Int, fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        let base = UnsafeMutablePointer<Float>.allocate(capacity: classes * exemplars * dim)
        storage = Storage(base: base, owned: true)
        self.classes = classes
        self.exemplars = exemplars
        self.dim = dim
        try fill(base)
    }

    public init(classes: Int, exemplars: Int, dim: Int, values: [Float]) {
        precondition(values.count == classes * exemplars * dim)
        self.init(classes: classes, exemplars: exemplars, dim: dim) { $0.update(from: values, count: values.count) }
    }

    /// A read-only view of `count` floats that someone else owns and keeps alive.
    public init(classes: Int, exemplars: Int, dim: Int, viewing base: UnsafePointer<Float>) {
        storage = Storage(base: UnsafeMutablePointer(mutating: base), owned: false)
        self.classes = classes
        self.exemplars = exemplars
        self.dim = dim
    }

    public var count: Int { classes * exemplars * dim }
    /// The vectors (read only).
    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.base) }
    /// A copy of the vectors, for tests and traces.
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    @inline(__always) public func row(class c: Int, exemplar e: Int) -> Int { c * exemplars + e }
}

/// An error in the data source, found before any training starts.
public struct DataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Synthetic

/// Parameters of the synthetic table. Flat (the default): per class a
/// random prototype, per exemplar the prototype plus Gaussian noise, scaled
/// back to unit variance per component:
/// `x = (mu_c + noise * eta) / sqrt(1 + noise^2)`.
///
/// Hierarchical (`prototypes` = P): P random prototypes, class `c` a small
/// variation of prototype `c mod P`, as Omniglot's 12,800 classes are a few
/// hundred characters in rotations and hands:
/// `x = (mu_(c mod P) + spread * delta_c + noise * eta) / sqrt(1 + spread^2 + noise^2)`.
/// Two classes drawn at random almost always have different prototypes, so
/// a coarse read-out from the weights picks the right one of two labels in
/// context (CIWL), while recalling a class among all of them (IWL) needs
/// the fine `delta_c`, which within-class noise hides.
public struct SyntheticData: Codable, Hashable {
    public var classes: Int
    public var exemplars: Int
    public var dim: Int
    public var noise: Double
    public var seed: UInt64
    /// Prototypes shared by the classes; nil: each class its own (flat).
    public var prototypes: Int?
    /// Scale of a class's variation around its prototype (hierarchical only;
    /// nil: `defaultSpread`).
    public var spread: Double?

    public static let defaultSpread = 0.3

    public init(classes: Int, exemplars: Int, dim: Int, noise: Double, seed: UInt64,
                prototypes: Int? = nil, spread: Double? = nil) {
        self.classes = classes; self.exemplars = exemplars; self.dim = dim; self.noise = noise; self.seed = seed
        self.prototypes = prototypes; self.spread = spread
    }

    /// The first `classes` classes and first `exemplars` exemplars. Each class
    /// (and each prototype) has its own random stream, so a smaller table is
    /// exactly the corner of a larger one with the same seed.
    public func table(classes K: Int, exemplars E: Int) -> FeatureTable {
        FeatureTable(classes: K, exemplars: E, dim: dim) { fill($0, classes: K, exemplars: E) }
    }

    /// The random stream of prototype `p` (hierarchical), apart from every class's.
    static func prototypeStream(_ p: Int) -> UInt64 { (1 << 40) + UInt64(p) }

    /// Writes the first `K` classes x `E` exemplars (`K * E * dim` floats) to `values`.
    public func fill(_ values: UnsafeMutablePointer<Float>, classes K: Int, exemplars E: Int) {
        precondition(K <= classes && E <= exemplars)
        let spread = prototypes == nil ? 0 : self.spread ?? Self.defaultSpread
        let scale = 1 / (1 + spread * spread + noise * noise).squareRoot()
        var center = [Double](repeating: 0, count: dim)  // [dim] the class's mean before scaling
        var shared: [[Double]] = []                       // [P][dim] prototypes (hierarchical)
        if let P = prototypes {
            shared = (0..<min(P, K)).map { p in
                var rng = RNG(seed: seed, stream: Self.prototypeStream(p))
                return (0..<dim).map { _ in rng.normal() }
            }
        }
        for c in 0..<K {
            var rng = RNG(seed: seed, stream: UInt64(c))
            if let P = prototypes {
                let mu = shared[c % P]
                for i in 0..<dim { center[i] = mu[i] + spread * rng.normal() }
            } else {
                for i in 0..<dim { center[i] = rng.normal() }
            }
            for e in 0..<E {
                let base = (c * E + e) * dim
                for i in 0..<dim {
                    values[base + i] = Float((center[i] + noise * rng.normal()) * scale)
                }
            }
        }
    }
}

// MARK: - HDF5 features file

/// A float dataset `[classes, exemplars, dim]` in an HDF5 file, as the
/// authors' Omniglot/ResNet18 file keeps it (`resnet18/224/feat`).
public struct FeatureFile: Codable, Hashable {
    public var path: String
    public var dataset: String

    public init(path: String, dataset: String) { self.path = path; self.dataset = dataset }

    /// The stored shape, checked: the file opens, the dataset exists, is of
    /// rank 3 and holds floating-point numbers.
    public func shape() throws -> (classes: Int, exemplars: Int, dim: Int) {
        let (_, shape) = try openChecked()
        return (shape[0], shape[1], shape[2])
    }

    private func openChecked() throws -> (H5Dataset, [Int]) {
        let file: H5File
        do { file = try H5File.open(path) } catch {
            throw DataError("features file \(path): cannot open (\(error))")
        }
        guard file.exists(dataset) else {
            throw DataError("features file \(path): no dataset '\(dataset)'")
        }
        let ds = try file.dataset(dataset)
        let shape = try ds.shape
        guard shape.count == 3 else {
            throw DataError("features file \(path): dataset '\(dataset)' has rank \(shape.count), expected 3 [classes, exemplars, dim]")
        }
        guard try ds.storedType.cls == H5T_FLOAT else {
            throw DataError("features file \(path): dataset '\(dataset)' is not floating point")
        }
        return (ds, shape)
    }

    /// Reads the first `K` classes and first `E` exemplars of each.
    public func table(classes K: Int, exemplars E: Int) throws -> FeatureTable {
        try FeatureTable(classes: K, exemplars: E, dim: try shape().dim) { try fill($0, classes: K, exemplars: E) }
    }

    /// Reads the first `K` classes x `E` exemplars into `values`, checking
    /// that every one is finite.
    public func fill(_ values: UnsafeMutablePointer<Float>, classes K: Int, exemplars E: Int) throws {
        let (ds, shape) = try openChecked()
        guard K <= shape[0] else {
            throw DataError("features file \(path): asked for \(K) classes, '\(dataset)' has \(shape[0])")
        }
        guard E <= shape[1] else {
            throw DataError("features file \(path): asked for \(E) exemplars, '\(dataset)' has \(shape[1])")
        }
        let count = K * E * shape[2]
        try ds.readBlock(into: UnsafeMutableBufferPointer(start: values, count: count), start: [0, 0, 0], count: [K, E, shape[2]])
        let read = UnsafeBufferPointer(start: values, count: count)
        if let bad = read.firstIndex(where: { !$0.isFinite }) {
            let dim = shape[2], row = bad / dim
            throw DataError("features file \(path): dataset '\(dataset)' holds \(values[bad]) at [class \(row / E), "
                            + "exemplar \(row % E), component \(bad % dim)]\(read.lazy.filter { !$0.isFinite }.count > 1 ? " and elsewhere" : "")")
        }
    }
}

/// Where a run's exemplar vectors come from.
public enum DataSource: Codable, Hashable {
    case synthetic(SyntheticData)
    case file(FeatureFile)

    /// Available (classes, exemplars, dim), checked without loading the table.
    public func available() throws -> (classes: Int, exemplars: Int, dim: Int) {
        switch self {
        case .synthetic(let s): return (s.classes, s.exemplars, s.dim)
        case .file(let f): return try f.shape()
        }
    }

    public func table(classes: Int, exemplars: Int) throws -> FeatureTable {
        let dim = try check(classes: classes, exemplars: exemplars)
        return try FeatureTable(classes: classes, exemplars: exemplars, dim: dim) { try fill($0, classes: classes, exemplars: exemplars) }
    }

    /// Writes the first `classes` x `exemplars` vectors (`classes * exemplars * dim` floats) to `values`.
    public func fill(_ values: UnsafeMutablePointer<Float>, classes: Int, exemplars: Int) throws {
        _ = try check(classes: classes, exemplars: exemplars)
        switch self {
        case .synthetic(let s): s.fill(values, classes: classes, exemplars: exemplars)
        case .file(let f): try f.fill(values, classes: classes, exemplars: exemplars)
        }
    }

    /// The vector size, once the data is known to hold `classes` x `exemplars`.
    private func check(classes: Int, exemplars: Int) throws -> Int {
        let (k, e, dim) = try available()
        guard classes <= k else { throw DataError("asked for \(classes) classes, the data has \(k)") }
        guard exemplars <= e else { throw DataError("asked for \(exemplars) exemplars, the data has \(e)") }
        return dim
    }
}
