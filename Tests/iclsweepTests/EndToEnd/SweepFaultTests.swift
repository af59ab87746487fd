import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Faults under real `mpirun -np 3` jobs: every error ends the whole job with
/// its one-line message (a hang would trip the launch timeout), nothing is
/// marked final that a rerun could finish, and the next start resumes to
/// results bitwise equal to an undisturbed sweep.
final class SweepFaultTests: XCTestCase {
    var f: SweepFixture!
    var mounts: [String] = []

    override func setUpWithError() throws { f = try SweepFixture("faults") }

    override func tearDownWithError() throws {
        for m in mounts.reversed() { _ = try? Launcher.run(["/usr/bin/umount", "-l", m], raw: true, timeout: 30) }
        f.remove()
    }

    /// A failing worker must end the job well inside this (the failure path
    /// allows 5 s for the others to checkpoint and 8 s as a backstop).
    let failureTimeout: TimeInterval = 20

    /// Sequences per run of the sweeps that are stopped part-way and resumed:
    /// long enough that a run is part-way (8,000 of 24,000) while others wait.
    let sequences = 24_000

    func assertCleanError(_ r: Launcher.Result, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, r.output, file: file, line: line)
        XCTAssert(r.output.contains(expected), "expected '\(expected)' in:\n\(r.output)", file: file, line: line)
        XCTAssertFalse(r.output.contains("Backtrace") || r.output.contains("crashed") || r.output.contains("Segmentation"),
                       r.output, file: file, line: line)
    }

    /// Mounts a tmpfs of `size` at `path` (root only), or skips the test.
    func mountTmpfs(_ path: String, size: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try Launcher.run(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path], raw: true, timeout: 30)
        if r.status != 0 { throw XCTSkip("needs root to mount a small file system: \(r.output)") }
        mounts.append(path)
    }

    func remount(_ path: String, _ options: String) throws {
        let r = try Launcher.run(["/usr/bin/mount", "-o", "remount,\(options)", path], raw: true, timeout: 30)
        XCTAssertEqual(r.status, 0, r.output)
    }

    /// Starts a sweep and stops it with SIGUSR1 once some run is part-way.
    func partialSweep(_ spec: String, results: String) throws {
        let job = try Launcher.start(["run", spec], ranks: 3)
        XCTAssert(f.wait(for: results, job: job) { $0.sequencesDone.contains { $0 >= 8000 } }, job.text)
        kill(job.pid, SIGUSR1)
        try job.finish(within: 60, what: "partial sweep")
        XCTAssertEqual(job.status, 75, job.text)
    }

    // MARK: - Worker-side errors

    func testDamagedResultsFileEndsTheJobAndTheRepairedFileResumesIdentically() throws {
        let reference = try f.reference(sequences: sequences)
        let spec = try f.writeSpec("damaged", sequences: sequences), results = f.path("damaged.h5")
        try partialSweep(spec, results: results)

        // Garble the object header of a dataset only the workers open.
        let ls = try Launcher.run(["/usr/bin/h5ls", "-v", "\(results)/metrics/loss"], raw: true, timeout: 30)
        let location = try XCTUnwrap(ls.output.components(separatedBy: "Location:").dropFirst().first?
            .split(separator: ":").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }, ls.output)
        let intact = try Data(contentsOf: URL(fileURLWithPath: results))
        var damaged = intact
        damaged.replaceSubrange((location + 4)..<(location + 18), with: Data("GARBAGEGARBAGE".utf8))
        try damaged.write(to: URL(fileURLWithPath: results))

        let r = try Launcher.run(["run", spec], ranks: 3, timeout: failureTimeout)
        assertCleanError(r, "error on rank")
        XCTAssert(r.output.contains("metrics/loss"), r.output)
        XCTAssert(r.output.contains("run "), "names the run in hand: \(r.output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: ResultsClaim.path(for: results)), "the claim is released")

        try intact.write(to: URL(fileURLWithPath: results))  // the user restores the file
        let resumed = try Launcher.run(["run", spec], ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        SweepFixture.assertSame(reference, try SweepFixture.fingerprint(results), "damaged, restored and resumed")
    }

    func testNaNInTheFeaturesIsFoundBeforeAnythingIsCreated() throws {
        let features = f.path("features.h5")
        func writeFeatures(nan: Bool) throws {
            var values = (0..<(16 * 4 * 16)).map { Float(sin(Double($0))) }
            if nan { values[(3 * 4 + 2) * 16 + 5] = .nan }
            let file = try H5File.create(features)
            try file.write("resnet18/224/feat", values, shape: [16, 4, 16])
        }
        try writeFeatures(nan: true)
        let spec = try f.writeSpec("nan", results: "out/sub/nan.h5", sequences: 3200, data: "file: {path: features.h5}")
        let validate = try Launcher.run(["validate", spec], timeout: 60)
        assertCleanError(validate, "holds nan at [class 3, exemplar 2, component 5]")
        for ranks in [3, 0] {
            let r = try Launcher.run(["run", spec], ranks: ranks, timeout: failureTimeout)
            assertCleanError(r, "holds nan at [class 3, exemplar 2, component 5]")
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.path("out")), "the results' folders were created first")
        }
        try writeFeatures(nan: false)
        let fixed = try Launcher.run(["run", spec], ranks: 3)
        XCTAssertEqual(fixed.status, 0, fixed.output)
    }

    /// A full disk and a read-only folder during checkpoints: the job stops
    /// with what to fix, no run is marked final, and a plain rerun after the
    /// fix finishes identically.
    func testFullAndReadOnlyCheckpointFoldersStopTheJobAndRerunsFinishIdentically() throws {
        let reference = try f.reference(sequences: sequences)
        for (name, options) in [("full", "size=600k"), ("readonly", "size=64m")] {
            let spec = try f.writeSpec(name, sequences: sequences), results = f.path("\(name).h5")
            let mount = f.path("\(name)-disk")
            try mountTmpfs(mount, size: String(options.dropFirst(5)))
            if name == "readonly" { try remount(mount, "ro") }
            try FileManager.default.createSymbolicLink(atPath: results + ".checkpoints", withDestinationPath: mount)

            let r = try Launcher.run(["run", spec], ranks: 3, timeout: failureTimeout)
            let reason = name == "full" ? "No space left on device" : "Read-only file system"
            assertCleanError(r, reason)
            XCTAssert(r.output.contains(name == "full" ? "free space there" : "make it writable"), r.output)
            let t = try ResultsFile.openForReading(results).table()
            XCTAssertFalse(t.statuses.contains { $0 == .failed || $0 == .diverged }, "\(name): nothing final: \(t.statuses)")
            XCTAssert(t.statuses.contains { $0 != .done }, "\(name): work remains")
            let status = try f.status(results)
            XCTAssertEqual(status.code, 1, status.line)
            XCTAssert(status.line.contains(reason), status.line)

            try remount(mount, name == "full" ? "size=64m" : "rw")
            let rerun = try Launcher.run(["run", spec], ranks: 3)
            XCTAssertEqual(rerun.status, 0, rerun.output)
            SweepFixture.assertSame(reference, try SweepFixture.fingerprint(results), "\(name), fixed and rerun")
            XCTAssertEqual(try f.status(results).code, 0)
        }
    }

    /// A full disk while the results file is made (the issue's 64 KiB tmpfs
    /// with 48-56 KiB taken): rank 0 fails inside a collective HDF5 call the
    /// others wait in; the job still ends at once with the system's reason,
    /// leaves no half-made file or claim, records the error where the start
    /// reserved room for it, and a rerun with space finishes identically.
    func testAFullDiskWhileTheResultsFileIsMadeEndsTheJobCleanly() throws {
        let reference = try f.reference(sequences: 6400)
        for (taken, ranks) in [(52, 3), (56, 3), (52, 0)] {
            let mount = f.path("disk-\(taken)-\(ranks)")
            try mountTmpfs(mount, size: "64k")
            XCTAssert(FileManager.default.createFile(atPath: mount + "/taken", contents: Data(count: taken * 1024)), "the filler file")
            let spec = try f.writeSpec("full-\(taken)-\(ranks)", results: mount + "/x.h5", sequences: 6400)
            let started = Date()
            let r = try Launcher.run(["run", spec], ranks: ranks, timeout: failureTimeout)
            assertCleanError(r, "No space left on device")
            XCTAssert(r.output.contains("free space there"), r.output)
            XCTAssertLessThan(Date().timeIntervalSince(started), 12, "ends within seconds: \(r.output)")
            for leftover in ["x.h5", "x.h5.partial", "x.h5.claim"] {
                XCTAssertFalse(FileManager.default.fileExists(atPath: mount + "/" + leftover), "\(leftover) is left: \(r.output)")
            }
            let status = try f.status(spec)
            XCTAssertEqual(status.code, 1, status.line)
            XCTAssertEqual(SweepOutcome.read(besides: mount + "/x.h5")?.ending, .error, "recorded in the reserved bytes")
            XCTAssert(SweepOutcome.read(besides: mount + "/x.h5")?.message.contains("No space left on device") == true)

            unlink(mount + "/taken")
            try remount(mount, "size=64m")
            let rerun = try Launcher.run(["run", spec], ranks: ranks)
            XCTAssertEqual(rerun.status, 0, rerun.output)
            SweepFixture.assertSame(reference, try SweepFixture.fingerprint(mount + "/x.h5"), "full disk at creation, freed, rerun")
            XCTAssertEqual(try f.status(spec).code, 0)
        }
    }

    // MARK: - Integrity

    /// 64 bytes of garbage in a finished file: in the middle of the file
    /// (here HDF5's own metadata: refused with its reason), and in the raw
    /// rows of a done run (caught by the checksum: left out, exit 65).
    /// Either way no command summarises them and exits 0.
    func testGarbageInAFinishedFileIsNeverSummarised() throws {
        let garbage = Data((0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        for place in ["middle", "rows"] {
            let spec = try f.writeSpec("garbage-\(place)", sequences: 6400), results = f.path("garbage-\(place).h5")
            XCTAssertEqual(try Launcher.run(["run", spec], ranks: 3).status, 0)
            var offset = UInt64(try FileManager.default.attributesOfItem(atPath: results)[.size] as! Int) / 2
            if place == "rows" {  // run 1's accuracies, where `h5dump` says the raw data starts
                let dump = try Launcher.run(["/usr/bin/h5dump", "-p", "-H", "-d", "/metrics/accuracy", results], raw: true, timeout: 30)
                let start = try XCTUnwrap(dump.output.components(separatedBy: "OFFSET ").dropFirst().first
                    .flatMap { UInt64($0.prefix { $0.isNumber }) }, dump.output)
                offset = start + 8 * UInt64(SweepFixture.points(sequences: 6400) * Evaluator.allCases.count)
            }
            let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: results))
            try handle.seek(toOffset: offset)
            handle.write(garbage)
            try handle.close()
            for command in [["run", spec], ["summarize", spec], ["plot", spec], ["status", spec], ["verify", spec]] {
                let r = try Launcher.run(command, timeout: 60)
                let expected: [Int32] = place == "rows" ? [DamagedRun.exitCode] : [1, DamagedRun.exitCode]
                XCTAssert(expected.contains(r.status), "\(place): \(command[0]) exits \(r.status):\n\(r.output)")
                XCTAssertFalse(r.output.contains("Backtrace"), r.output)
                if place == "rows" && command[0] != "verify" && command[0] != "status" {
                    XCTAssert(r.output.contains("left out of the summary and figures") && r.output.contains("run 1 K8-E4-matched-s0"),
                              "\(command[0]): \(r.output)")
                }
            }
        }
    }

    func testVerifyNamesDamagedRunsAndRerunDamagedRestoresThem() throws {
        let spec = try f.writeSpec("verified", sequences: 6400), results = f.path("verified.h5")
        let unstarted = try f.status(spec)
        XCTAssertEqual(unstarted.code, SweepState.noResultsExitCode, "no results yet, no error recorded: \(unstarted.line)")
        let first = try Launcher.run(["run", spec], ranks: 3)
        XCTAssertEqual(first.status, 0, first.output)
        let intact = try SweepFixture.fingerprint(results)
        XCTAssertEqual(try Launcher.run(["verify", spec], timeout: 60).status, 0)

        // One value of run 6's metrics changes on disk, as a flipped bit would.
        do {
            let file = try ResultsFile.open(path: results, writable: true, comm: nil)
            // run 6's second row of the points table (every run has the same points here)
            let row = 6 * SweepFixture.points(sequences: 6400) + 1
            try file.dataset(ResultsSchema.accuracy).writeBlock([0.123], start: [row, 0], count: [1, 1])
            try file.close()
        }
        let verify = try Launcher.run(["verify", spec], timeout: 60)
        XCTAssertEqual(verify.status, DamagedRun.exitCode, verify.output)
        XCTAssert(verify.output.contains("damaged: run 6 K16-E4-icl_only-s0: rows do not match their checksum"), verify.output)
        XCTAssert(verify.output.contains("1 of 8 done runs damaged"), verify.output)
        let plain = try Launcher.run(["run", spec], ranks: 3)
        XCTAssert(plain.output.contains("8 runs, 0 to do"), "damage is re-run only when asked: \(plain.output)")
        // ... but never summarised: left out, named, and the exit code says so
        XCTAssertEqual(plain.status, DamagedRun.exitCode, plain.output)
        XCTAssert(plain.output.contains("warning: 1 done run of \(results) left out of the summary and figures"), plain.output)
        let markdown = try String(contentsOfFile: Summary.paths(besides: results).markdown, encoding: .utf8)
        XCTAssert(markdown.contains("Left out, their rows failing their checksum (`iclsweep verify`): run 6 K16-E4-icl_only-s0."), markdown)
        XCTAssert(markdown.contains("| 16 | 4 | icl_only | 0/1 |"), markdown)
        for command in ["summarize", "plot"] {
            let r = try Launcher.run([command, spec], timeout: 60)
            XCTAssertEqual(r.status, DamagedRun.exitCode, r.output)
            XCTAssert(r.output.contains("run 6 K16-E4-icl_only-s0"), r.output)
        }
        let status = try f.status(results)
        XCTAssertEqual(status.code, DamagedRun.exitCode, status.line)
        XCTAssert(status.line.contains("1 damaged"), status.line)

        let repaired = try Launcher.run(["run", spec, "--rerun-damaged"], ranks: 3)
        XCTAssertEqual(repaired.status, 0, repaired.output)
        XCTAssert(repaired.output.contains("re-running 1 damaged run"), repaired.output)
        XCTAssert(repaired.output.contains("resuming from checkpoint at 6,400 sequences"), "from its final checkpoint: \(repaired.output)")
        XCTAssertEqual(try Launcher.run(["verify", spec], timeout: 60).status, 0)
        SweepFixture.assertSame(intact, try SweepFixture.fingerprint(results), "damaged and re-run")
    }

    // MARK: - One sweep per results file

    func testASecondSweepIsRefusedAndAClaimLeftBySIGKILLIsTakenOver() throws {
        // The sweep must outlive about 9 s of waits and refused starts below: about 22 s
        // (8 runs of 288,000 sequences on a fast core, 96,000 with OpenBLAS's generic kernels).
        let sequences = try Launcher.sequences(lasting: 22, probe: 16_000, multipleOf: 8000, in: 96_000...288_000) {
            try f.writeSpec("probe-\($0)", sequences: $0)
        }
        let spec = try f.writeSpec("claimed", sequences: sequences), results = f.path("claimed.h5")
        // Two at the same instant: exactly one runs.
        let a = try Launcher.start(["run", spec], ranks: 3)
        let b = try Launcher.start(["run", spec], ranks: 3)
        let deadline = Date().addingTimeInterval(30)
        while a.isRunning && b.isRunning && Date() < deadline { usleep(50_000) }
        let (refused, winner) = a.isRunning ? (b, a) : (a, b)
        try refused.finish(within: 30, what: "second sweep")
        XCTAssertEqual(refused.status, 1, refused.text)
        XCTAssert(refused.text.contains("is in use by another sweep (host"), refused.text)
        XCTAssert(winner.isRunning, "the other sweep runs on: \(winner.text)")

        // 0.3 s and 5 s after the start of the one that runs.
        for delay in [0.3, 5.0] {
            usleep(UInt32(delay * 1_000_000))
            XCTAssert(winner.isRunning, "the first sweep still runs at +\(delay) s")
            let r = try Launcher.run(["run", spec], ranks: 3, timeout: 60)
            XCTAssertEqual(r.status, 1, r.output)
            XCTAssert(r.output.contains("is in use by another sweep"), r.output)
            XCTAssert(r.output.contains("pid"), "says who holds it: \(r.output)")
        }
        let running = try f.status(results)
        XCTAssertEqual(running.code, 3, running.line)

        // SIGKILL to the holder (rank 0): its claim is left behind, and taken over.
        let claim = try JSONDecoder().decode(ClaimHolder.self, from: Data(contentsOf: URL(fileURLWithPath: ResultsClaim.path(for: results))))
        kill(claim.pid, SIGKILL)
        try winner.finish(within: 60, what: "killed sweep")
        let killed = try f.status(results)
        XCTAssertEqual(killed.code, 75, killed.line)
        let takeover = try Launcher.run(["run", spec], ranks: 3)
        XCTAssertEqual(takeover.status, 0, takeover.output)
        XCTAssert(takeover.output.contains("taking over the claim"), takeover.output)
        XCTAssert(takeover.output.contains("is gone"), takeover.output)
        XCTAssertEqual(try ResultsFile.openForReading(results).verify().count, 0)
        XCTAssertEqual(try f.status(results).code, 0)
    }

    // MARK: - Signals

    func testSIGTERMAndSIGINTToMpirunAndASignalToOneWorker() throws {
        let reference = try f.reference(sequences: sequences)
        // mpirun passes SIGTERM (and SIGINT, as SIGTERM) on to the ranks and
        // kills them 1 s later: they stop and checkpoint at once, or are
        // killed; either way `status` says work remains and the resume is exact.
        for (name, signal) in [("term", SIGTERM), ("int", SIGINT)] {
            let spec = try f.writeSpec(name, sequences: sequences), results = f.path("\(name).h5")
            let job = try Launcher.start(["run", spec], ranks: 3)
            XCTAssert(f.wait(for: results, job: job) { $0.sequencesDone.contains { $0 >= 8000 } }, job.text)
            kill(job.pid, signal)
            try job.finish(within: 60, what: "\(name) sweep")
            let status = try f.status(results)
            XCTAssertEqual(status.code, 75, "status tells 'stopped, work remains' whatever mpirun exited with: \(status.line)")
            XCTAssert(status.line.contains("stopped by SIGTERM") || status.line.contains("was killed"), status.line)
            let resumed = try Launcher.run(["run", spec], ranks: 3)
            XCTAssertEqual(resumed.status, 0, resumed.output)
            SweepFixture.assertSame(reference, try SweepFixture.fingerprint(results), "\(name), resumed")
        }

        // A worker signalled alone stops alone; the others finish its run and the sweep.
        let spec = try f.writeSpec("alone", sequences: sequences), results = f.path("alone.h5")
        let job = try Launcher.start(["run", spec], ranks: 3)
        XCTAssert(f.wait(for: results, job: job) { $0.sequencesDone.contains { $0 >= 8000 } }, job.text)
        let holder = try JSONDecoder().decode(ClaimHolder.self, from: Data(contentsOf: URL(fileURLWithPath: ResultsClaim.path(for: results))))
        let worker = try XCTUnwrap(Launcher.children(of: job.pid).last { $0 != holder.pid })
        kill(worker, SIGTERM)
        try job.finish(within: 120, what: "sweep with one worker stopped")
        XCTAssertEqual(job.status, 0, job.text)
        XCTAssert(job.text.contains("takes no more runs"), job.text)
        XCTAssert(job.text.contains("handed to another worker"), job.text)
        SweepFixture.assertSame(reference, try SweepFixture.fingerprint(results), "one worker stopped alone")
    }

    /// `--stop-file` (what slurm/iclsweep.sbatch uses): a file there before
    /// the start stops the sweep before any run; one made mid-run stops it as
    /// USR1 would; either way the resume is exact. A stop file in a folder
    /// that does not exist is refused before anything starts.
    func testAStopFileStopsTheSweepWhenItAppearsEvenBeforeTheStart() throws {
        let reference = try f.reference(sequences: sequences)
        let spec = try f.writeSpec("stopfile", sequences: sequences), results = f.path("stopfile.h5")
        let early = f.path("stop-early")
        FileManager.default.createFile(atPath: early, contents: nil)
        let first = try Launcher.run(["run", spec, "--stop-file", early], ranks: 3)
        XCTAssertEqual(first.status, 75, first.output)
        XCTAssert(first.output.contains("stop file \(early): stopping every run"), first.output)
        XCTAssertEqual(try ResultsFile.openForReading(results).statuses().filter { $0 == .done }, [], "nothing ran")
        XCTAssertEqual(try f.status(results).code, 75)

        let late = f.path("stop-late")
        let job = try Launcher.start(["run", spec, "--stop-file", late], ranks: 3)
        XCTAssert(f.wait(for: results, job: job) { $0.sequencesDone.contains { $0 >= 8000 } }, job.text)
        FileManager.default.createFile(atPath: late, contents: nil)
        try job.finish(within: 60, what: "sweep stopped by its stop file")
        XCTAssertEqual(job.status, 75, job.text)
        let status = try f.status(results)
        XCTAssertEqual(status.code, 75, status.line)
        XCTAssert(status.line.contains("stopped by stop file \(late)"), status.line)

        let nowhere = f.path("no-such-folder/stop")
        let refused = try Launcher.run(["run", spec, "--stop-file", nowhere], ranks: 3)
        XCTAssertEqual(refused.status, 64, refused.output)
        XCTAssert(refused.output.contains("--stop-file: the folder \(f.path("no-such-folder")) does not exist"), refused.output)

        let resumed = try Launcher.run(["run", spec, "--stop-file", f.path("never")], ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        SweepFixture.assertSame(reference, try SweepFixture.fingerprint(results), "stopped by a file, resumed")
    }

    // MARK: - Paths

    func testAResultsPathOf250Characters() throws {
        var folder = f.dir.path
        while folder.utf8.count < 240 { folder += "/" + String(repeating: "d", count: min(60, 240 - folder.utf8.count)) }
        let results = folder + "/" + String(repeating: "r", count: max(1, 250 - folder.utf8.count - 4)) + ".h5"
        XCTAssertEqual(results.utf8.count, 250)
        let spec = try f.writeSpec("long", results: results, sequences: 3200)
        let r = try Launcher.run(["run", spec], ranks: 3)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(try ResultsFile.openForReading(results).statuses(), Array(repeating: .done, count: 8))
    }
}
