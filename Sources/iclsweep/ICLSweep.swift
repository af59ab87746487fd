import ArgumentParser
import Foundation
import ICLSupport
import ICLData
import ICLModel
import ICLSweep

@main
struct ICLSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iclsweep",
        abstract: "Sweeps of few-shot in-context learning runs over MPI, with one parallel HDF5 results file.",
        subcommands: [RunSweep.self, Validate.self, Status.self, Verify.self, Summarize.self, Plot.self, Train.self, Toy.self, Bench.self, Fields.self]
    )

    /// Runs the command; an error from Foundation or the system prints as one
    /// line ("PATH: reason"), not as `NSCocoaErrorDomain Code=516 ...`.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: isFoundationError(error) ? DescribedError(description: describe(error)) : error)
        }
    }
}

struct DescribedError: Error, CustomStringConvertible {
    let description: String
}

extension Variant: ExpressibleByArgument {}
extension PositionalEncoding: ExpressibleByArgument {}
