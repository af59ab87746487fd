import XCTest
@testable import ICLSupport
@testable import ICLSweep

/// Every I/O call site fails in turn, as SQLite's tests fail the 1st, 2nd,
/// ... Nth I/O call of an operation: a tiny sweep is traced once
/// (`ICLSWEEP_TEST_IO_TRACE`), then run again with its Nth call failing
/// (`ICLSWEEP_TEST_FAIL_IO`): alone, at every distinct call site (its first
/// call there) and evenly between; under `mpirun -np 3`, on rank 0 and on a
/// worker, at every distinct site of the collective phases (creating,
/// opening, closing the file, where one rank's failure leaves the others
/// inside a collective call) and evenly between (the other sites are the
/// same code as alone, failed there one by one); and resuming a sweep
/// stopped part-way, at every site the fresh sweep does not have (reopening
/// the file, reading a checkpoint back). Each attempt must end within seconds with the system's
/// reason on one line and a non-zero exit, no crash, no run made final by
/// the fault, `status` 1; and a plain rerun must give results bitwise equal
/// to an undisturbed sweep. A fault the program absorbs (the outcome written
/// in place, say) must leave the sweep complete and identical.
final class IOFaultInjectionTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try TemporaryFolder.make("inject") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// 2 runs of 640 sequences (20 steps), evaluated and checkpointed every 320.
    static let spec = """
        name: tiny
        results: tiny.h5
        data:
          synthetic: {classes: 16, exemplars: 4, dim: 16, noise: 0.2, seed: 3}
        training: {sequences: 640, batch: 32, learning_rate: 1.0e-3, eval_interval: 320, checkpoint_interval: 320}
        evaluation: {sequences: 64, seed: 5}
        grid: {classes: [8], exemplars: [4], variants: [bursty, matched], seeds: [0]}
        """

    /// The HDF5 library is not thread-safe: the attempts run two at a time,
    /// and this process's own reads of their files take turns.
    static let hdf5 = NSLock()
    static func reading<T>(_ body: () throws -> T) rethrows -> T {
        hdf5.lock(); defer { hdf5.unlock() }
        return try body()
    }

    /// A job that fails must end well inside this (a failing worker waits at most 8 s for rank 0).
    let attemptTimeout: TimeInterval = 30

    struct Call { var n: Int; var site: String; var collective: Bool }

    struct Configuration {
        var name: String
        var ranks: Int       // 0: one process without mpirun
        var rank: Int32      // the rank whose call fails
        var errno: String
        var reason: String   // strerror(errno)
        /// At most this many attempts beyond one per distinct site.
        var extra: Int
        /// Whether only the collective phases' sites are each failed.
        var collectiveSites: Bool = false
        /// Whether each attempt resumes a sweep stopped part-way (`partial`),
        /// failing each site a fresh sweep does not have.
        var resume = false
    }

    /// A folder with the spec; with `from`, a copy of that folder's sweep files.
    func folder(_ name: String, from: String? = nil) throws -> (spec: String, results: String) {
        let d = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let spec = d.appendingPathComponent("tiny.yaml").path
        try Self.spec.write(toFile: spec, atomically: true, encoding: .utf8)
        if let from {
            let source = dir.appendingPathComponent(from)
            for item in ["tiny.h5", "tiny.h5.checkpoints", "tiny.h5.outcome"] {
                try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: d.appendingPathComponent(item))
            }
        }
        return (spec, d.appendingPathComponent("tiny.h5").path)
    }

    /// A sweep stopped part-way, in folder `partial`: the fresh sweep failed
    /// at the call after its third checkpoint (the first run done, the second
    /// checkpointed half-way).
    func makePartial(fresh: [Call]) throws {
        let renames = fresh.filter { $0.site.contains("Checkpoint.swift") && $0.site.hasSuffix("rename") }
        let third = try XCTUnwrap(renames.dropFirst(2).first, "the fresh sweep writes 4 checkpoints: \(renames.map(\.n))")
        let (spec, results) = try folder("partial")
        let r = try Launcher.run(["run", spec, "--progress-every", "600"], env: ["ICLSWEEP_TEST_FAIL_IO": "\(third.n + 1)"], timeout: 120)
        XCTAssertEqual(r.status, 1, r.output)
        let t = try Self.reading { try ResultsFile.openForReading(results).table() }
        XCTAssertEqual(t.statuses, [.done, .running], "one run done, one part-way")
    }

    /// The calls an undisturbed sweep makes on `rank`, in order ("FILE:LINE OPERATION" sites).
    func trace(ranks: Int, rank: Int32, from: String? = nil) throws -> [Call] {
        let name = "trace-\(ranks)" + (from.map { "-\($0)" } ?? "")
        let (spec, _) = try folder(name, from: from)
        let prefix = dir.appendingPathComponent("\(name)/calls").path
        let r = try Launcher.run(["run", spec], ranks: ranks, env: ["ICLSWEEP_TEST_IO_TRACE": prefix], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        let text = try String(contentsOfFile: "\(prefix).\(rank)", encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            return Call(n: Int(parts[0])!, site: parts[1] + " " + parts[2].prefix { $0 != "(" && $0 != " " }, collective: line.hasSuffix(" collective"))
        }
    }

    /// Every distinct site's first call (of those `each` admits), then up to
    /// `extra` more spread evenly.
    static func choose(_ calls: [Call], extra: Int, each: (Call) -> Bool) -> [Int] {
        var seen = Set<String>(), chosen = Set<Int>()
        for c in calls where each(c) && seen.insert(c.site).inserted { chosen.insert(c.n) }
        let step = max(1, calls.count / max(extra, 1))
        let target = chosen.count + extra
        for n in stride(from: 1, through: calls.count, by: step) where chosen.count < target { chosen.insert(n) }
        return chosen.sorted()
    }

    /// One attempt: the sweep with call `n` failing, then status, then a plain rerun.
    /// - Returns: what went wrong (empty when all held), and whether the fault was absorbed.
    func attempt(_ c: Configuration, n: Int, site: String, reference: [String: [UInt64]]) -> (problems: [String], absorbed: Bool) {
        var problems: [String] = []
        func problem(_ what: String, _ output: String = "") { problems.append("\(c.name), call \(n) (\(site)): \(what)\n\(output)") }
        do {
            let (spec, results) = try folder("\(c.name)-\(n)", from: c.resume ? "partial" : nil)
            let started = Date()
            let r = try Launcher.run(["run", spec, "--progress-every", "600"], ranks: c.ranks,
                                     env: ["ICLSWEEP_TEST_FAIL_IO": "\(n):\(c.errno):\(c.rank)"], timeout: attemptTimeout)
            let seconds = Date().timeIntervalSince(started)
            for crash in ["crashed", "Backtrace", "Segmentation", "Signal 11", "signal 11", "core dumped"] where r.output.contains(crash) {
                problem("crash at exit ('\(crash)')", r.output)
            }
            let status = try Launcher.run(["status", "--brief", spec], timeout: 60)
            if r.status == 0 {
                // absorbed: the sweep went on and must be complete and identical
                if status.status != 0 { problem("absorbed, but status exits \(status.status)", status.output) }
                if try Self.reading({ try SweepFixture.fingerprint(results) }) != reference { problem("absorbed, but the results differ", r.output) }
                return (problems, true)
            }
            if !r.output.contains(c.reason) { problem("no line names the cause '\(c.reason)'", r.output) }
            if seconds > 15 { problem(String(format: "took %.1f s to end", seconds), r.output) }
            // 1 once the results file or the error record beside it exists; a fault before
            // either (making the claim, writing the record itself) leaves only the log: 66
            let recorded = FileManager.default.fileExists(atPath: results) || SweepOutcome.read(besides: results)?.ending == .error
            let expected: Int32 = recorded ? 1 : SweepState.noResultsExitCode
            if status.status != expected { problem("status exits \(status.status), not \(expected)", status.output) }
            if FileManager.default.fileExists(atPath: results) {
                let (t, damaged) = try Self.reading { try ResultsFile.openForReading(results).checkedTable() }
                let final = t.statuses.enumerated().filter { [.failed, .diverged, .blocked].contains($0.element) }
                if !final.isEmpty { problem("runs made final by the fault: \(final.map { "\($0.offset) \($0.element)" })") }
                if !damaged.isEmpty { problem("done runs damaged: \(damaged)") }
            }
            let rerun = try Launcher.run(["run", spec, "--progress-every", "600"], timeout: 120)
            if rerun.status != 0 { problem("the plain rerun exits \(rerun.status)", rerun.output) }
            else if try Self.reading({ try SweepFixture.fingerprint(results) }) != reference { problem("the rerun's results differ from the undisturbed sweep's") }
        } catch {
            problem("\(error)")
        }
        return (problems, false)
    }

    /// Runs every chosen attempt of `c`, two at a time (one per core), and
    /// asserts on the main thread.
    func sweepOverN(_ c: Configuration) throws {
        let reference: [String: [UInt64]]
        do {
            let (spec, results) = try folder("reference")
            let r = try Launcher.run(["run", spec, "--progress-every", "600"], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            reference = try SweepFixture.fingerprint(results)
        }
        var calls = try trace(ranks: c.ranks, rank: c.rank)
        var admitted: (Call) -> Bool = { !c.collectiveSites || $0.collective }
        var kind = c.collectiveSites ? "collective-phase " : ""
        if c.resume {
            try makePartial(fresh: calls)
            let fresh = Set(calls.map(\.site))
            calls = try trace(ranks: c.ranks, rank: c.rank, from: "partial")
            admitted = { !fresh.contains($0.site) }
            kind = "resume-only "
        }
        let sites = Set(calls.map(\.site))
        XCTAssertGreaterThan(calls.count, 20, "the trace has the sweep's calls")
        XCTAssert(sites.contains { $0.contains("ResultsFile.swift") && $0.hasSuffix(c.resume ? "H5Fopen" : "H5Fcreate") },
                  "results-file creation (or opening, to resume) is among them")
        let chosen = Self.choose(calls, extra: c.extra, each: admitted)
            + [calls.count + 1]  // the last: the sweep completes without reaching it
        let collective = Set(calls.filter(\.collective).map(\.site))
        if c.ranks > 0 { XCTAssertGreaterThan(collective.count, 20, "the collective phases are traced") }
        let lock = NSLock()
        var problems: [String] = [], absorbed: [Int] = [], next = 0
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            while true {
                lock.lock()
                let i = next
                next += 1
                lock.unlock()
                guard i < chosen.count else { return }
                let n = chosen[i]
                let site = n <= calls.count ? calls[n - 1].site : "none: past the last call"
                let result = attempt(c, n: n, site: site, reference: reference)
                lock.lock()
                problems += result.problems
                if result.absorbed { absorbed.append(n) }
                lock.unlock()
            }
        }
        let each = Set(calls.filter(admitted).map(\.site)).count
        print(String(format: "I/O fault injection, %@: %d calls at %d distinct sites (%d in collective phases); %d attempts "
                     + "(the first call of each of %d %@sites, %d more evenly, and one past the last) in %.0f s; absorbed without an error: %@",
                     c.name, calls.count, sites.count, collective.count, chosen.count, each, kind,
                     chosen.count - each - 1, Date().timeIntervalSince(started),
                     absorbed.isEmpty ? "none" : absorbed.sorted().map { "call \($0) (\($0 <= calls.count ? calls[$0 - 1].site : "past the end"))" }
                        .joined(separator: ", ")))
        XCTAssert(absorbed.contains(calls.count + 1), "\(c.name): the sweep completes without reaching call \(calls.count + 1)")
        for p in problems { XCTFail(p) }
    }

    func testEveryCallSiteFailsCleanlyAlone() throws {
        try sweepOverN(Configuration(name: "one process", ranks: 0, rank: 0, errno: "ENOSPC",
                                     reason: "No space left on device", extra: 4, collectiveSites: false))
    }

    func testEveryCallSiteOfAResumeFailsCleanly() throws {
        try sweepOverN(Configuration(name: "one process, resuming", ranks: 0, rank: 0, errno: "EROFS",
                                     reason: "Read-only file system", extra: 2, resume: true))
    }

    func testEveryCallSiteFailsCleanlyOnRank0() throws {
        try sweepOverN(Configuration(name: "mpirun -np 3, rank 0", ranks: 3, rank: 0, errno: "EIO",
                                     reason: "Input/output error", extra: 3, collectiveSites: true))
    }

    func testEveryCallSiteFailsCleanlyOnAWorker() throws {
        try sweepOverN(Configuration(name: "mpirun -np 3, rank 1", ranks: 3, rank: 1, errno: "EDQUOT",
                                     reason: "Disk quota exceeded", extra: 3, collectiveSites: true))
    }
}
