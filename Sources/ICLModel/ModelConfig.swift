import ICLSupport

/// How token positions enter the model.
public enum PositionalEncoding: String, Codable, CaseIterable {
    case learned, sinusoidal
}

/// The blueprint of the paper's attention-only transformer.
public struct ModelConfig: Codable, Equatable {
    /// Size of an exemplar vector (512 for the ResNet18 features).
    public var inputDim: Int
    /// Rows of the label-embedding table (the training classes, or the
    /// relabel set size for `icl_only`).
    public var labels: Int
    /// Outputs of the unembedding; equal to `labels` in every variant.
    public var outputs: Int { labels }
    public var width: Int = 64
    public var heads: Int = 8
    public var layers: Int = 2
    /// Exemplar-label pairs in context (2 in the paper): T = 2 * pairs + 1 tokens.
    public var pairs: Int = 2
    /// Rows of the learned positional table.
    public var maxPositions: Int = 32
    /// Width ratio of each layer's MLP (hidden width `mlpRatio x width`,
    /// GELU); 0: no MLPs, the paper's attention-only model.
    public var mlpRatio: Int = 0
    /// Learned positions (a table, the paper's 2-layer model) or fixed
    /// sinusoidal ones (its 12-layer model).
    public var positional: PositionalEncoding = .learned
    /// Time scale S of sinusoidal positions, sin(t / S^(2i/D)).
    public var sinusoidTime: Double = 10000

    public init(inputDim: Int, labels: Int, width: Int = 64, heads: Int = 8, layers: Int = 2,
                pairs: Int = 2, maxPositions: Int = 32) {
        self.inputDim = inputDim; self.labels = labels; self.width = width; self.heads = heads
        self.layers = layers; self.pairs = pairs; self.maxPositions = maxPositions
    }

    /// Tokens per sequence: `x1 y1 ... xn yn xq`.
    public var tokens: Int { 2 * pairs + 1 }

    /// Matrix-product FLOPs of one training step (forward and backward) on
    /// `batch` sequences: the cost model of the scheduler and `bench`.
    public func flopsPerStep(batch: Int) -> Double {
        let B = Double(batch), D = Double(width), N = B * Double(tokens)
        let exemplarRows = B * Double(pairs + 1)
        let embed = 2 * exemplarRows * Double(inputDim) * D               // forward + weight gradient
        let layers = Double(self.layers) * 3 * (N * D * 3 * D + N * D * D + 2 * N * D * Double(mlpRatio) * D)  // forward + 2 backward
        let unembed = 3 * B * D * Double(outputs)
        return 2 * (embed + layers + unembed)
    }

    /// Problems with the configuration, each naming the option.
    /// Problems with the shape, each naming its field (spec path).
    public func problems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        if inputDim < 1 { out.append(ConfigProblem("data.synthetic.dim", "input size must be at least 1 (got \(inputDim))")) }
        if labels < 2 { out.append(ConfigProblem("classes", "must be at least 2 (got \(labels))")) }
        if width < 1 { out.append(ConfigProblem("model.width", "must be at least 1 (got \(width))")) }
        if heads < 1 { out.append(ConfigProblem("model.heads", "must be at least 1 (got \(heads))")) }
        else if width % heads != 0 { out.append(ConfigProblem("model.heads", "\(heads) heads must divide the width (\(width))")) }
        if layers < 1 { out.append(ConfigProblem("model.layers", "must be at least 1 (got \(layers))")) }
        if pairs < 1 { out.append(ConfigProblem("model.pairs", "must be at least 1 (got \(pairs))")) }
        if mlpRatio < 0 { out.append(ConfigProblem("model.mlp_ratio", "must be a positive number (got \(mlpRatio))")) }
        if maxPositions < tokens && positional == .learned {
            out.append(ConfigProblem("model.positions", "\(maxPositions) positions must cover the \(tokens) tokens of a sequence"))
        }
        return out
    }
}
