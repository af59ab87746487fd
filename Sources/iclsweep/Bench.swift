import ArgumentParser
import Foundation
import ICLKit

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the sgemm peak and training throughput on one core.")

    @Option(help: "Seconds of timed training per configuration.") var seconds = 8.0
    @Option(help: "Class counts to measure.") var classes: [Int] = [12_800, 1_600]

    func run() throws {
        if let note = ICLKit.prepareProcess() { print(note) }
        let peak = Benchmark.sgemmPeak()
        print(String(format: "sgemm peak (1024^3, 1 thread): %.1f GFLOP/s", peak))
        for k in classes {
            var config = RunConfig(data: .synthetic(SyntheticData(classes: k, exemplars: 20, dim: 512, noise: 0.1, seed: 0)),
                                   classes: k, exemplars: 20, variant: .bursty, seed: 0,
                                   sequences: 32 * 1_000_000, evalInterval: 32 * 1_000_000)
            config.evalSequences = 32
            let r = try Benchmark.training(config, seconds: seconds)
            print("\n\(Format.count(k)) classes, 20 exemplars, 512-dim inputs, batch 32 (\(Format.count(r.parameters)) parameters):")
            print(String(format: "  throughput      %8.0f sequences/s  (%d steps, %.2f ms/step)", r.sequencesPerSecond, r.steps,
                         1000 * r.secondsPerStep))
            print(String(format: "  FLOPs per step  %8.3g  -> %.1f GFLOP/s, %.0f%% of the measured peak",
                         r.flopsPerStep, r.gflops, 100 * r.gflops / peak))
            let t = r.times, total = t.total
            print(String(format: "  time split      matmul %.0f%%  softmax %.0f%%  attention %.0f%%  other (LayerNorm, embedding, Adam) %.0f%%",
                         100 * t.matmul / total, 100 * t.softmax / total, 100 * t.attention / total, 100 * t.other / total))
            print(String(format: "  of which Adam   %.0f%%", 100 * r.adamSeconds / (r.secondsPerStep * Double(r.steps))))
        }
        print(String(format: "\npeak memory (RSS): %.0f MiB", Double(peakResidentBytes()) / 1_048_576))
    }
}
