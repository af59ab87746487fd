import ArgumentParser
import Foundation
import ICLSupport
import ICLTraining
import ICLSweep

struct Toy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Integrate the paper's minimal model of two competing, cooperating mechanisms (Section 6, Fig. 5).",
        discussion: """
        Gradient descent on L = (L1 + mu1)(L2 + mu2) + alpha * C, where L1 and L2 are the fits (0.5 * mean \
        squared error) of a⊗b⊗c (mechanism 1, ICL) and d⊗b⊗c (mechanism 2, CIWL) to rank-1 targets, and \
        C = 0.5 * mean over (i, l) of (a_i d_l)^2; targets and starting vectors standard normal. The defaults \
        are the authors' (coopetition_model_solver.py): dims 20,20,20,160, mu1 0.1, mu2 0, alpha 0.1, \
        learning rate 1, up to 16,000 steps, stopping once L < 1e-6. \
        Writes OUT.h5, OUT.csv and OUT.svg (Figure 5a's panel: L1 + mu1 and L2 over steps); with --results \
        and --run the SVG shows that transformer run's ICL and CIWL curves beside it. With --seeds it runs \
        each seed, says which show the transient (L1 falling at least 10x below its plateau, then back to at \
        least half of it) and where, writes OUT.seeds.md, and draws the first seed that shows it. \
        Parameters come from --spec (a `toy:` section with the options' names, underscores for dashes) and \
        then from the options given.
        """)

    @Option(help: "YAML file with a `toy:` section of parameters.") var spec: String?
    @Option(help: "Lengths of a, b, c, d [20,20,20,160].") var dims: String?
    @Option(help: "Floor of mechanism 1's loss in the product [0.1].") var mu1: Double?
    @Option(help: "Floor of mechanism 2's loss in the product [0].") var mu2: Double?
    @Option(help: "Weight of the cost of using both mechanisms [0.1].") var alpha: Double?
    @Option(name: .customLong("learning-rate"), help: "Gradient-descent step size [1].") var learningRate: Double?
    @Option(help: "At most this many gradient steps [16000].") var steps: Int?
    @Option(help: "Stop once the loss is below this [1e-6].") var threshold: Double?
    @Option(name: .customLong("init-scale"), help: "Scale of the starting vectors [1].") var initScale: Double?
    @Option(help: "Seed of the targets and the starting vectors [0].") var seed: UInt64?
    @Option(help: "Seeds to run, e.g. 0-11 or 0,3,7: a table of which show the transient.") var seeds: String?
    @Option(name: .customLong("record-every"), help: "Steps between recorded points [10].") var recordEvery: Int?
    @Option(help: "Output path without extension.") var out = "out/toy"
    @Option(help: "A results file whose run to draw beside the toy.") var results: String?
    @Option(name: .customLong("run"), help: "That run's name (with --results).") var runName: String?

    func validate() throws {
        if (results == nil) != (runName == nil) { throw ValidationError("give --results and --run together") }
        if seeds != nil && seed != nil { throw ValidationError("give --seed or --seeds, not both") }
        if let seeds, (try? Self.seedList(seeds)) == nil {
            throw ValidationError("--seeds: expected a range or a list of seeds, e.g. 0-11 or 0,3,7 (got '\(seeds)')")
        }
    }

    static func seedList(_ text: String) throws -> [UInt64] {
        struct Bad: Error {}
        let parts = text.split(separator: "-").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        if parts.count == 2, let lo = parts[0], let hi = parts[1], lo <= hi, hi - lo < 10_000 { return Array(lo...hi) }
        let list = text.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else { throw Bad() }
        return list.map { $0! }
    }

    func run() throws {
        var p = ToyModel.Parameters()
        if let spec { p = try ToyOutput.load(path: spec, over: p) }
        if let dims {
            let values = dims.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil }) else { throw ValidationError("--dims: expected four lengths, e.g. 20,20,20,160") }
            p.dims = values.map { $0! }
        }
        if let mu1 { p.mu1 = mu1 }
        if let mu2 { p.mu2 = mu2 }
        if let alpha { p.alpha = alpha }
        if let learningRate { p.learningRate = learningRate }
        if let steps { p.steps = steps }
        if let threshold { p.threshold = threshold }
        if let initScale { p.initScale = initScale }
        if let seed { p.seed = seed }
        if let recordEvery { p.recordEvery = recordEvery }
        if let problem = p.problems().first { throw ValidationError(problem) }
        var beside: (String, History)?
        if let results, let run = runName {
            let t = try ResultsFile.openForReading(results).table()
            guard let i = t.names.firstIndex(of: run) else {
                throw ValidationError("--run: no run named '\(run)' in \(results) (runs: \(t.names.prefix(8).joined(separator: ", "))\(t.count > 8 ? ", ..." : ""))")
            }
            beside = (run, t.histories[i])
        }
        func integrate(_ p: ToyModel.Parameters) throws -> [ToyModel.Point] {
            var model = ToyModel(p)
            do { return try model.run() } catch {
                throw DescribedError(description: "the toy model, seed \(p.seed), \(error); lower --learning-rate (now \(p.learningRate))")
            }
        }
        let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
        try FileSystem.createFolder(folder)
        var drawn = p
        var points: [ToyModel.Point]
        if let seeds {
            let list = try Self.seedList(seeds)
            var rows: [(seed: UInt64, points: [ToyModel.Point], transient: ToyModel.Transient?)] = []
            for s in list {
                var q = p
                q.seed = s
                let curve = try integrate(q)
                rows.append((s, curve, ToyModel.transient(curve)))
            }
            let table = ToyOutput.seedTable(rows.map { ($0.seed, $0.points, $0.transient) }, parameters: p)
            print(table, terminator: "")
            try FileSystem.writeAtomically(table, to: out + ".seeds.md")
            let shown = rows.first { $0.transient != nil } ?? rows[0]
            drawn.seed = shown.seed
            points = shown.points
        } else {
            points = try integrate(p)
        }
        try ToyOutput.writeHDF5(points, parameters: drawn, to: out + ".h5")
        try FileSystem.writeAtomically(ToyOutput.csv(points), to: out + ".csv")
        try FileSystem.writeAtomically(ToyOutput.svg(points, parameters: drawn, beside: beside), to: out + ".svg")
        let last = points.last!
        let transient = ToyModel.transient(points)
        print("toy model, seed \(drawn.seed): \(last.step) steps\(last.loss < drawn.threshold ? " (loss below \(drawn.threshold))" : ""); "
              + (transient.map { t in
                  "the transient: L1 from its plateau \(Format.fixed(t.plateau)) down to \(String(format: "%.3g", t.dipL1)) at step "
                  + "\(t.dipStep), back above half the plateau at step \(t.returnStep), \(Format.fixed(t.finalL1)) at the end"
              } ?? "no transient (L1 \(Format.fixed(points[0].l1)) -> \(Format.fixed(last.l1)))")
              + "; L2 \(String(format: "%.3g", points[0].l2)) -> \(String(format: "%.3g", last.l2))")
        print("wrote \(out).h5, \(out).csv, \(out).svg" + (seeds == nil ? "" : ", \(out).seeds.md"))
    }
}
