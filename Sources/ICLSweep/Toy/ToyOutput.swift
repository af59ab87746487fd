import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLTraining
import Yams

/// `iclsweep toy`'s spec and outputs: the minimal model's parameters from a
/// YAML file (`toy:` section, the CLI's option names with underscores), its
/// curves as HDF5 and CSV, and an SVG beside a transformer run's curves.
public enum ToyOutput {
    static let keys = ["dims", "mu1", "mu2", "alpha", "learning_rate", "steps", "threshold", "init_scale", "seed", "record_every"]

    /// Parameters from `toy:` in a YAML file, over `base`; errors name the file, line and field.
    public static func load(path: String, over base: ToyModel.Parameters) throws -> ToyModel.Parameters {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, line: nil, field: "", message: "cannot read the file")
        }
        let node: Node
        do {
            guard let n = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) else {
                throw SpecError(file: path, line: nil, field: "", message: "the spec is empty")
            }
            node = n
        } catch let e as SpecError { throw e } catch {
            throw SpecError(file: path, line: nil, field: "", message: "not valid YAML: \(error)")
        }
        let top = try SpecReader(file: path, node: node, path: "").mapping(allowed: ["toy"])
        guard let toy = top["toy"] else { throw SpecError(file: path, line: nil, field: "toy", message: "missing (required)") }
        var p = base
        for (key, r) in try toy.mapping(allowed: keys) {
            func number() throws -> Double {
                let v = try r.double()
                guard v.isFinite else { throw r.error("must be a finite number, got \(v)") }
                return v
            }
            switch key {
            case "dims":
                guard let items = r.node.sequence else { throw r.error("expected four lengths, e.g. [20, 20, 20, 160]") }
                p.dims = try items.enumerated().map { try SpecReader(file: r.file, node: $1, path: "\(r.path)[\($0)]").positiveInt() }
            case "mu1": p.mu1 = try number()
            case "mu2": p.mu2 = try number()
            case "alpha": p.alpha = try number()
            case "learning_rate": p.learningRate = try number()
            case "steps": p.steps = try r.positiveInt()
            case "threshold": p.threshold = try number()
            case "init_scale": p.initScale = try number()
            case "seed": p.seed = try r.seed()
            default: p.recordEvery = try r.positiveInt()
            }
            let field = key.replacingOccurrences(of: "_", with: "-")
            if let problem = p.problems().first(where: { $0.hasPrefix(field) }) { throw r.error(problem) }
        }
        return p
    }

    /// Which seeds show the transient, and where (Markdown).
    public static func seedTable(_ rows: [(seed: UInt64, points: [ToyModel.Point], transient: ToyModel.Transient?)],
                                 parameters p: ToyModel.Parameters) -> String {
        var lines = ["Minimal model, dims \(p.dims.map(String.init).joined(separator: ",")), mu1 \(p.mu1), mu2 \(p.mu2), "
                     + "alpha \(p.alpha), learning rate \(p.learningRate), up to \(p.steps) steps (stop at loss < \(p.threshold)), "
                     + "init scale \(p.initScale). Transient: L1 falls at least 10x below its plateau (its highest value from step 50 "
                     + "to its lowest point), then returns to at least half of it.", "",
                     "| seed | steps run | plateau L1 | lowest L1 | at step | back above half at step | final L1 | final L2 | transient |",
                     "|---|---|---|---|---|---|---|---|---|"]
        for r in rows {
            let last = r.points.last!
            let low = r.points.filter { $0.step >= 50 }.min { $0.l1 < $1.l1 } ?? last
            let t = r.transient
            lines.append("| \(r.seed) | \(last.step)\(last.loss < p.threshold ? " (converged)" : "") | "
                         + (t.map { String(format: "%.3f", $0.plateau) } ?? "-") + " | "
                         + String(format: "%.3g", low.l1) + " | \(low.step) | " + (t.map { "\($0.returnStep)" } ?? "-") + " | "
                         + String(format: "%.3f", last.l1) + " | " + String(format: "%.2g", last.l2) + " | \(t == nil ? "no" : "yes") |")
        }
        let shown = rows.filter { $0.transient != nil }.count
        lines += ["", "\(shown) of \(rows.count) seeds show the transient; "
                  + "\(rows.filter { $0.points.last!.loss < p.threshold }.count) converge within \(p.steps) steps.", ""]
        return lines.joined(separator: "\n")
    }

    static let columns = ["step", "loss", "l1", "l2", "cost", "norm_a", "norm_d", "explained1", "explained2"]

    static func values(_ p: ToyModel.Point) -> [Double] {
        [Double(p.step), p.loss, p.l1, p.l2, p.cost, p.normA, p.normD, p.explained1, p.explained2]
    }

    public static func csv(_ points: [ToyModel.Point]) -> String {
        ([columns.joined(separator: ",")] + points.map { values($0).map { "\($0)" }.joined(separator: ",") })
            .joined(separator: "\n") + "\n"
    }

    /// `toy/<column>` datasets and the parameters (JSON) as an attribute; written atomically.
    public static func writeHDF5(_ points: [ToyModel.Point], parameters: ToyModel.Parameters, to path: String) throws {
        let tmp = path + ".tmp"
        do {
            let file = try H5File.create(tmp)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try file.setAttribute("parameters", String(decoding: try encoder.encode(parameters), as: UTF8.self))
            for (i, name) in columns.enumerated() {
                try file.write("toy/\(name)", points.map { values($0)[i] }, shape: [points.count])
            }
            try file.flush()
        }
        try FileSystem.rename(tmp, to: path)
    }

    /// Figure 5a's panel: L1 + mu1 (mechanism 1, ICL) and L2 (mechanism 2,
    /// CIWL) over steps; with `beside`, a transformer run's ICL and CIWL
    /// accuracy and training loss over sequences next to it.
    public static func svg(_ points: [ToyModel.Point], parameters p: ToyModel.Parameters,
                           beside: (name: String, history: History)? = nil) -> String {
        let w = 420.0, h = 260.0
        func panel(x0: Double, title: String, xMax: Double, xLabel: String, yMax: Double,
                   series: [(name: String, color: String, points: [(x: Double, y: Double)])]) -> String {
            let y0 = 50.0
            var out = Plotter.frame(x0: x0, y0: y0, w: w, h: h, xMax: xMax, yRange: 0...yMax,
                                    ticks: (0...4).map { yMax * Double($0) / 4 }, title: title, yTitle: "")
            out += "<text x='\(x0 + w / 2)' y='\(y0 + h + 34)' font-size='12' text-anchor='middle'>\(xLabel)</text>\n"
            for (i, s) in series.enumerated() {
                out += Plotter.line(s.points, x0: x0, y0: y0, w: w, h: h, xMax: max(xMax, 1), yRange: 0...yMax, color: s.color)
                let ly = y0 + h + 56 + Double(i) * 17
                out += "<line x1='\(x0)' x2='\(x0 + 22)' y1='\(ly - 4)' y2='\(ly - 4)' stroke='\(s.color)' stroke-width='3'/>"
                out += "<text x='\(x0 + 28)' y='\(ly)' font-size='12'>\(s.name)</text>\n"
            }
            return out
        }
        let top = points.map { max($0.l1 + p.mu1, $0.l2) }.filter(\.isFinite).max() ?? 1
        let yMax = (top * 4).rounded(.up) / 4
        var body = panel(x0: 60, title: "minimal model, seed \(p.seed): dims \(p.dims.map(String.init).joined(separator: ",")), "
                         + "mu1 \(p.mu1), mu2 \(p.mu2), alpha \(p.alpha)",
                         xMax: Double(points.last?.step ?? p.steps), xLabel: "gradient steps", yMax: max(yMax, 0.25), series: [
            ("mechanism 1 (ICL): L1 + mu1", "#1f77b4", points.map { (Double($0.step), $0.l1 + p.mu1) }),
            ("mechanism 2 (CIWL): L2", "#d62728", points.map { (Double($0.step), $0.l2) }),
        ])
        var width = 60 + w + 40
        if let (name, history) = beside {
            let r = history.records
            let firstLoss = r.map(\.trainLoss).first { !$0.isNaN } ?? 1
            body += panel(x0: width + 60, title: "transformer run \(name)", xMax: Double(r.last?.sequences ?? 1),
                          xLabel: "training sequences", yMax: 1, series: [
                ("icl (in-context accuracy)", "#1f77b4", r.map { (Double($0.sequences), $0.headline(.icl)) }),
                ("ciwl (in-context accuracy)", "#d62728", r.map { (Double($0.sequences), $0.headline(.ciwl)) }),
                ("train loss / first", "#7f7f7f", r.map { (Double($0.sequences), $0.trainLoss / firstLoss) }),
            ])
            width += 60 + w + 40
        }
        return Plotter.document(width: width, height: 50 + h + 120, body)
    }
}
