import Foundation

/// The training-time data variants of `experiment.md`.
public enum Variant: String, Codable, CaseIterable {
    case bursty, matched
    case iclOnly = "icl_only"
    case ciwlOnly = "ciwl_only"
}

/// The five evaluators, in the order the results store them.
public enum Evaluator: String, Codable, CaseIterable {
    /// `train`: plain bursty sequences for every run (the authors' `train`
    /// evaluator); `train_variant`: sequences of the run's own variant.
    case train, icl, iwl, ciwl, flip
    case trainVariant = "train_variant"

    /// Whether the headline accuracy is in-context (argmax over the labels
    /// present in context) or plain (argmax over all outputs). `train` is
    /// in-context, as the paper's Figure 1b plots it.
    public var headlineIsInContext: Bool {
        switch self {
        case .train, .icl, .ciwl, .flip: return true
        case .iwl, .trainVariant: return false
        }
    }
}

/// How training sequences pick their classes. Evaluators always draw
/// uniformly from their classes.
public enum ClassFrequency: Codable, Equatable {
    /// Every class equally often (the paper).
    case uniform
    /// Class k (0-based, in table order) with probability proportional to
    /// (k + 1)^-alpha: a few frequent classes and many rare ones (Chan et
    /// al. 2022; alpha about 1 gave in-context and in-weights learning together).
    case zipf(alpha: Double)
}

