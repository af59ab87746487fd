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
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Every rank of a job has the same arguments, so every rank finds
            // the same mistake: rank 0 alone says it. The others wait a
            // moment first, since mpirun ends the job at the first failed exit.
            if let rank = launchedRank, rank != 0 {
                usleep(500_000)
                Foundation.exit(exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
        do {
            try command.run()
        } catch {
            exit(withError: isFoundationError(error) ? DescribedError(description: describe(error)) : error)
        }
    }

    /// This process's rank when a launcher started it (OpenMPI, PMIx, MPICH);
    /// nil for a process started alone.
    static var launchedRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
    }
}

struct DescribedError: Error, CustomStringConvertible {
    let description: String
}

extension Variant: ExpressibleByArgument {}
extension PositionalEncoding: ExpressibleByArgument {}
