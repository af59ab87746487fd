import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The project's own batch script on a real single-node Slurm cluster
/// (slurmctld, slurmd, munge on localhost), started and stopped per test.
final class SlurmTests: XCTestCase {
    var dir: URL!
    var clusterDir: URL!
    var env: [String: String] = [:]

    override func setUpWithError() throws {
        dir = try TemporaryFolder.make("slurm")
        clusterDir = dir.appendingPathComponent("cluster")
        let start = try shell([script("slurm/testing/cluster"), "start", clusterDir.path])
        if start.status == 77 { throw XCTSkip("Slurm tests skipped: \(start.output.trimmingCharacters(in: .whitespacesAndNewlines))") }
        XCTAssertEqual(start.status, 0, start.output)
        env = Launcher.environment
        env["SLURM_CONF"] = clusterDir.appendingPathComponent("slurm.conf").path
        env["ICLSWEEP_BIN"] = try Launcher.binary()
    }

    override func tearDownWithError() throws {
        if let clusterDir { _ = try? shell([script("slurm/testing/cluster"), "stop", clusterDir.path]) }
        try? FileManager.default.removeItem(at: dir)
    }

    func script(_ path: String) -> String { Launcher.packageRoot.appendingPathComponent(path).path }

    /// Runs a command through /bin/sh and waits for it, at most `limit` s
    /// (coreutils `timeout` kills it then, status 124 or 137). Not
    /// Foundation's Process: it counts the command as running while the
    /// daemons it left behind (as `cluster start` does) live.
    @discardableResult
    func shell(_ args: [String], extraEnv: [String: String] = [:], limit: Int = 120) throws -> Launcher.Result {
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let vars = (env.isEmpty ? [:] : env.filter { ["SLURM_CONF", "ICLSWEEP_BIN", "OMPI_ALLOW_RUN_AS_ROOT",
                                                      "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"].contains($0.key) })
            .merging(extraEnv) { $1 }
        let log = dir.appendingPathComponent("shell-\(UUID().uuidString).log").path
        let command = "cd \(quote(dir.path)) && timeout -k 5 \(limit) env " + vars.map { quote("\($0.key)=\($0.value)") }.joined(separator: " ")
            + " " + args.map(quote).joined(separator: " ") + " </dev/null >\(quote(log)) 2>&1"
        let status = system(command)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: log)
        return Launcher.Result(status: (status >> 8) & 0xff, output: output)
    }

    /// `chain`: three runs built on grid runs' checkpoints join the grid.
    func writeSpec(_ name: String, sequences: Int, chain: Bool = false) throws -> String {
        let path = dir.appendingPathComponent("\(name).yaml").path
        let runs = !chain ? "" : """

        runs:
          graft_from_bursty:
            variant: icl_only
            classes: 16
            graft: {from: K16-E4-bursty-s0, at: \(sequences / 2), groups: [layer1, unembedding]}
          init_from_ciwl:
            classes: 16
            init: {from: K16-E4-ciwl_only-s0, at: [\(sequences / 4), \(sequences * 3 / 4)]}
            training.sequences: \(sequences / 4)
        """
        try """
        name: \(name)
        results: \(name).h5
        data:
          synthetic: {classes: 16, exemplars: 4, dim: 16, noise: 0.2, seed: 3}
        training: {sequences: \(sequences), batch: 32, learning_rate: 1.0e-3, eval_interval: 16000, checkpoint_interval: 16000}
        evaluation: {sequences: 200, seed: 5}
        grid: {classes: [8, 16], exemplars: [4], variants: [bursty, matched, icl_only, ciwl_only], seeds: [0]}\(runs)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func jobField(_ id: String, _ field: String) throws -> String {
        let show = try shell(["scontrol", "show", "job", "-o", id]).output
        guard let range = show.range(of: "\(field)=") else { return "" }
        return String(show[range.upperBound...].prefix { $0 != " " && $0 != "\n" })
    }

    /// The longest a test waits for a job to end: the time-limit test took
    /// 110-290 s, as many requeues as early warnings. A requeued job starts
    /// again after Slurm's own back-off (11 s with cred_expire=10 and the test
    /// cluster's 1-s scheduling passes); forcing StartTime=now earlier gets it
    /// killed ("Job credential revoked").
    static let jobWait: TimeInterval = 600

    /// Submits with slurm/submit and waits until the job has ended.
    func submitAndWait(_ spec: String, _ options: [String], sbatchOptions: [String] = [],
                       extraEnv: [String: String] = [:]) throws -> (id: String, output: String) {
        let id = try submit(spec, options, sbatchOptions: sbatchOptions, extraEnv: extraEnv)
        return (id, try waitForEnd(id))
    }

    /// Submits with slurm/submit (2 workers): the job id.
    func submit(_ spec: String, _ options: [String], sbatchOptions: [String] = [], extraEnv: [String: String] = [:]) throws -> String {
        let submit = try shell([script("slurm/submit"), spec, "--workers", "2"] + options
                               + ["--", "--output=\(dir.path)/job-%j.out"] + sbatchOptions, extraEnv: extraEnv)
        XCTAssert(submit.output.hasPrefix("sbatch "), "the helper prints what it submits: \(submit.output)")
        guard submit.status == 0, let idPart = submit.output.components(separatedBy: "Submitted batch job ").dropFirst().first else {
            throw Launcher.LauncherError("submission failed (exit \(submit.status)):\n\(submit.output)")
        }
        return idPart.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until job `id` has ended, requeues included: its output.
    func waitForEnd(_ id: String) throws -> String {
        let deadline = Date().addingTimeInterval(Self.jobWait)
        var state = ""
        while Date() < deadline {
            state = try jobField(id, "JobState")
            if ["COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY"].contains(state) { break }
            usleep(500_000)
        }
        let output = (try? String(contentsOfFile: "\(dir.path)/job-\(id).out", encoding: .utf8)) ?? "(no job output)"
        let exit = try jobField(id, "ExitCode")
        // One failure that names the state, not a cascade of checks on a job that did not finish.
        guard state == "COMPLETED", exit == "0:0" else {
            throw Launcher.LauncherError("job \(id) ended \(state.isEmpty ? "(no state)" : state), exit \(exit), "
                                         + "restarts \(try jobField(id, "Restarts")):\n\(output)")
        }
        return output
    }

    /// The batch shell (Slurm runs a copy named slurm_script) of the job for
    /// `spec`, once it has printed its first line (its stop handlers are set
    /// by then; before them a signal would end it as it would any shell).
    func batchShell(of spec: String, output: String, within timeout: TimeInterval = 120) throws -> pid_t {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let started = (try? String(contentsOfFile: output, encoding: .utf8))?.contains("(restart 0) on") ?? false
            let found = try shell(["pgrep", "-f", "[s]lurm_script \(spec)"]).output  // [s]: not pgrep's own shell
            if started, let pid = found.split(separator: "\n").first.flatMap({ pid_t($0) }) { return pid }
            usleep(1_000)
        }
        throw Launcher.LauncherError("the job of \(spec) did not start in \(Int(timeout)) s")
    }

    /// The runs whose histories differ bit for bit, by name.
    func differingRuns(_ a: ResultsTable, _ b: ResultsTable) -> [String] {
        a.names.indices.filter { a.histories[$0].bitPatterns != b.histories[$0].bitPatterns }.map { a.names[$0] }
    }

    /// Slurm's warning can come at any moment (up to a minute before it was
    /// asked for), even as the batch script starts: before mpirun runs, or
    /// before its ranks exist (a signal passed on would reach none of them,
    /// or one without its handler). The script's stop file is there for rank
    /// 0 whenever it looks: the job requeues itself and the sweep completes.
    /// (Signalling mpirun instead failed this test on a fast CI machine: the
    /// stop reached no rank and the sweep simply finished.)
    func testDemoSweepThroughTheBatchScriptStoppedAsItStarts() throws {
        let spec = try writeSpec("small", sequences: 16_000)
        let submitted = Date()
        let id = try submit(spec, ["--time", "10"])
        kill(try batchShell(of: spec, output: "\(dir.path)/job-\(id).out"), SIGUSR1)  // the moment it has started
        let output = try waitForEnd(id)
        XCTAssertNotEqual(try jobField(id, "Restarts"), "0", output)
        XCTAssert(output.contains("USR1: asking the sweep to checkpoint and stop"), output)
        XCTAssert(output.contains("requeueing job \(id)"), output)
        XCTAssert(output.contains("sweep complete"), output)
        let t = try ResultsFile.openForReading(dir.appendingPathComponent("small.h5").path).table()
        XCTAssertEqual(t.statuses, Array(repeating: .done, count: 8))
        XCTAssertEqual(Set(t.ranks), [1, 2])
        let md = try String(contentsOfFile: dir.appendingPathComponent("small.summary.md").path, encoding: .utf8)
        XCTAssert(md.contains("| 16 | 4 | ciwl_only | 1/1 |"), md)
        print(String(format: "stopped as it started; the job ended in %.0f s", Date().timeIntervalSince(submitted)))
    }

    /// A one-minute limit for a sweep that needs longer (a grid and runs
    /// built on its runs' checkpoints): the job is told to stop, checkpoints,
    /// requeues itself, and the finished results equal an uninterrupted
    /// run's bit for bit.
    func testTimeLimitCheckpointsRequeuesAndMatchesAnUninterruptedRun() throws {
        // It must outlast a one-minute job (30 s of it training): about 42 s of training.
        let sequences = try Launcher.sequences(lasting: 42, probe: 64_000, multipleOf: 64_000, in: 128_000...384_000) {
            try writeSpec("probe-\($0)", sequences: $0, chain: true)  // a multiple of 64,000: the chain's points
        }
        let spec = try writeSpec("limited", sequences: sequences, chain: true)
        let (id, output) = try submitAndWait(spec, ["--time", "1"], sbatchOptions: ["--signal=B:USR1@30"],
                                             extraEnv: ["ICLSWEEP_STOP_MARGIN": "30"])
        XCTAssertNotEqual(try jobField(id, "Restarts"), "0", output)
        XCTAssert(output.contains("requeueing job \(id)"), output)
        XCTAssert(output.contains("resuming from checkpoint"), output)
        XCTAssert(output.contains("sweep complete"), output)

        let reference = try writeSpec("reference", sequences: sequences, chain: true)
        let r = try Launcher.run(["run", reference], ranks: 3)
        XCTAssertEqual(r.status, 0, r.output)
        let a = try ResultsFile.openForReading(dir.appendingPathComponent("limited.h5").path).table()
        let b = try ResultsFile.openForReading(dir.appendingPathComponent("reference.h5").path).table()
        XCTAssertEqual(a.statuses, Array(repeating: .done, count: 8 + 3), output)
        XCTAssertEqual(b.statuses, Array(repeating: .done, count: 8 + 3), r.output)
        XCTAssertEqual(differingRuns(a, b), [], "histories differ from the uninterrupted run's")
    }
}
