import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The defining property of every data variant and evaluator, on many sequences.
final class SequenceSamplerTests: XCTestCase {
    let K = 12, E = 4, n = 2
    var sampler: SequenceSampler { SequenceSampler(classes: K, exemplars: E, tableExemplars: E, pairs: n, relabelSet: 3) }

    /// Draws `count` sequences of `kind` and hands each one's parts to `check`.
    func forEach(_ kind: SequenceKind, count: Int = 4000,
                 _ check: (_ ctxClasses: [Int], _ ctxRows: [Int], _ labels: [Int], _ queryClass: Int, _ queryRow: Int, _ target: Int) -> Void) {
        var batch = Batch(size: count, pairs: n)
        var rng = RNG(seed: 42)
        sampler.fill(&batch, kind: kind, rng: &rng)
        for b in 0..<count {
            let rows = (0..<n).map { batch.row(b, $0) }
            check(rows.map { $0 / E }, rows, (0..<n).map { batch.label(b, $0) },
                  batch.row(b, n) / E, batch.row(b, n), Int(batch.targets[b]))
        }
    }

    func testBursty() {
        var partnerFirst = 0, sameExemplar = 0
        forEach(.train(.bursty)) { classes, rows, labels, q, qRow, target in
            XCTAssertEqual(classes.filter { $0 == q }.count, 1, "one exemplar of the query class")
            XCTAssertEqual(Set(classes).count, n, "distractor differs from the query class")
            XCTAssertEqual(labels, classes, "each exemplar carries its own class label")
            XCTAssertEqual(target, q)
            if classes[0] == q { partnerFirst += 1 }
            if rows[classes.firstIndex(of: q)!] == qRow { sameExemplar += 1 }
        }
        XCTAssert((1700...2300).contains(partnerFirst), "random order: \(partnerFirst) of 4000 first")
        XCTAssert((700...1300).contains(sameExemplar), "exemplars drawn independently: \(sameExemplar) of 4000 coincide (1/E expected)")
    }

    func testMatched() {
        forEach(.train(.matched)) { classes, rows, labels, q, qRow, target in
            XCTAssertEqual(classes.filter { $0 == q }.count, 1)
            XCTAssertEqual(rows[classes.firstIndex(of: q)!], qRow, "the partner is the query exemplar itself")
            XCTAssertEqual(labels, classes)
            XCTAssertEqual(target, q)
        }
    }

    func testICLOnlyRelabelsPerSequence() {
        var seen = Set<[Int]>()
        forEach(.train(.iclOnly)) { classes, _, labels, q, _, target in
            XCTAssertEqual(classes.filter { $0 == q }.count, 1)
            XCTAssert(labels.allSatisfy { (0..<3).contains($0) }, "labels come from the relabel set")
            XCTAssertEqual(Set(labels).count, n, "distinct labels in context")
            XCTAssertEqual(target, labels[classes.firstIndex(of: q)!], "target is the partner's fresh label")
            seen.insert(labels)
        }
        XCTAssertEqual(seen.count, 6, "every ordered pair of the 3-label set occurs")
    }

    func testCIWLOnlyAndCIWLEvaluator() {
        for kind in [SequenceKind.train(.ciwlOnly), .eval(.ciwl)] {
            forEach(kind) { classes, _, labels, q, _, target in
                XCTAssertFalse(classes.contains(q), "no exemplar of the query class")
                XCTAssertEqual(Set(classes).count, n, "context classes distinct")
                XCTAssertEqual(labels.filter { $0 == q }.count, 1, "the query label appears exactly once")
                let i = labels.firstIndex(of: q)!
                XCTAssertNotEqual(classes[i], q, "attached to an exemplar of another class")
                for j in 0..<n where j != i { XCTAssertEqual(labels[j], classes[j]) }
                XCTAssertEqual(target, q)
            }
        }
    }