/// Draws class indices for training sequences: `rng.below(classes)` when
/// uniform (the draws the sampler always made), else by inverting the Zipf
/// cumulative distribution with one uniform draw.
package struct ClassDraw {
    let classes: Int
    /// Cumulative probabilities of classes 0...k (nil: uniform).
    let cumulative: [Double]?

    package init(classes: Int, frequency: ClassFrequency) {
        self.classes = classes
        switch frequency {
        case .uniform:
            cumulative = nil
        case .zipf(let alpha):
            var running = 0.0
            var sums = (0..<classes).map { k -> Double in running += pow(Double(k + 1), -alpha); return running }
            for k in sums.indices { sums[k] /= running }
            sums[classes - 1] = 1
            cumulative = sums
        }
    }

    package func draw(_ rng: inout RNG) -> Int {
        guard let cumulative else { return rng.below(classes) }
        let u = rng.uniform()
        var low = 0, high = classes - 1  // the first k with cumulative[k] > u
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > u { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

/// What one sequence is drawn as.
package enum SequenceKind {
    case train(Variant)
    case eval(Evaluator)  // .icl, .iwl, .ciwl, .flip
}

/// A batch of sequences `x1 y1 ... xn yn xq`, stored as indices.
///
/// - `rows` (B, n+1): table rows of the exemplars, the query's last.
/// - `labels` (B, n): the label token after each context exemplar.
/// - `targets` (B): the label to predict at the query.
public struct Batch {
    public let size: Int
    public let pairs: Int
    public var rows: [Int32]
    public var labels: [Int32]
    public var targets: [Int32]

    public init(size: Int, pairs: Int) {
        self.size = size
        self.pairs = pairs
        rows = [Int32](repeating: 0, count: size * (pairs + 1))
        labels = [Int32](repeating: 0, count: size * pairs)
        targets = [Int32](repeating: 0, count: size)
    }

    /// Copies sequences `range` of `whole` into this batch, which holds `range.count`.
    public mutating func take(_ range: Range<Int>, of whole: Batch) {
        precondition(range.count == size && pairs == whole.pairs && range.upperBound <= whole.size)
        let n = pairs
        rows.replaceSubrange(0..., with: whole.rows[range.lowerBound * (n + 1) ..< range.upperBound * (n + 1)])
        labels.replaceSubrange(0..., with: whole.labels[range.lowerBound * n ..< range.upperBound * n])
        targets.replaceSubrange(0..., with: whole.targets[range])
    }

    /// One sequence's classes are not stored: `rows / exemplars` recovers them.
    public func row(_ b: Int, _ i: Int) -> Int { Int(rows[b * (pairs + 1) + i]) }
    public func label(_ b: Int, _ i: Int) -> Int { Int(labels[b * pairs + i]) }
}

/// Draws sequences over the first `classes` classes and `exemplars`
/// exemplars of a table with `tableExemplars` exemplars per class.
package struct SequenceSampler {
    let classes: Int
    let exemplars: Int
    let tableExemplars: Int
    let pairs: Int
    /// Size of the label set `icl_only` relabels into.
    let relabelSet: Int
    /// Exemplars of the query class in a bursty context (and as many of one
    /// distractor class; the rest of the context from distinct other classes).
    let burstiness: Int

    /// How training sequences pick classes (evaluators: uniform).
    let trainingDraw: ClassDraw

    package init(classes: Int, exemplars: Int, tableExemplars: Int, pairs: Int, relabelSet: Int,
                 frequency: ClassFrequency = .uniform, burstiness: Int = 1) {
        precondition(burstiness == 1 || 2 * burstiness <= pairs, "a burst of the query class and one of a distractor must fit")
        self.classes = classes; self.exemplars = exemplars; self.tableExemplars = tableExemplars
        self.pairs = pairs; self.relabelSet = relabelSet; self.burstiness = burstiness
        trainingDraw = ClassDraw(classes: classes, frequency: frequency)
    }

    /// Writes sequence `b` of `batch`.
    func draw(_ kind: SequenceKind, into batch: inout Batch, at b: Int, rng: inout RNG) {
        let n = pairs
        var classesInContext = [Int](repeating: 0, count: n)
        var exemplarRows = [Int](repeating: 0, count: n)
        var labels = [Int](repeating: 0, count: n)
        var isTraining = false
        if case .train = kind { isTraining = true }
        let classDraw = isTraining ? trainingDraw : ClassDraw(classes: classes, frequency: .uniform)
        let q = classDraw.draw(&rng)
        let queryExemplar = rng.below(exemplars)
        var target = q

        func distinctOthers(count: Int, excluding: Int, into out: inout [Int], from start: Int) {
            var i = start
            while i < start + count {
                let c = classDraw.draw(&rng)
                if c == excluding || out[start..<i].contains(c) { continue }
                out[i] = c
                i += 1
            }
        }
        func exemplarRow(_ c: Int) -> Int { c * tableExemplars + rng.below(exemplars) }

        switch kind {
        case .train(.bursty), .train(.matched), .train(.iclOnly), .eval(.icl), .eval(.flip):
            // B (burstiness) exemplars of the query class, B of one distractor class, and
            // the rest from distinct other classes, in random order (Chan et al. 2022's
            // bursty k-shot 2-way sequences; B = 1: one of the query class and n-1
            // distinct distractors, the paper's 2-pair setup).
            let B = burstiness
            classesInContext[0] = q
            distinctOthers(count: n - 2 * B + 1, excluding: q, into: &classesInContext, from: 1)
            if B > 1 {
                let (distractor, rest) = (classesInContext[1], Array(classesInContext[2 ..< n - 2 * B + 2]))
                classesInContext = Array(repeating: q, count: B) + Array(repeating: distractor, count: B) + rest
            }
            rng.shuffle(&classesInContext)
            for i in 0..<n {
                let c = classesInContext[i]
                exemplarRows[i] = exemplarRow(c)
                labels[i] = c
            }
            // the query's partner: its class's first exemplar in context
            let partner = classesInContext.firstIndex(of: q)!
            // each class in context by its first place: labels change per class, not per slot
            // (only the relabelling kinds need it; bursty and matched keep the class labels)
            var distinct: [Int] { classesInContext.indices.filter { classesInContext.firstIndex(of: classesInContext[$0]) == $0 } }
            func relabel(_ newLabel: [Int], _ places: [Int]) {  // newLabel[k]: the label of the class first at places[k]
                for i in 0..<n { labels[i] = newLabel[places.firstIndex { classesInContext[$0] == classesInContext[i] }!] }
            }
            if case .train(.matched) = kind {
                exemplarRows[partner] = q * tableExemplars + queryExemplar
            }
            if case .train(.iclOnly) = kind {
                // Labels drawn afresh per sequence: distinct labels of the relabel set, one per class.
                let places = distinct
                var fresh = [Int](repeating: -1, count: places.count)
                for i in fresh.indices {
                    var l: Int
                    repeat { l = rng.below(relabelSet) } while fresh[0..<i].contains(l)
                    fresh[i] = l
                }
                relabel(fresh, places)
                target = labels[partner]
            } else if case .eval(.icl) = kind {
                // Context classes relabelled to {0, ..., n-1} in random order (one label per class).
                var perm = Array(0..<n)
                rng.shuffle(&perm)
                relabel(perm, distinct)
                target = labels[partner]
            } else if case .eval(.flip) = kind {
                // Labels rotated by one class (a swap for two classes): the query's
                // partner carries a distractor's label, which is the target.
                let places = distinct, original = places.map { labels[$0] }
                relabel(original.indices.map { original[($0 + 1) % original.count] }, places)
                target = labels[partner]
            }
        case .eval(.iwl):
            // No exemplar and no label of the query class in context.
            distinctOthers(count: n, excluding: q, into: &classesInContext, from: 0)
            for i in 0..<n {
                exemplarRows[i] = exemplarRow(classesInContext[i])
                labels[i] = classesInContext[i]
            }
        case .train(.ciwlOnly), .eval(.ciwl):
            // No exemplar of the query class; its label sits on a wrong exemplar.
            distinctOthers(count: n, excluding: q, into: &classesInContext, from: 0)
            for i in 0..<n {
                exemplarRows[i] = exemplarRow(classesInContext[i])
                labels[i] = classesInContext[i]
            }
            labels[rng.below(n)] = q
        case .eval(.train), .eval(.trainVariant):
            preconditionFailure("the train evaluators draw training sequences")
        }

        let base = b * (n + 1)
        for i in 0..<n {
            batch.rows[base + i] = Int32(exemplarRows[i])
            batch.labels[b * n + i] = Int32(labels[i])
        }
        batch.rows[base + n] = Int32(q * tableExemplars + queryExemplar)
        batch.targets[b] = Int32(target)
    }

    package func fill(_ batch: inout Batch, kind: SequenceKind, rng: inout RNG) {
        for b in 0..<batch.size { draw(kind, into: &batch, at: b, rng: &rng) }
    }
}
