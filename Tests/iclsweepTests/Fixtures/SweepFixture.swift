import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// A small sweep (8 runs: 8 and 16 classes x 4 variants) in a fresh folder,
/// with what the sweep tests compare: every dataset that must not depend on
/// how the sweep ran, as bits.
struct SweepFixture {
    let dir: URL

    init(_ label: String) throws {
        dir = try TemporaryFolder.make(label)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    static func spec(results: String, sequences: Int = 48_000, data: String? = nil, checkpointInterval: Int = 3200) -> String {
        """
        name: integration
        results: \(results)
        data:
          \(data ?? "synthetic: {classes: 16, exemplars: 4, dim: 16, noise: 0.2, seed: 3}")
        training:
          sequences: \(sequences)
          batch: 32
          learning_rate: 1.0e-3
          eval_interval: \(min(8000, sequences))
          checkpoint_interval: \(checkpointInterval)
        evaluation: {sequences: 200, seed: 5}
        grid:
          classes: [8, 16]
          exemplars: [4]
          variants: [bursty, matched, icl_only, ciwl_only]
          seeds: [0]
        """
    }

    /// Evaluation points of `spec(sequences:)`: 0 and every 8,000 (or once, at the end).
    static func points(sequences: Int) -> Int { 1 + sequences / min(8000, sequences) }

    /// Writes the spec as `NAME.yaml` with results `NAME.h5` (or `results`).
    func writeSpec(_ name: String, results: String? = nil, sequences: Int = 48_000, data: String? = nil,
                   checkpointInterval: Int = 3200) throws -> String {
        let file = path("\(name).yaml")
        try SweepFixture.spec(results: results ?? "\(name).h5", sequences: sequences, data: data,
                              checkpointInterval: checkpointInterval)
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Every dataset that must not depend on how the sweep ran, as bits.
    static func fingerprint(_ path: String) throws -> [String: [UInt64]] {
        let file = try H5File.open(path)
        var out: [String: [UInt64]] = [:]
        for name in ["metrics/train_loss", "metrics/accuracy", "metrics/in_context_accuracy", "metrics/loss"] {
            out[name] = (try file.read(name) as [Double]).map(\.bitPattern)
        }
        for key in ((try? file.attribute("mechanism_groups")) ?? "").split(separator: ",") {
            for what in ["attention", "induction"] {
                out["metrics/mechanism/\(key)/\(what)"] = (try file.read("metrics/mechanism/\(key)/\(what)") as [Float]).map { UInt64($0.bitPattern) }
            }
        }
        out["runs/mechanism_row"] = (try file.read("runs/mechanism_row") as [Int64]).map { UInt64(bitPattern: $0) }
        for name in ["metrics/sequences", "runs/classes", "runs/exemplars", "runs/seed", "runs/sequences_done"] {
            out[name] = (try file.read(name) as [Int64]).map { UInt64(bitPattern: $0) }
        }
        out["runs/status"] = (try file.read("runs/status") as [Int32]).map { UInt64($0) }
        out["runs/checksum"] = try file.read("runs/checksum") as [UInt64]
        let axes = ((try? file.attribute("axes")) ?? "").split(separator: ",")
        for axis in axes {
            let d = try file.dataset("runs/axes/\(axis)")
            out["runs/axes/\(axis)"] = try d.holdsStrings ? try d.readStrings().map { s in var sum = Checksum(); sum.add(s); return sum.value }
                : (try d.read() as [Double]).map(\.bitPattern)
        }
        for name in ["runs/name", "runs/variant", "runs/message"] {
            out[name] = try file.dataset(name).readStrings().map { s in
                var sum = Checksum(); sum.add(s); return sum.value
            }
        }
        return out
    }

    /// Starts `run SPEC` on 3 ranks and SIGKILLs a worker once one run is
    /// done and the worker's run is `partway` sequences in (and at most half
    /// done) with a checkpoint on disk; returns when mpirun has exited
    /// (non-zero, as it reports the kill). Killing the worker of that run,
    /// with half of it left, leaves it to resume from its checkpoint.
    static func runAndKillAWorker(_ spec: String, results: String, partway: Int = 8000,
                                  start: (() throws -> Launcher.Job)? = nil,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let job = try start?() ?? Launcher.start(["run", spec], ranks: 3)
        var victim: Int32?
        let deadline = Date().addingTimeInterval(120)
        while victim == nil && job.isRunning && Date() < deadline {
            usleep(100_000)
            guard let t = try? ResultsFile.openForReading(results).table() else { continue }
            let checkpoints = (try? FileManager.default.contentsOfDirectory(atPath: results + ".checkpoints")) ?? []
            if t.statuses.contains(.done),
               let run = t.statuses.indices.first(where: {
                   t.statuses[$0] == .running && t.sequencesDone[$0] >= partway && 2 * t.sequencesDone[$0] <= t.sequencesTotal[$0]
               }),
               checkpoints.count > t.statuses.filter({ $0 == .done }).count {
                victim = Launcher.descendants(of: job.pid).first { Launcher.mpiRank(of: $0) == t.ranks[run] }
            }
        }
        if victim == nil { job.terminate() }
        let pid = try XCTUnwrap(victim, "no run was part-way before the sweep ended:\n\(job.text)", file: file, line: line)
        kill(pid, SIGKILL)
        try job.finish(within: 60, what: "the sweep with a killed worker")
        XCTAssertNotEqual(job.status, 0, "mpirun reports the killed rank", file: file, line: line)
    }

    static func assertSame(_ a: [String: [UInt64]], _ b: [String: [UInt64]], _ label: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), file: file, line: line)
        for (name, values) in a.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(values, b[name], "\(label): dataset \(name) differs", file: file, line: line)
        }
    }

    /// The undisturbed sweep's fingerprint: one process, no interruptions.
    /// Computed once per length for the whole test process (the spec is the
    /// same and the sweep bitwise deterministic, so a second run would only
    /// repeat the bits).
    func reference(sequences: Int = 48_000) throws -> [String: [UInt64]] {
        SweepFixture.referenceLock.lock()
        defer { SweepFixture.referenceLock.unlock() }
        if let known = SweepFixture.references[sequences] { return known }
        let spec = try writeSpec("reference", sequences: sequences)
        let r = try Launcher.run(["run", spec, "--progress-every", "600"])
        XCTAssertEqual(r.status, 0, r.output)
        let computed = try SweepFixture.fingerprint(path("reference.h5"))
        if r.status == 0 { SweepFixture.references[sequences] = computed }
        return computed
    }
    private static var references: [Int: [String: [UInt64]]] = [:]
    private static let referenceLock = NSLock()

    /// `iclsweep status --brief` of a results file or spec: (exit code, line).
    func status(_ target: String) throws -> (code: Int32, line: String) {
        let r = try Launcher.run(["status", "--brief", target], timeout: 60)
        return (r.status, r.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Waits (up to `timeout` s) until `condition` holds on the results table.
    @discardableResult
    func wait(for results: String, timeout: TimeInterval = 120, job: Launcher.Job,
              until condition: (ResultsTable) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while job.isRunning && Date() < deadline {
            usleep(100_000)
            if let t = try? ResultsFile.openForReading(results).table(), condition(t) { return true }
        }
        return false
    }
}