    func testICLEvaluator() {
        forEach(.eval(.icl)) { classes, _, labels, q, _, target in
            XCTAssertEqual(classes.filter { $0 == q }.count, 1)
            XCTAssertEqual(labels.sorted(), Array(0..<n), "context relabelled to {0, 1}")
            XCTAssertEqual(target, labels[classes.firstIndex(of: q)!], "query keeps its partner's new label")
        }
    }

    func testIWLEvaluator() {
        forEach(.eval(.iwl)) { classes, _, labels, q, _, target in
            XCTAssertFalse(classes.contains(q), "no exemplar of the query class")
            XCTAssertFalse(labels.contains(q), "no copy of its label")
            XCTAssertEqual(Set(classes).count, n)
            XCTAssertEqual(labels, classes)
            XCTAssertEqual(target, q)
        }
    }

    func testFlipEvaluator() {
        forEach(.eval(.flip)) { classes, _, labels, q, _, target in
            let partner = classes.firstIndex(of: q)!
            let other = 1 - partner
            XCTAssertEqual(labels[partner], classes[other], "the partner carries the distractor's label")
            XCTAssertEqual(labels[other], classes[partner], "labels swapped")
            XCTAssertEqual(target, labels[partner])
            XCTAssertNotEqual(target, q, "target differs from the query's own label")
        }
    }

    func testEvaluatorRestrictsToFirstClassesAndExemplars() {
        let small = SequenceSampler(classes: 5, exemplars: 2, tableExemplars: E, pairs: n, relabelSet: 3)
        var batch = Batch(size: 2000, pairs: n)
        var rng = RNG(seed: 1)
        small.fill(&batch, kind: .eval(.iwl), rng: &rng)
        for r in batch.rows.map(Int.init) {
            XCTAssertLessThan(r / E, 5)
            XCTAssertLessThan(r % E, 2)
        }
    }

    func testSameSeedSameSequences() {
        var a = Batch(size: 100, pairs: n), b = Batch(size: 100, pairs: n)
        var r1 = RNG(seed: 7), r2 = RNG(seed: 7)
        sampler.fill(&a, kind: .train(.bursty), rng: &r1)
        sampler.fill(&b, kind: .train(.bursty), rng: &r2)
        XCTAssertEqual(a.rows, b.rows)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertEqual(r1, r2)
    }

    // MARK: - Class frequency

    /// Zipf draws match (k+1)^-alpha: a chi-square statistic over 20 classes
    /// and 200,000 draws on a fixed seed, below the 0.1% critical value for
    /// 19 degrees of freedom (43.8).
    func testZipfDrawsFollowTheirFrequencies() {
        for alpha in [0.5, 1.0, 1.5] {
            let K = 20, draws = 200_000
            let draw = ClassDraw(classes: K, frequency: .zipf(alpha: alpha))
            var rng = RNG(seed: 7)
            var counts = [Int](repeating: 0, count: K)
            for _ in 0..<draws { counts[draw.draw(&rng)] += 1 }
            let weights = (0..<K).map { pow(Double($0 + 1), -alpha) }, total = weights.reduce(0, +)
            let chi2 = (0..<K).map { k -> Double in
                let expected = Double(draws) * weights[k] / total
                return (Double(counts[k]) - expected) * (Double(counts[k]) - expected) / expected
            }.reduce(0, +)
            XCTAssertLessThan(chi2, 43.8, "alpha \(alpha): counts \(counts)")
            XCTAssertGreaterThan(counts[0], counts[K - 1] * Int(pow(Double(K), alpha) / 2), "alpha \(alpha)")
        }
    }

