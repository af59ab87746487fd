import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining

/// SVG figures in the style of the paper's Figure 1b: each evaluator's
/// accuracy against sequences seen, mean over seeds with a ±1 sd band.
public struct Plotter {
    let table: ResultsTable
    let summary: Summary

    public init(_ table: ResultsTable) {
        self.table = table
        summary = Summary(table)
    }

    static let colors: [Evaluator: String] = [
        .train: "#7f7f7f", .icl: "#1f77b4", .iwl: "#2ca02c", .ciwl: "#d62728", .flip: "#9467bd", .trainVariant: "#bcbd22",
    ]

    /// Mean and sd of an evaluator's headline accuracy over `runs`, per point.
    func series(_ runs: [Int], _ e: Evaluator) -> [(x: Double, mean: Double, sd: Double)] {
        table.points.indices.compactMap { p in
            let values = runs.compactMap { table.histories[$0].record(at: table.points[p])?.headline(e) }.filter { !$0.isNaN }
            guard !values.isEmpty else { return nil }
            let m = values.reduce(0, +) / Double(values.count)
            let sd = values.count < 2 ? 0 : (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
            return (Double(table.points[p]), m, sd)
        }
    }

    /// The named run a cell is (`runs:` entries), or nil for a grid cell.
    func named(_ c: CellSummary) -> String? {
        guard let i = summary.axes.firstIndex(of: "run"), c.fields[i] != "-" else { return nil }
        return c.fields[i]
    }

    /// The cell in words; `compact` (overview panels): the run-name tags.
    func title(_ c: CellSummary, compact: Bool = false) -> String {
        let seeds = "(\(c.runs.count) seed\(c.runs.count == 1 ? "" : "s"))"
        if let name = named(c) { return "\(name), \(c.variant) \(seeds)" }
        if compact {
            let fields = zip(summary.axes, c.fields).map { " \(SpecField.byPath[$0]?.tag ?? $0)\($1)" }.joined()
            return "K\(c.classes) E\(c.exemplars) \(c.variant)\(fields) \(seeds)"
        }
        let fields = zip(summary.axes, c.fields).map { ", \($0.split(separator: ".").last!) \($1)" }.joined()
        return "\(Format.count(c.classes)) classes, \(c.exemplars) exemplars, \(c.variant)\(fields) \(seeds)"
    }

    /// The figure rows' key: every swept value but the variant.
    func row(_ c: CellSummary) -> String { ([String(c.classes), String(c.exemplars)] + c.fields).joined(separator: "|") }

    /// `K64-E8-bursty-lr0.0003.svg`: the run name's tags, without the seed.
    func fileName(_ c: CellSummary) -> String {
        if let name = named(c) { return "\(name).svg" }
        let fields = zip(summary.axes, c.fields).map { "-\(SpecField.byPath[$0]?.tag ?? $0)\($1)" }.joined()
        return "K\(c.classes)-E\(c.exemplars)-\(c.variant)\(fields).svg"
    }

    /// One panel at (x0, y0) of size w x h; `full` adds axis titles and legend.
    /// `run`: that one run of the cell alone, titled by its name.
    func panel(_ cell: CellSummary, run: Int? = nil, x0: Double, y0: Double, w: Double, h: Double, full: Bool) -> String {
        let xMax = Double(max(table.points.last ?? 1, 1))
        func px(_ x: Double) -> Double { x0 + x / xMax * w }
        func py(_ y: Double) -> Double { y0 + (1 - y) * h }
        var out = "<rect x='\(x0)' y='\(y0)' width='\(w)' height='\(h)' fill='none' stroke='#444'/>\n"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            out += "<line x1='\(x0)' x2='\(x0 + w)' y1='\(py(tick))' y2='\(py(tick))' stroke='#ddd'/>"
            out += "<text x='\(x0 - 6)' y='\(py(tick) + 4)' font-size='11' text-anchor='end'>\(String(format: "%.2f", tick))</text>\n"
        }
        out += "<line x1='\(x0)' x2='\(x0 + w)' y1='\(py(0.5))' y2='\(py(0.5))' stroke='#aaa' stroke-dasharray='4 3'/>\n"
        for i in 0...4 {
            let x = xMax * Double(i) / 4
            out += "<text x='\(px(x))' y='\(y0 + h + 15)' font-size='11' text-anchor='middle'>\(Plotter.shortCount(x))</text>\n"
        }
        for e in Evaluator.allCases {
            let s = series(run.map { [$0] } ?? cell.runs, e)
            guard !s.isEmpty, let color = Plotter.colors[e] else { continue }
            let upper = s.map { "\(px($0.x)),\(py(min(1, $0.mean + $0.sd)))" }
            let lower = s.reversed().map { "\(px($0.x)),\(py(max(0, $0.mean - $0.sd)))" }
            out += "<polygon points='\((upper + lower).joined(separator: " "))' fill='\(color)' fill-opacity='0.18' stroke='none'/>\n"
            out += "<polyline points='\(s.map { "\(px($0.x)),\(py($0.mean))" }.joined(separator: " "))' fill='none' stroke='\(color)' stroke-width='2'/>\n"
        }
        let heading = run.map { table.names[$0] } ?? title(cell, compact: !full && !summary.axes.isEmpty)
        out += "<text x='\(x0 + w / 2)' y='\(y0 - 8)' font-size='\(full ? 15 : 12)' text-anchor='middle'>\(heading)</text>\n"
        if full {
            out += "<text x='\(x0 + w / 2)' y='\(y0 + h + 36)' font-size='13' text-anchor='middle'>training sequences seen</text>\n"
            out += "<text x='\(x0 - 46)' y='\(y0 + h / 2)' font-size='13' text-anchor='middle' transform='rotate(-90 \(x0 - 46) \(y0 + h / 2))'>accuracy</text>\n"
            out += legend(x: x0 + w + 16, y: y0 + 10)
        }
        return out
    }

