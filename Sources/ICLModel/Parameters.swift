import ICLData

/// Every parameter tensor of the model. Sizes and offsets in the flat
/// buffer are derived from this one list; gradients and both Adam moments
/// use the same layout, so the optimizer is one flat loop.
///
/// Layout convention: linear weights are stored `[in, out]` row-major and
/// applied as `y = x @ W (+ b)`.
public enum Tensor: Hashable {
    case exemplarWeight     // (dim, D)   exemplar embedding
    case exemplarBias       // (D)
    case labelEmbedding     // (labels, D)
    case positions          // (maxPositions, D) learned absolute positions
    case lnGain(Int)        // (D)  pre-attention LayerNorm of layer l
    case lnBias(Int)        // (D)
    case qkv(Int)           // (D, 3D)  columns [q | k | v], each split into heads
    case attnOut(Int)       // (D, D)
    case mlpLnGain(Int)     // (D)  pre-MLP LayerNorm of layer l (models with MLPs)
    case mlpLnBias(Int)     // (D)
    case mlpIn(Int)         // (D, rD)  r: the MLP's width ratio
    case mlpInBias(Int)     // (rD)
    case mlpOut(Int)        // (rD, D)
    case mlpOutBias(Int)    // (D)
    case finalGain          // (D)  final LayerNorm
    case finalBias          // (D)
    case unembedWeight      // (D, outputs)
    case unembedBias        // (outputs)

    /// All tensors of the paper's model (attention only, learned positions) in buffer order.
    public static func all(layers: Int) -> [Tensor] {
        all(ModelConfig(inputDim: 1, labels: 2, layers: layers))
    }

    /// All tensors of `c` in buffer order: no position table with
    /// sinusoidal positions; each layer's MLP after its attention.
    public static func all(_ c: ModelConfig) -> [Tensor] {
        var list: [Tensor] = [.exemplarWeight, .exemplarBias, .labelEmbedding]
        if c.positional == .learned { list.append(.positions) }
        for l in 0..<c.layers {
            list += [.lnGain(l), .lnBias(l), .qkv(l), .attnOut(l)]
            if c.mlpRatio > 0 { list += [.mlpLnGain(l), .mlpLnBias(l), .mlpIn(l), .mlpInBias(l), .mlpOut(l), .mlpOutBias(l)] }
        }
        return list + [.finalGain, .finalBias, .unembedWeight, .unembedBias]
    }

    /// The layer a tensor belongs to, if any.
    public var layer: Int? {
        switch self {
        case .lnGain(let l), .lnBias(let l), .qkv(let l), .attnOut(let l), .mlpLnGain(let l), .mlpLnBias(let l),
             .mlpIn(let l), .mlpInBias(let l), .mlpOut(let l), .mlpOutBias(let l): return l
        default: return nil
        }
    }

    public func shape(_ c: ModelConfig) -> [Int] {
        let D = c.width
        switch self {
        case .exemplarWeight: return [c.inputDim, D]
        case .exemplarBias: return [D]
        case .labelEmbedding: return [c.labels, D]
        case .positions: return [c.maxPositions, D]
        case .lnGain, .lnBias, .finalGain, .finalBias, .mlpLnGain, .mlpLnBias, .mlpOutBias: return [D]
        case .qkv: return [D, 3 * D]
        case .attnOut: return [D, D]
        case .mlpIn: return [D, c.mlpRatio * D]
        case .mlpInBias: return [c.mlpRatio * D]
        case .mlpOut: return [c.mlpRatio * D, D]
        case .unembedWeight: return [D, c.outputs]
        case .unembedBias: return [c.outputs]
        }
    }

    /// The name used in checkpoints, traces and docs/model.md.
    public var name: String {
        switch self {
        case .exemplarWeight: return "exemplar_embedding/weight"
        case .exemplarBias: return "exemplar_embedding/bias"
        case .labelEmbedding: return "label_embedding"
        case .positions: return "position_embedding"
        case .lnGain(let l): return "layer\(l)/ln/gain"
        case .lnBias(let l): return "layer\(l)/ln/bias"
        case .qkv(let l): return "layer\(l)/attn/qkv"
        case .attnOut(let l): return "layer\(l)/attn/out"
        case .mlpLnGain(let l): return "layer\(l)/mlp_ln/gain"
        case .mlpLnBias(let l): return "layer\(l)/mlp_ln/bias"
        case .mlpIn(let l): return "layer\(l)/mlp/in/weight"
        case .mlpInBias(let l): return "layer\(l)/mlp/in/bias"
        case .mlpOut(let l): return "layer\(l)/mlp/out/weight"
        case .mlpOutBias(let l): return "layer\(l)/mlp/out/bias"
        case .finalGain: return "final_ln/gain"
        case .finalBias: return "final_ln/bias"
        case .unembedWeight: return "unembedding/weight"
        case .unembedBias: return "unembedding/bias"
        }
    }
}

/// Offsets of each tensor in the flat parameter buffer.
public struct ParameterLayout {
    public let config: ModelConfig
    public let tensors: [Tensor]
    public let offsets: [Tensor: Int]
    public let count: Int

    public init(_ config: ModelConfig) {
        self.config = config
        tensors = Tensor.all(config)
        var offsets: [Tensor: Int] = [:]
        var total = 0
        for t in tensors {
            offsets[t] = total
            total += t.shape(config).reduce(1, *)
        }
        self.offsets = offsets
        count = total
    }

