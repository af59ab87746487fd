import Foundation
import ICLSupport

/// What rank 0 decided before anything was opened, shared with every rank.
/// It does not grow with the grid: the list of runs to do stays on rank 0.
struct StartVerdict: Codable {
    var error: String?
    var specText = ""
    package var create = false
    var todoCount = 0
    var total = 0
    /// Rank 0's host and arithmetic (`Kernels.arithmetic`), which every node compares with its own.
    var host = ""
    var arithmetic = ""
    /// The token of rank 0's claim, which a worker's error record names (`SweepOutcome.claim`).
    var claim = ""
}

/// Rank 0's start-up decision: the shared verdict, the runs to do (ids,
/// in hand-out order) and the claim on the results file it holds.
struct StartDecision {
    var verdict = StartVerdict()
    var todo: [Int] = []
    /// The dependencies and priorities the order was made from (rank 0; nil on an error).
    var graph: RunGraph?
    var claim: ResultsClaim?

    /// Everything that can be checked before the results file is created or
    /// opened, in order: the spec, the results path, the ranks runs ask for, the features of a new
    /// sweep (before any folder is made), the claim, the existing file (spec
    /// unchanged, statuses known, damage when asked), the features of a
    /// resumed one; last, the outcome file is marked `running`. Any problem
    /// becomes `verdict.error`, and nothing but folders is left behind.
    static func make(specPath: String, options: SweepRunner.Options, layout: NodeLayout, log: (String) -> Void) -> StartDecision {
        var d = StartDecision()
        do {
            let spec = try SweepSpec.load(path: specPath)
            d.verdict.specText = spec.text
            d.verdict.total = spec.runs.count
            let path = spec.results
            try checkResultsPath(spec)
            try Placement.check(spec, workersPerNode: layout.workersPerNode, processes: layout.nodeOf.count)
            let exists = FileManager.default.fileExists(atPath: path)
            if !exists { try checkFeatures(spec) }
            try createFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path, for: "the results")
            d.claim = try ResultsClaim.acquire(results: path, log: log)

            var todo: [Int]
            if exists {
                let existing: ResultsFile
                do { existing = try ResultsFile.openForReading(path) }
                catch { throw StartError("cannot read the existing results file \(path): \(describe(error))") }
                let stored = try SweepSpec.parse(try existing.spec(), file: specPath)  // as if it sat where the new spec sits
                let differences = spec.differences(from: stored)
                if !differences.isEmpty {
                    throw StartError("\(specPath) differs from the spec stored in \(path); refusing to mix results. "
                        + "Differing fields (stored -> new): " + differences.joined(separator: "; ")
                        + ". Use a new results path for a new sweep.")
                }
                let statuses = try existing.statuses()
                todo = statuses.indices.filter { !statuses[$0].isFinal || (options.retryFailed && statuses[$0] != .done) }
                if options.rerunDamaged {
                    let damaged = try existing.verify().map(\.run)
                    if !damaged.isEmpty {
                        log("re-running \(damaged.count) damaged run\(damaged.count == 1 ? "" : "s") (from their final checkpoints where intact): "
                            + damaged.prefix(10).map(String.init).joined(separator: ", ") + (damaged.count > 10 ? ", ..." : ""))
                    }
                    todo = Array(Set(todo).union(damaged))
                }
            } else {
                unlink(spec.paths.partial)  // a creation that was cut short
                d.verdict.create = true
                todo = Array(0..<spec.runs.count)
            }
            if !todo.isEmpty {
                if exists { try checkFeatures(spec) }
                try createFolder(spec.paths.checkpoints, for: "the checkpoints")
            }
            let graph = RunGraph(spec.runs, costs: spec.runCosts(wall: true))
            d.graph = graph
            d.todo = spec.schedule(of: todo, graph: graph)
            d.verdict.todoCount = d.todo.count
            d.verdict.claim = d.claim!.holder.token
            try SweepOutcome(.running, message: "the sweep runs", claim: d.verdict.claim).write(besides: path)
        } catch {
            d.verdict.error = describe(error)
            d.claim?.release()
            d.claim = nil
        }
        return d
    }

    /// Paths the file system cannot hold are refused before anything starts:
    /// the longest path made from the results path (`ResultsPaths`, with this
    /// spec's longest run name and kept checkpoints) and the longest file name.
    static func checkResultsPath(_ spec: SweepSpec) throws {
        let path = spec.results
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw StartError("results: \(path) is a folder; give the path of a file, e.g. \(path)/results.h5")
        }
        let longest = spec.paths.longest(runs: spec.runs.count, longestRunName: spec.runs.longestName,
                                         longestKept: spec.runs.keep.values.joined().max())
        if longest.path >= Int(PATH_MAX) {
            throw StartError("results: the path is \(path.utf8.count) bytes long; with the names made from it (up to "
                             + "\(longest.path) bytes) it exceeds the system's limit of \(PATH_MAX) bytes: choose a shorter one")
        }
        if longest.name > Int(NAME_MAX) {
            let name = (path as NSString).lastPathComponent
            throw StartError("results: the names made from the file name '\(name)' and the run names reach "
                             + "\(longest.name) bytes, over the file system's limit of \(NAME_MAX) bytes: "
                             + "choose a shorter file name, or sweep fewer fields")
        }
    }

    static func createFolder(_ path: String, for what: String) throws {
        do { try FileSystem.createFolder(path) }
        catch { throw StartError("cannot create the folder for \(what): \(describe(error))") }
    }

    /// Features from a file are read once here, so that a NaN or a wrong
    /// shape stops the sweep before any file is made.
    static func checkFeatures(_ spec: SweepSpec) throws {
        try spec.checkFeatures()
    }
}

struct StartError: Error, CustomStringConvertible {
    let description: String
    package init(_ d: String) { description = d }
}