    func legend(x: Double, y: Double) -> String {
        var out = ""
        for (i, e) in Evaluator.allCases.enumerated() {
            let yy = y + Double(i) * 20
            let label = e.headlineIsInContext ? "\(e.rawValue) (in-context)" : e.rawValue
            out += "<line x1='\(x)' x2='\(x + 22)' y1='\(yy)' y2='\(yy)' stroke='\(Plotter.colors[e]!)' stroke-width='3'/>"
            out += "<text x='\(x + 28)' y='\(yy + 4)' font-size='12'>\(label)</text>\n"
        }
        let below = y + Double(Evaluator.allCases.count) * 20 + 8
        return out + "<text x='\(x)' y='\(below)' font-size='11' fill='#555'>line: mean over seeds</text>"
            + "<text x='\(x)' y='\(below + 15)' font-size='11' fill='#555'>band: ±1 sd</text>\n"
    }

    static func shortCount(_ x: Double) -> String {
        if x >= 1e6 { return String(format: "%gM", (x / 1e5).rounded() / 10) }
        if x >= 1e3 { return String(format: "%gk", (x / 1e2).rounded() / 10) }
        return String(Int(x))
    }

    static func document(width: Double, height: Double, _ body: String) -> String {
        "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' viewBox='0 0 \(Int(width)) \(Int(height))' "
            + "font-family='Helvetica, Arial, sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n\(body)</svg>\n"
    }

    public func cellFigure(_ cell: CellSummary) -> String {
        var body = panel(cell, x0: 70, y0: 40, w: 480, h: 320, full: true)
        guard let m = mechanism(cell) else { return Plotter.document(width: 760, height: 420, body) }
        body += inductionPanel(cell, m, x0: 70, y0: 450, w: 480, h: 200)
        body += attentionPanel(cell, m, x0: 70, y0: 720, w: 480, h: 200)
        return Plotter.document(width: 760, height: 970, body)
    }

    // MARK: - Mechanism panels (the paper's Fig. 2a and 3a)

    /// The cell's mechanism shape and the last layer with values, when measured.
    func mechanism(_ cell: CellSummary) -> (shape: MechanismShape, layer: Int)? {
        let records = cell.runs.flatMap { table.histories[$0].records }.filter { $0.mechanism != nil }
        guard let m = records.first?.mechanism else { return nil }
        let layer = (0..<m.layers).last { l in records.contains { r in (0..<m.heads).contains { !r.induction[l * m.heads + $0].isNaN } } }
        return layer.map { (m, $0) }
    }

    /// Mean over the cell's runs of `value(record)` per point (NaN-free points only).
    func meanSeries(_ cell: CellSummary, _ value: (EvalRecord) -> Double) -> [(x: Double, y: Double)] {
        table.points.indices.compactMap { p in
            let values = cell.runs.compactMap { table.histories[$0].record(at: table.points[p]).map(value) }.filter { !$0.isNaN }
            return values.isEmpty ? nil : (Double(table.points[p]), values.reduce(0, +) / Double(values.count))
        }
    }

    func frame(x0: Double, y0: Double, w: Double, h: Double, yRange: ClosedRange<Double>, ticks: [Double],
               title: String, yTitle: String) -> String {
        Plotter.frame(x0: x0, y0: y0, w: w, h: h, xMax: Double(max(table.points.last ?? 1, 1)), yRange: yRange, ticks: ticks,
                      title: title, yTitle: yTitle)
    }