    public func size(_ t: Tensor) -> Int { t.shape(config).reduce(1, *) }
}

/// A flat buffer laid out by a `ParameterLayout`, with a named view per tensor.
/// Used for the parameters, their gradients and both Adam moments.
public final class ParameterSet<T: ModelScalar> {
    public let layout: ParameterLayout
    public let storage: Buffer<T>
    /// One pointer per tensor, looked up once.
    private let views: [Tensor: UnsafeMutablePointer<T>]

    public convenience init(_ layout: ParameterLayout) { self.init(layout, storage: Buffer(count: layout.count)) }

    /// Views over `storage` (borrowed memory, for one a gang shares).
    public init(_ layout: ParameterLayout, storage: Buffer<T>) {
        precondition(storage.count == layout.count, "storage for \(layout.count) parameters")
        self.layout = layout
        self.storage = storage
        var views: [Tensor: UnsafeMutablePointer<T>] = [:]
        for t in layout.tensors { views[t] = storage.pointer + layout.offsets[t]! }
        self.views = views
    }

    @inline(__always) public subscript(_ t: Tensor) -> UnsafeMutablePointer<T> { views[t]! }

    public func values(_ t: Tensor) -> [T] { Array(UnsafeBufferPointer(start: self[t], count: layout.size(t))) }
    public func set(_ t: Tensor, _ values: [T]) {
        precondition(values.count == layout.size(t))
        for (i, v) in values.enumerated() { self[t][i] = v }
    }
}

// MARK: - Initialisation

extension ParameterSet {
    /// The paper's initialisation, drawn tensor by tensor in buffer order.
    /// - LeCun normal (as JAX: truncated to ±2, rescaled to variance 1/fan_in)
    ///   for the exemplar embedding, QKV, attention output and unembedding.
    /// - Label embedding: 0.02 x standard normal truncated to ±2.
    /// - Positions: uniform in ±1/sqrt(maxPositions).
    /// - LayerNorm gains 1; every bias 0.
    public func initialize(seed: UInt64) {
        var rng = RNG(seed: seed, stream: 0x1217)
        let c = layout.config
        for t in layout.tensors {
            let p = self[t], n = layout.size(t)
            switch t {
            case .exemplarWeight, .qkv, .attnOut, .unembedWeight, .mlpIn, .mlpOut:
                let fanIn = Double(t.shape(c)[0])
                let sd = (1 / fanIn).squareRoot() / 0.87962566103423978
                for i in 0..<n { p[i] = T(sd * rng.truncatedNormal()) }
            case .labelEmbedding:
                for i in 0..<n { p[i] = T(0.02 * rng.truncatedNormal()) }
            case .positions:
                let bound = 1 / Double(c.maxPositions).squareRoot()
                for i in 0..<n { p[i] = T((2 * rng.uniform() - 1) * bound) }
            case .lnGain, .finalGain, .mlpLnGain:
                for i in 0..<n { p[i] = 1 }
            case .exemplarBias, .lnBias, .finalBias, .unembedBias, .mlpLnBias, .mlpInBias, .mlpOutBias:
                for i in 0..<n { p[i] = 0 }
            }
        }
    }
}

// MARK: - Parameter groups

/// Named groups of tensors, for taking weights from another run's checkpoint
/// (graft, init, evaluate-only) and for holding them fixed (freeze). Layers
/// are numbered from 0 as in the tensor names and in the authors' run names
/// (their `graftl1` is `layer1`, the paper's "layer 2").
public enum ParameterGroup {
    /// The group names a model with `layers` layers has, for messages.
    public static func names(layers: Int) -> [String] {
        ["all", "embedding"] + (0..<layers).map { "layer\($0)" } + ["unembedding"]
    }

    /// The tensors of `name` in model `c`: a group or one tensor's own name
    /// (`unembedding/weight`); nil when the model has no such group.
    /// - `embedding`: exemplar embedding (weight, bias), label embedding, and
    ///   the position table when positions are learned;
    /// - `layerN`: that layer's LayerNorm and attention (qkv, out), and its MLP;
    /// - `unembedding`: the final LayerNorm and the unembedding (weight, bias);
    /// - `all`: every tensor.
    public static func tensors(_ name: String, in c: ModelConfig) -> [Tensor]? {
        let all = Tensor.all(c)
        switch name {
        case "all": return all
        case "embedding": return all.filter { [.exemplarWeight, .exemplarBias, .labelEmbedding, .positions].contains($0) }
        case "unembedding": return [.finalGain, .finalBias, .unembedWeight, .unembedBias]
        default:
            if name.hasPrefix("layer"), let l = Int(name.dropFirst(5)), String(l) == name.dropFirst(5) {
                return (0..<c.layers).contains(l) ? all.filter { $0.layer == l } : nil
            }
            return all.first { $0.name == name }.map { [$0] }
        }
    }
}

extension ParameterLayout {
    /// The buffer's ranges outside `frozen`, in order, adjacent ones merged:
    /// what the optimizer updates.
    public func trainableRanges(frozen: Set<Tensor>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for t in tensors where !frozen.contains(t) {
            let r = offsets[t]! ..< offsets[t]! + size(t)
            if let last = out.last, last.upperBound == r.lowerBound { out[out.count - 1] = last.lowerBound ..< r.upperBound }
            else { out.append(r) }
        }
        return out
    }
}
