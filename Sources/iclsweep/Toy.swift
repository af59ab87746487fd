import ArgumentParser
import Foundation
import ICLSupport
import ICLTraining
import ICLSweep

struct Toy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Integrate the paper's minimal model of two competing, cooperating mechanisms (Section 6, Fig. 5).",
        discussion: """
        Gradient descent on loss = (L1 + mu1)(L2 + mu2) + alpha * 0.5 * mean((a⊗d)^2), where L1 and L2 are the \
        fits of a⊗b⊗c (mechanism 1, ICL) and d⊗b⊗c (mechanism 2, CIWL) to standard-normal rank-1 targets. \
        Writes OUT.h5, OUT.csv and OUT.svg; with --results and --run the SVG shows that transformer run's \
        ICL and CIWL curves beside the toy's. Parameters come from --spec (a `toy:` section with the options' \
        names, underscores for dashes) and then from the options given.
        """)

    @Option(help: "YAML file with a `toy:` section of parameters.") var spec: String?
    @Option(help: "Length of every vector [10].") var dim: Int?
    @Option(help: "Floor of mechanism 1's loss in the product [0.05].") var mu1: Double?
    @Option(help: "Floor of mechanism 2's loss in the product [0.01].") var mu2: Double?
    @Option(help: "Weight of the cost of using both mechanisms [1].") var alpha: Double?
    @Option(name: .customLong("learning-rate"), help: "Gradient-descent step size [1].") var learningRate: Double?
    @Option(help: "Gradient steps [40000].") var steps: Int?
    @Option(name: .customLong("init-scale"), help: "Scale of the initial vectors [0.1].") var initScale: Double?
    @Option(help: "Seed of the targets and the initial vectors [0].") var seed: UInt64?
    @Option(name: .customLong("record-every"), help: "Steps between recorded points [200].") var recordEvery: Int?
    @Option(help: "Output path without extension.") var out = "out/toy"
    @Option(help: "A results file whose run to draw beside the toy.") var results: String?
    @Option(name: .customLong("run"), help: "That run's name (with --results).") var runName: String?

    func validate() throws {
        if (results == nil) != (runName == nil) { throw ValidationError("give --results and --run together") }
    }

    func run() throws {
        var p = ToyModel.Parameters()
        if let spec { p = try ToyOutput.load(path: spec, over: p) }
        if let dim { p.dim = dim }
        if let mu1 { p.mu1 = mu1 }
        if let mu2 { p.mu2 = mu2 }
        if let alpha { p.alpha = alpha }
        if let learningRate { p.learningRate = learningRate }
        if let steps { p.steps = steps }
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
        var model = ToyModel(p)
        let points: [ToyModel.Point]
        do { points = try model.run() } catch {
            throw DescribedError(description: "the toy model \(error); lower --learning-rate (now \(p.learningRate))")
        }
        let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
        try FileSystem.createFolder(folder)
        try ToyOutput.writeHDF5(points, parameters: p, to: out + ".h5")
        try FileSystem.writeAtomically(ToyOutput.csv(points), to: out + ".csv")
        try FileSystem.writeAtomically(ToyOutput.svg(points, parameters: p, beside: beside), to: out + ".svg")
        let peak = points.max { $0.explained1 < $1.explained1 }!
        let last = points.last!
        print("toy model: \(p.steps) steps; mechanism 1 (ICL) peaks at \(Format.fixed(peak.explained1)) explained at step "
              + "\(peak.step) and ends at \(Format.fixed(last.explained1)); mechanism 2 (CIWL) ends at \(Format.fixed(last.explained2)); "
              + "loss \(String(format: "%.3g", points[0].loss)) -> \(String(format: "%.3g", last.loss))")
        print("wrote \(out).h5, \(out).csv, \(out).svg")
    }
}