    func line(_ s: [(x: Double, y: Double)], x0: Double, y0: Double, w: Double, h: Double, yRange: ClosedRange<Double>,
              color: String, dash: Bool = false) -> String {
        Plotter.line(s, x0: x0, y0: y0, w: w, h: h, xMax: Double(max(table.points.last ?? 1, 1)), yRange: yRange,
                     color: color, dash: dash)
    }

    /// A panel's box, y grid and ticks, x ticks from 0 to `xMax`, title and y title.
    static func frame(x0: Double, y0: Double, w: Double, h: Double, xMax: Double, yRange: ClosedRange<Double>, ticks: [Double],
                      title: String, yTitle: String) -> String {
        func py(_ y: Double) -> Double { y0 + (yRange.upperBound - y) / (yRange.upperBound - yRange.lowerBound) * h }
        var out = "<rect x='\(x0)' y='\(y0)' width='\(w)' height='\(h)' fill='none' stroke='#444'/>\n"
        for tick in ticks {
            out += "<line x1='\(x0)' x2='\(x0 + w)' y1='\(py(tick))' y2='\(py(tick))' stroke='\(tick == 0 ? "#aaa" : "#ddd")'/>"
            out += "<text x='\(x0 - 6)' y='\(py(tick) + 4)' font-size='11' text-anchor='end'>\(String(format: "%.2f", tick))</text>\n"
        }
        for i in 0...4 {
            let x = xMax * Double(i) / 4
            out += "<text x='\(x0 + Double(i) / 4 * w)' y='\(y0 + h + 15)' font-size='11' text-anchor='middle'>\(Plotter.shortCount(x))</text>\n"
        }
        out += "<text x='\(x0 + w / 2)' y='\(y0 - 8)' font-size='13' text-anchor='middle'>\(title)</text>\n"
        out += "<text x='\(x0 - 46)' y='\(y0 + h / 2)' font-size='12' text-anchor='middle' transform='rotate(-90 \(x0 - 46) \(y0 + h / 2))'>\(yTitle)</text>\n"
        return out
    }

    /// One series as a polyline in a panel (values clamped to `yRange`; NaN points left out).
    static func line(_ s: [(x: Double, y: Double)], x0: Double, y0: Double, w: Double, h: Double, xMax: Double,
                     yRange: ClosedRange<Double>, color: String, dash: Bool = false) -> String {
        let s = s.filter { !$0.y.isNaN }
        guard !s.isEmpty else { return "" }
        let points = s.map { "\(x0 + $0.x / xMax * w),\(y0 + (yRange.upperBound - min(max($0.y, yRange.lowerBound), yRange.upperBound)) / (yRange.upperBound - yRange.lowerBound) * h)" }
        return "<polyline points='\(points.joined(separator: " "))' fill='none' stroke='\(color)' stroke-width='1.6'\(dash ? " stroke-dasharray='5 3'" : "")/>\n"
    }