    /// Zipf applies to training sequences only: evaluators stay uniform, and a
    /// uniform sampler draws exactly what it always drew.
    func testZipfShapesTrainingDrawsOnlyAndUniformIsUnchanged() {
        let zipf = SequenceSampler(classes: K, exemplars: E, tableExemplars: E, pairs: n, relabelSet: 3, frequency: .zipf(alpha: 1.5))
        func queryCounts(_ sampler: SequenceSampler, _ kind: SequenceKind) -> [Int] {
            var batch = Batch(size: 6000, pairs: n)
            var rng = RNG(seed: 9)
            sampler.fill(&batch, kind: kind, rng: &rng)
            var counts = [Int](repeating: 0, count: K)
            for b in 0..<batch.size { counts[batch.row(b, n) / E] += 1 }
            return counts
        }
        let train = queryCounts(zipf, .train(.bursty)), eval = queryCounts(zipf, .eval(.iwl))
        XCTAssertGreaterThan(train[0], 10 * train[K - 1], "\(train)")
        XCTAssertLessThan(eval.max()! - eval.min()!, 250, "evaluators draw uniformly: \(eval)")
        for kind in [SequenceKind.train(.bursty), .train(.iclOnly), .eval(.flip)] {
            var a = Batch(size: 500, pairs: n), b = Batch(size: 500, pairs: n)
            var r1 = RNG(seed: 3), r2 = RNG(seed: 3)
            sampler.fill(&a, kind: kind, rng: &r1)
            SequenceSampler(classes: K, exemplars: E, tableExemplars: E, pairs: n, relabelSet: 3, frequency: .uniform)
                .fill(&b, kind: kind, rng: &r2)
            XCTAssertEqual(a.rows, b.rows); XCTAssertEqual(a.labels, b.labels); XCTAssertEqual(a.targets, b.targets)
        }
    }

    /// Burstiness B (the 12-layer model: 3 of 8 pairs): B exemplars of the
    /// query class, B of one distractor, the rest from distinct other classes;
    /// labels change per class, never per exemplar.
    func testBurstyContextsOfEightPairs() {
        let pairs = 8, B = 3
        let bursty = SequenceSampler(classes: 40, exemplars: E, tableExemplars: E, pairs: pairs, relabelSet: 40, burstiness: B)
        var rng = RNG(seed: 9)
        for kind in [SequenceKind.train(.bursty), .train(.matched), .train(.iclOnly), .eval(.icl), .eval(.flip)] {
            var batch = Batch(size: 500, pairs: pairs)
            bursty.fill(&batch, kind: kind, rng: &rng)
            for b in 0..<batch.size {
                let classes = (0..<pairs).map { batch.row(b, $0) / E }, labels = (0..<pairs).map { batch.label(b, $0) }
                let q = batch.row(b, pairs) / E, target = Int(batch.targets[b])
                var counts: [Int: Int] = [:]
                for c in classes { counts[c, default: 0] += 1 }
                XCTAssertEqual(counts[q], B, "\(kind): B exemplars of the query class")
                XCTAssertEqual(counts.values.sorted(by: >), [B, B] + Array(repeating: 1, count: pairs - 2 * B), "\(kind): a burst of one distractor, the rest distinct")
                for (c, l) in zip(classes, labels) {
                    XCTAssertEqual(Set(zip(classes, labels).filter { $0.0 == c }.map(\.1)), [l], "\(kind): one label per class")
                }
                XCTAssertEqual(Set(labels).count, counts.count, "\(kind): distinct classes, distinct labels")
                let queryLabel = labels[classes.firstIndex(of: q)!]
                XCTAssertEqual(target, queryLabel, "\(kind): the answer is the label the query's class carries in context")
                switch kind {
                case .train(.bursty), .train(.matched): XCTAssertEqual(labels, classes)
                case .eval(.icl): XCTAssert(labels.allSatisfy { (0..<pairs).contains($0) })
                case .eval(.flip): XCTAssertNotEqual(queryLabel, q, "flip: the query's class carries another class's label")
                    XCTAssert(classes.contains(queryLabel), "... a label of a class in context")
                default: break
                }
                if case .train(.matched) = kind { XCTAssertEqual(batch.row(b, classes.firstIndex(of: q)!), batch.row(b, pairs)) }
            }
        }
    }
}
