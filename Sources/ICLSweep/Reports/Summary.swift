import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// Summary statistics of one run's history (`experiment.md`, "What a result looks like").
public struct RunStatistics {
    public var peakICL: Double
    public var peakICLAt: Double
    public var finalICL: Double
    public var finalCIWL: Double
    public var finalIWL: Double
    public var finalFlip: Double
    /// First evaluation point after flip's maximum where flip < 0.5: when ICL
    /// stopped dominating. NaN when flip never rose to 0.5 after the initial
    /// evaluation (CIWL won from the start) or never fell back.
    public var flipBelowHalfAt: Double
    public var transience: Double { peakICL - finalICL }
    /// Induction strength on flip data of the last layer's strongest head
    /// (the head with the highest value at any point after initialisation):
    /// its peak, the sequence count there, and the first later point where
    /// it is negative (the head has turned away from the correct label
    /// token). NaN without the measures.
    public var inductionPeak = Double.nan
    public var inductionPeakAt = Double.nan
    public var inductionNegativeAt = Double.nan

    public init(_ history: History) {
        let recs = history.records.filter { !$0.accuracy.allSatisfy(\.isNaN) }
        func series(_ e: Evaluator) -> [Double] { recs.map { $0.headline(e) } }
        let icl = series(.icl), flip = series(.flip)
        let best = icl.indices.filter { !icl[$0].isNaN }.max { icl[$0] < icl[$1] || (icl[$0] == icl[$1] && $0 > $1) }
        peakICL = best.map { icl[$0] } ?? .nan
        peakICLAt = best.map { Double(recs[$0].sequences) } ?? .nan
        finalICL = icl.last ?? .nan
        finalCIWL = series(.ciwl).last ?? .nan
        finalIWL = series(.iwl).last ?? .nan
        finalFlip = flip.last ?? .nan
        flipBelowHalfAt = .nan
        let trained = flip.indices.filter { recs[$0].sequences > 0 && !flip[$0].isNaN }
        if let top = trained.max(by: { flip[$0] < flip[$1] || (flip[$0] == flip[$1] && $0 > $1) }), flip[top] >= 0.5,
           let cross = trained.first(where: { $0 > top && flip[$0] < 0.5 }) {
            flipBelowHalfAt = Double(recs[cross].sequences)
        }
        // the last layer with values, its strongest head
        let measured = recs.filter { $0.mechanism != nil }
        let after = measured.filter { $0.sequences > 0 }
        let trainedRecs = after.isEmpty ? measured : after  // an evaluate-only run: its one point
        guard let m = trainedRecs.first?.mechanism else { return }
        let layer = (0..<m.layers).last { l in trainedRecs.contains { r in (0..<m.heads).contains { !r.induction[l * m.heads + $0].isNaN } } }
        guard let layer else { return }
        var strongest: (head: Int, point: Int, value: Double)?
        for (p, r) in trainedRecs.enumerated() {
            for h in 0..<m.heads {
                let v = r.induction[layer * m.heads + h]
                if !v.isNaN, strongest == nil || v > strongest!.value { strongest = (h, p, v) }
            }
        }
        guard let strongest else { return }
        inductionPeak = strongest.value
        inductionPeakAt = Double(trainedRecs[strongest.point].sequences)
        if let turn = trainedRecs.indices.first(where: { $0 > strongest.point && trainedRecs[$0].induction[layer * m.heads + strongest.head] < 0 }) {
            inductionNegativeAt = Double(trainedRecs[turn].sequences)
        }
    }

    static let columns: [(name: String, key: String, value: (RunStatistics) -> Double)] = [
        ("peak ICL", "peak_icl", \.peakICL),
        ("seq at ICL peak", "peak_icl_sequences", \.peakICLAt),
        ("final ICL", "final_icl", \.finalICL),
        ("final CIWL", "final_ciwl", \.finalCIWL),
        ("final IWL", "final_iwl", \.finalIWL),
        ("final flip", "final_flip", \.finalFlip),
        ("flip < 0.5 at", "flip_below_half_sequences", \.flipBelowHalfAt),
        ("transience", "transience", \.transience),
        ("induction peak", "induction_peak", \.inductionPeak),
        ("seq at induction peak", "induction_peak_sequences", \.inductionPeakAt),
        ("induction < 0 at", "induction_negative_sequences", \.inductionNegativeAt),
    ]
}

/// One grid cell (every swept value but the seed), aggregated over seeds.
public struct CellSummary {
    public var classes: Int
    public var exemplars: Int
    public var variant: String
    /// Value of each of the summary's swept `axes` (canonical text).
    public var fields: [String]
    /// Runs of the cell that are done, and all of its runs.
    public var seedsDone: Int
    public var seedsTotal: Int
    public var runs: [Int]
    /// Per column: mean and standard deviation over the done seeds.
    public var mean: [Double]
    public var std: [Double]
}

/// Per-cell summaries of a results file, as Markdown and CSV.
public struct Summary {
    public let name: String
    /// Swept fields besides classes, exemplars, variants and seeds (dotted paths).
    public let axes: [String]
    public let cells: [CellSummary]
    /// Damaged done runs left out ("run 3 NAME").
    public let leftOut: [String]
    /// Every done run that is not left out, in run order: its name and statistics
    /// (a mean over seeds hides the seed that did not behave).
    public let runs: [(name: String, statistics: RunStatistics)]