    static let headColors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                             "#bcbd22", "#17becf"]

    /// Induction strength of each head of the last layer on flip data.
    func inductionPanel(_ cell: CellSummary, _ m: (shape: MechanismShape, layer: Int), x0: Double, y0: Double, w: Double, h: Double) -> String {
        let range = -1.0...1.0
        var out = frame(x0: x0, y0: y0, w: w, h: h, yRange: range, ticks: [-1, -0.5, 0, 0.5, 1],
                        title: "induction strength of layer \(m.layer)'s heads on flip (mean over seeds)", yTitle: "correct - other label")
        for head in 0..<m.shape.heads {
            let s = meanSeries(cell) { r in r.mechanism == nil ? .nan : r.induction[m.layer * m.shape.heads + head] }
            out += line(s, x0: x0, y0: y0, w: w, h: h, yRange: range, color: Plotter.headColors[head % Plotter.headColors.count])
        }
        out += "<text x='\(x0 + w + 16)' y='\(y0 + 14)' font-size='12'>one line per head</text>\n"
        return out
    }

    /// Where the last layer's heads (mean over heads) send the query's attention:
    /// label tokens, exemplar tokens, the query itself; on flip (solid) and ciwl (dashed).
    func attentionPanel(_ cell: CellSummary, _ m: (shape: MechanismShape, layer: Int), x0: Double, y0: Double, w: Double, h: Double) -> String {
        let range = 0.0...1.0, shape = m.shape, T = shape.tokens
        var out = frame(x0: x0, y0: y0, w: w, h: h, yRange: range, ticks: [0, 0.25, 0.5, 0.75, 1],
                        title: "layer \(m.layer): attention from the query (mean over heads and seeds)", yTitle: "attention")
        let groups: [(name: String, color: String, positions: (Int) -> Bool)] = [
            ("label tokens", "#d62728", { $0 % 2 == 1 }), ("exemplar tokens", "#1f77b4", { $0 % 2 == 0 && $0 < T - 1 }),
            ("the query", "#7f7f7f", { $0 == T - 1 })]
        for (s, set) in Mechanism.sets.enumerated() {
            for g in groups {
                let series = meanSeries(cell) { r -> Double in
                    guard let rm = r.mechanism else { return .nan }
                    var total = 0.0
                    for head in 0..<rm.heads {
                        for t in 0..<rm.tokens where g.positions(t) {
                            total += r.attention[((s * rm.layers + m.layer) * rm.heads + head) * rm.tokens + t]
                        }
                    }
                    return total / Double(rm.heads)
                }
                out += line(series, x0: x0, y0: y0, w: w, h: h, yRange: range, color: g.color, dash: set == .ciwl)
            }
        }
        for (i, g) in groups.enumerated() {
            let y = y0 + 14 + Double(i) * 18
            out += "<line x1='\(x0 + w + 16)' x2='\(x0 + w + 36)' y1='\(y - 4)' y2='\(y - 4)' stroke='\(g.color)' stroke-width='2'/>"
            out += "<text x='\(x0 + w + 42)' y='\(y)' font-size='12'>\(g.name)</text>\n"
        }
        out += "<text x='\(x0 + w + 16)' y='\(y0 + 74)' font-size='11' fill='#555'>solid: flip set, dashed: ciwl set</text>\n"
        return out
    }

    /// Every cell in one figure: rows are (classes, exemplars, swept fields), columns variants.
    public func overview() -> String {
        let variants = summary.cells.reduce(into: [String]()) { if !$0.contains($1.variant) { $0.append($1.variant) } }
        var rows: [String] = []
        for c in summary.cells where !rows.contains(row(c)) { rows.append(row(c)) }
        let w = 260.0, h = 170.0, gapX = 70.0, gapY = 60.0
        var body = "<text x='20' y='24' font-size='16'>\(table.name): accuracy against training sequences, mean over seeds ± 1 sd</text>\n"
        for c in summary.cells {
            let col = Double(variants.firstIndex(of: c.variant)!), r = Double(rows.firstIndex(of: row(c))!)
            body += panel(c, x0: 60 + col * (w + gapX), y0: 60 + r * (h + gapY), w: w, h: h, full: false)
        }
        let width = 60 + Double(variants.count) * (w + gapX) + 170
        body += legend(x: width - 180, y: 70)
        return Plotter.document(width: width, height: 60 + Double(rows.count) * (h + gapY) + 10, body)
    }

    /// The cell's runs one panel each (two columns), so that no seed is
    /// averaged away: ICL peaks at a different time on each.
    public func seedsFigure(_ cell: CellSummary) -> String {
        let w = 300.0, h = 180.0, gapX = 70.0, gapY = 60.0
        var body = "<text x='20' y='24' font-size='16'>\(title(cell)): every seed</text>\n"
        for (i, run) in cell.runs.enumerated() {
            let col = Double(i % 2), r = Double(i / 2)
            body += panel(cell, run: run, x0: 60 + col * (w + gapX), y0: 60 + r * (h + gapY), w: w, h: h, full: false)
        }
        let width = 60 + 2 * (w + gapX) + 170
        body += legend(x: width - 180, y: 70).replacingOccurrences(of: "line: mean over seeds", with: "one run per panel")
        return Plotter.document(width: width, height: 60 + Double((cell.runs.count + 1) / 2) * (h + gapY) + 10, body)
    }

    /// Writes `FOLDER/overview.svg`, one SVG per cell and, for a cell of
    /// several seeds, one with a panel per seed (`CELL-seeds.svg`); returns the paths.
    public func write(to folder: String) throws -> [String] {
        try FileSystem.createFolder(folder)
        var paths: [String] = []
        let overviewPath = folder + "/overview.svg"
        try FileSystem.writeAtomically(overview(), to: overviewPath)
        paths.append(overviewPath)
        for c in summary.cells {
            let path = folder + "/" + fileName(c)
            try FileSystem.writeAtomically(cellFigure(c), to: path)
            paths.append(path)
            guard c.runs.count > 1 else { continue }
            let seedsPath = String(path.dropLast(4)) + "-seeds.svg"
            try FileSystem.writeAtomically(seedsFigure(c), to: seedsPath)
            paths.append(seedsPath)
        }
        return paths
    }
}
