import Foundation
import ICLSupport
import ICLData
import ICLModel

/// How a run begins when it is built on other runs' checkpoints, and what it
/// holds fixed. Part of the run's config (so of its checkpoints' identity);
/// a run without one starts from a fresh initialisation and trains every
/// parameter.
///
/// - `init`: every weight from one source checkpoint, fresh optimizer state
///   (the paper's Fig. 4c);
/// - `graft`: the named groups from the source over a fresh initialisation,
///   held fixed while the rest trains (Fig. 4a, 4b: the authors feed the
///   trained model's embedding and layer 0 into the source's layer 1 and
///   unembedding, which are not trained; copying and freezing is the same);
/// - `evaluate`: no training; the model is assembled from groups of several
///   checkpoints and evaluated once (Fig. 3b).
/// `freeze` holds further groups fixed in any mode.
public struct RunStart: Codable, Equatable {
    public enum Mode: String, Codable, CaseIterable {
        case initialize = "init", graft, evaluate
    }
    /// Groups taken from one checkpoint: run `from` at `at` sequences.
    public struct Part: Codable, Equatable {
        public var from: String
        public var at: Int
        /// Group or tensor names (`ParameterGroup`); `rest` (evaluate only):
        /// every tensor no other part names.
        public var groups: [String]
        public init(from: String, at: Int, groups: [String]) { self.from = from; self.at = at; self.groups = groups }
    }
    public var mode: Mode?
    public var parts: [Part]
    public var freeze: [String]

    public init(mode: Mode?, parts: [Part], freeze: [String]) { self.mode = mode; self.parts = parts; self.freeze = freeze }

    public var evaluatesOnly: Bool { mode == .evaluate }

    /// The tensors each part supplies, `rest` resolved; nil entries name
    /// groups the model does not have (see `problems`).
    public func tensors(model: ModelConfig) -> [[Tensor]?] {
        var named = Set<Tensor>()
        var out: [[Tensor]?] = parts.map { part in
            var ts: [Tensor] = []
            for g in part.groups where g != "rest" {
                guard let t = ParameterGroup.tensors(g, in: model) else { return nil }
                ts += t
            }
            named.formUnion(ts)
            return ts
        }
        for (i, part) in parts.enumerated() where part.groups.contains("rest") {
            out[i] = (out[i] ?? []) + Tensor.all(model).filter { !named.contains($0) }
        }
        return out
    }

    /// Tensors held fixed while training: the grafted ones and `freeze`.
    public func frozen(model: ModelConfig) -> Set<Tensor> {
        var out = Set(freeze.compactMap { ParameterGroup.tensors($0, in: model) }.joined())
        if mode == .graft { for ts in tensors(model: model) { out.formUnion(ts ?? []) } }
        return out
    }

    /// Problems with the start alone, each naming its field.
    public func problems(model: ModelConfig) -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        let known = ParameterGroup.names(layers: model.layers).joined(separator: ", ")
        for g in freeze where ParameterGroup.tensors(g, in: model) == nil {
            out.append(ConfigProblem("freeze", "no parameter group '\(g)' in a \(model.layers)-layer model (groups: \(known), or a tensor name)"))
        }
        for part in parts {
            for g in part.groups where g != "rest" && ParameterGroup.tensors(g, in: model) == nil {
                out.append(ConfigProblem(mode?.rawValue ?? "start", "no parameter group '\(g)' in a \(model.layers)-layer model (groups: \(known), or a tensor name)"))
            }
            if part.groups.contains("rest") && mode != .evaluate { out.append(ConfigProblem(mode?.rawValue ?? "start", "'rest' applies only to evaluate")) }
            if part.at < 0 { out.append(ConfigProblem(mode?.rawValue ?? "start", "at must not be negative (got \(part.at))")) }
        }
        guard out.isEmpty else { return out }
        let all = Set(Tensor.all(model))
        switch mode {
        case .evaluate?:
            var seen = Set<Tensor>()
            for ts in tensors(model: model).compactMap({ $0 }) {
                for t in ts where !seen.insert(t).inserted { out.append(ConfigProblem("evaluate", "\(t.name) is taken from two checkpoints")) }
            }
            let missing = all.subtracting(seen)
            if !missing.isEmpty {
                out.append(ConfigProblem("evaluate", "no checkpoint gives \(Tensor.all(model).filter(missing.contains).map(\.name).joined(separator: ", ")) "
                           + "(name them, or take the rest from one part with groups: [rest])"))
            }
            if !freeze.isEmpty { out.append(ConfigProblem("freeze", "an evaluate-only run trains nothing")) }
        case .initialize?, .graft?:
            if parts.count != 1 { out.append(ConfigProblem(mode!.rawValue, "takes exactly one source")) }
            if frozen(model: model).count == all.count {
                out.append(ConfigProblem(mode!.rawValue, "\(mode == .graft ? "graft and freeze leave" : "freeze leaves") nothing to train"))
            }
        case nil:
            if frozen(model: model).count == all.count { out.append(ConfigProblem("freeze", "leaves nothing to train")) }
        }
        return out
    }
}
