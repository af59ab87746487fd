import ArgumentParser
import ICLKit

@main
struct ICLSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iclsweep",
        abstract: "Sweeps of few-shot in-context learning runs over MPI, with one parallel HDF5 results file.",
        subcommands: [RunSweep.self, Validate.self, Status.self, Verify.self, Summarize.self, Plot.self, Train.self, Bench.self]
    )
}

extension Variant: ExpressibleByArgument {}