    public init(_ t: ResultsTable) {
        name = t.name
        axes = t.axes
        leftOut = t.damaged.sorted().map { "run \($0) \(t.names[$0])" }
        var order: [String] = []
        var groups: [String: [Int]] = [:]
        for r in 0..<t.count {
            let key = ([String(t.classes[r]), String(t.exemplars[r]), t.variants[r]] + t.axisValues.map { $0[r] }).joined(separator: "|")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(r)
        }
        // a run is summarised once it is done, unless its rows are damaged
        let summarised = Set((0..<t.count).filter { t.statuses[$0] == .done && !t.damaged.contains($0) })
        runs = (0..<t.count).filter(summarised.contains).map { (t.names[$0], RunStatistics(t.histories[$0])) }
        cells = order.map { key in
            let runs = groups[key]!, first = runs[0]
            let done = runs.filter(summarised.contains)
            let stats = done.map { RunStatistics(t.histories[$0]) }
            var mean: [Double] = [], std: [Double] = []
            for column in RunStatistics.columns {
                let values = stats.map(column.value).filter { !$0.isNaN }
                let m = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
                let s = values.count < 2 ? .nan
                    : (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
                mean.append(m)
                std.append(s)
            }
            return CellSummary(classes: t.classes[first], exemplars: t.exemplars[first], variant: t.variants[first],
                               fields: t.axisValues.map { $0[first] }, seedsDone: done.count, seedsTotal: runs.count, runs: runs, mean: mean, std: std)
        }
    }

    private static func cell(_ m: Double, _ s: Double, sequences: Bool) -> String {
        if m.isNaN { return "-" }
        if sequences {
            let text = Format.count(Int(m.rounded()))
            return s.isNaN ? text : "\(text) ± \(Format.count(Int(s.rounded())))"
        }
        return s.isNaN ? Format.fixed(m) : "\(Format.fixed(m)) ± \(Format.fixed(s))"
    }

    public var markdown: String {
        let header = ["classes", "exemplars", "variant"] + axes + ["seeds"] + RunStatistics.columns.map(\.name)
        var lines = ["## \(name): mean ± sd over seeds", "",
                     "| " + header.joined(separator: " | ") + " |",
                     "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
        for c in cells {
            var row = [String(c.classes), String(c.exemplars), c.variant] + c.fields + ["\(c.seedsDone)/\(c.seedsTotal)"]
            for (i, column) in RunStatistics.columns.enumerated() {
                row.append(Summary.cell(c.mean[i], c.std[i], sequences: column.key.hasSuffix("sequences")))
            }
            lines.append("| " + row.joined(separator: " | ") + " |")
        }
        if !runs.isEmpty {
            let header = ["run"] + RunStatistics.columns.map(\.name)
            lines += ["", "## \(name): every run", "",
                      "| " + header.joined(separator: " | ") + " |",
                      "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
            for run in runs {
                let values = RunStatistics.columns.map {
                    Summary.cell($0.value(run.statistics), .nan, sequences: $0.key.hasSuffix("sequences"))
                }
                lines.append("| " + ([run.name] + values).joined(separator: " | ") + " |")
            }
        }
        let partial = cells.filter { $0.seedsDone < $0.seedsTotal }.count
        if partial > 0 {
            lines += ["", "\(partial) of \(cells.count) cells are partial: 'seeds' counts the finished runs in each."]
        }
        if !leftOut.isEmpty {
            lines += ["", "Left out, their rows failing their checksum (`iclsweep verify`): " + leftOut.joined(separator: ", ") + "."]
        }
        lines += ["", "ICL, CIWL and flip are in-context accuracies; IWL is plain accuracy. Each statistic is over the seeds "
                  + "where it is defined. '-': not measured (no finished seed, or an evaluator that does not apply, as for "
                  + "icl_only), or for 'flip < 0.5 at', flip never rose above 0.5 after initialisation or never fell back. "
                  + "Induction: on flip data, the last layer's strongest head's attention from the query to the label token "
                  + "after the matching exemplar minus that to the other label tokens; '< 0 at': the first point after its "
                  + "peak where it is negative ('-': never)."]
        return lines.joined(separator: "\n")
    }

    public var csv: String {
        var header = ["classes", "exemplars", "variant"] + axes + ["seeds_done", "seeds_total"]
        for column in RunStatistics.columns { header += ["\(column.key)_mean", "\(column.key)_std"] }
        var lines = [header.joined(separator: ",")]
        for c in cells {
            var row = [String(c.classes), String(c.exemplars), c.variant] + c.fields + [String(c.seedsDone), String(c.seedsTotal)]
            for i in RunStatistics.columns.indices {
                row += [c.mean[i].isNaN ? "" : "\(c.mean[i])", c.std[i].isNaN ? "" : "\(c.std[i])"]
            }
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `RESULTS.summary.md` and `RESULTS.summary.csv` (`.h5` dropped).
    public static func paths(besides results: String) -> (markdown: String, csv: String) {
        let p = ResultsPaths(results)
        return (p.summaryMarkdown, p.summaryCSV)
    }

    @discardableResult
    public func write(besides results: String) throws -> [String] {
        let p = Summary.paths(besides: results)
        try FileSystem.writeAtomically(markdown + "\n", to: p.markdown)
        try FileSystem.writeAtomically(csv, to: p.csv)
        return [p.markdown, p.csv]
    }
}
