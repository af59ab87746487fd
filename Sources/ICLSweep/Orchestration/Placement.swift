import Foundation
import ICLSupport
import ICLTraining

/// Whether the job can give every run the ranks it asks for
/// (`training.ranks`): a gang's ranks are workers on one node (or of the
/// whole job with `run --gangs-across-nodes`). Checked
/// by rank 0 before anything is created; a run that cannot be placed is
/// refused at the line where its ranks are set.
enum Placement {
    static func check(_ spec: SweepSpec, workersPerNode: [Int], processes: Int) throws {
        let workers = workersPerNode.reduce(0, +), largest = workersPerNode.max() ?? 0
        func refuse(_ ranks: Int, run: String, at reader: SpecReader?) throws {
            let problem: String
            if ranks > workers {
                problem = "run \(run) asks for \(ranks) ranks, and this job has \(workers) training rank\(workers == 1 ? "" : "s") ("
                    + (processes == 1 ? "one process" : "\(processes) processes: rank 0 coordinates, the others train")
                    + "); start at least \(ranks + 1) processes, or lower training.ranks"
            } else {
                problem = "run \(run) asks for \(ranks) ranks on one node, and the largest node has \(largest) training rank"
                    + "\(largest == 1 ? "" : "s") (nodes: \(workersPerNode.map(String.init).joined(separator: ", "))); "
                    + "lower training.ranks, give the job nodes with more ranks, or let gangs span nodes (run --gangs-across-nodes)"
            }
            let place = reader ?? spec.given["training.ranks"]
            throw place?.error(problem) ?? SpecError(file: spec.file, line: nil, field: "training.ranks", message: problem)
        }
        let seeds = spec.grid.seedCount
        for cell in 0..<spec.grid.cellCount {
            let run = spec.grid[cell * seeds]
            if run.config.rankCount > largest { try refuse(run.config.rankCount, run: run.name, at: nil) }
        }
        for n in spec.runs.named where n.config.rankCount > largest {
            try refuse(n.config.rankCount, run: n.name, at: n.keyReaders["training.ranks"] ?? n.reader)
        }
    }
}
