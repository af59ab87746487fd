import Foundation
import XCTest

/// Runs the release `iclsweep` binary (built by `scripts/test`), directly or
/// under a real `mpirun`.
enum Launcher {
    /// The package's folder: the nearest one above this file holding `Package.swift`.
    static let packageRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    static func binary() throws -> String {
        let path = ProcessInfo.processInfo.environment["ICLSWEEP_BIN"]
            ?? packageRoot.appendingPathComponent(".build/release/iclsweep").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw LauncherError("no iclsweep binary at \(path): run the suite with scripts/test, which builds it")
        }
        return path
    }

    struct LauncherError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    struct Result {
        var status: Int32
        var output: String
    }

    /// Environment for launched jobs: mpirun may run as root in CI containers.
    /// Each launch gets its own OpenMPI session folder (`orte_tmpdir_base`):
    /// singletons (`iclsweep run` without mpirun) all use
    /// /tmp/ompi.HOST.UID/jf.0, and one ending removes it while another
    /// starts ("mkdir /tmp/ompi.vm.0: File exists", orte_session_dir failed).
    static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_orte_tmpdir_base"] = sessionFolder()
        return env
    }

    /// A fresh folder below one per test process, removed when it exits.
    private static func sessionFolder() -> String {
        sessionLock.lock(); defer { sessionLock.unlock() }
        launches += 1
        let dir = sessionRoot.appendingPathComponent("launch\(launches)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
    private static let sessionLock = NSLock()
    private static var launches = 0
    private static let sessionRoot: URL = {
        atexit { try? FileManager.default.removeItem(at: Launcher.sessionRootPath) }
        return sessionRootPath
    }()
    private static var sessionRootPath: URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("iclsweep-tests-ompi-\(getpid())")
    }

    /// Starts `iclsweep ARGS` (under `mpirun -np ranks` when ranks > 0) without waiting.
    /// With `raw`, `args[0]` is the program to run instead of iclsweep.
    static func start(_ args: [String], ranks: Int = 0, cwd: URL? = nil, raw: Bool = false,
                      env extra: [String: String] = [:]) throws -> Job {
        let p = Process()
        if raw {
            p.executableURL = URL(fileURLWithPath: args[0])
            p.arguments = Array(args.dropFirst())
        } else if ranks > 0 {
            let bin = try binary()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
            p.arguments = ["-np", String(ranks), "--oversubscribe", bin] + args
        } else {
            p.executableURL = URL(fileURLWithPath: try binary())
            p.arguments = args
        }
        p.environment = environment.merging(extra) { $1 }
        if let cwd { p.currentDirectoryURL = cwd }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        return Job(p, output: Output(pipe), what: args.joined(separator: " "))
    }

    /// Runs to completion, with a time limit so a hang fails instead of blocking the suite.
    static func run(_ args: [String], ranks: Int = 0, cwd: URL? = nil, raw: Bool = false,
                    env: [String: String] = [:], timeout: TimeInterval = 300) throws -> Result {
        let job = try start(args, ranks: ranks, cwd: cwd, raw: raw, env: env)
        try job.finish(within: timeout)
        return Result(status: job.status, output: job.text)
    }

    /// Sequences per run that make the sweep `write(sequences)` writes take
    /// about `seconds` on `ranks` ranks on this machine, timed on a probe of
    /// `probe` sequences: a test that needs a sweep to outlast something sizes
    /// it so, on a fast core and on a slow one (OpenBLAS's generic kernels
    /// train three times slower) alike. A multiple of `step`, within `range`.
    static func sequences(lasting seconds: Double, probe: Int, multipleOf step: Int, in range: ClosedRange<Int>,
                          ranks: Int = 3, _ write: (Int) throws -> String) throws -> Int {
        let spec = try write(probe)
        let started = Date()
        let r = try run(["run", spec], ranks: ranks)
        XCTAssertEqual(r.status, 0, r.output)
        let scaled = Double(probe) * seconds / Date().timeIntervalSince(started)
        return min(range.upperBound, max(range.lowerBound, Int(scaled) / step * step))
    }

    /// A started job. Not Foundation's `Process` alone: it counts a process
    /// as running until every process that inherited its exit watch (a socket
    /// it passes to the child) has exited, so one stray `sleep` a script left
    /// behind kept `isRunning` true and `waitUntilExit` waiting forever (a CI
    /// run hung so until its 90 minutes ran out). Here the job has ended once
    /// its own process has exited (a zombie in /proc counts), whatever it left.
    final class Job {
        let process: Process
        let output: Output
        let what: String
        init(_ process: Process, output: Output, what: String) {
            self.process = process; self.output = output; self.what = what
        }
        var pid: Int32 { process.processIdentifier }
        var text: String { output.text }
        var isRunning: Bool { ended == nil }
        func terminate() { process.terminate() }

        /// Its exit code, or the signal that ended it (as Foundation's `terminationStatus`).
        var status: Int32 {
            guard let code = ended else { XCTFail("\(what) has not ended"); return -1 }
            return code
        }

        /// How the job ended (exit code or signal, as `terminationStatus`), nil
        /// while it runs. Kept once seen: Foundation reaps the process some
        /// time before it clears `isRunning`, and in between /proc has no
        /// entry for it, so a look at that moment alone could not tell.
        private var ended: Int32? {
            lock.lock(); defer { lock.unlock() }
            if let endedStatus { return endedStatus }
            if !process.isRunning {
                endedStatus = process.terminationStatus
            } else if let code = Launcher.exitCode(of: pid) {  // a zombie not yet reaped
                endedStatus = code & 0x7f == 0 ? (code >> 8) & 0xff : code & 0x7f
            } else if !FileManager.default.fileExists(atPath: "/proc/\(pid)") {  // reaped, flag not yet cleared
                let grace = Date().addingTimeInterval(5)
                while process.isRunning && Date() < grace { usleep(1_000) }
                if !process.isRunning { endedStatus = process.terminationStatus }
            }
            return endedStatus
        }
        private var endedStatus: Int32?
        private let lock = NSLock()

        /// Waits for the job to end, killing it (and failing) after `timeout`
        /// s; either way what it left behind in its process group is killed
        /// (and so reaped), and the wait for that is bounded too.
        func finish(within timeout: TimeInterval, what label: String? = nil) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while isRunning && Date() < deadline { usleep(50_000) }
            let timedOut = isRunning  // a job that ended stays ended (see `ended`)
            if timedOut { for d in Launcher.descendants(of: pid) { kill(d, SIGKILL) } }
            // Foundation gives the job a process group of its own (its pid);
            // while it has not reaped the job, the pid (and group) is still the job's.
            if process.isRunning { kill(-pid, SIGKILL) }
            let grace = Date().addingTimeInterval(10)
            while process.isRunning && Date() < grace { usleep(20_000) }
            if timedOut {
                throw LauncherError("\(label ?? what) did not finish in \(Int(timeout)) s:\n\(text)")
            }
        }
    }

    /// The wait status (waitpid's form) of `pid` once it has exited and is
    /// not yet reaped; nil while it runs. /proc/PID/stat's field 52.
    static func exitCode(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")  // from field 3, the state
        guard let state = fields.first, state == "Z" || state == "X", fields.count > 49 else { return nil }
        return Int32(fields[49].trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Collects a pipe's output on a background thread (so a full pipe never blocks the child).
    final class Output: @unchecked Sendable {
        private var data = Data()
        private let lock = NSLock()
        private let done = DispatchSemaphore(value: 0)
        init(_ pipe: Pipe) {
            let handle = pipe.fileHandleForReading
            DispatchQueue.global().async {
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    self.lock.lock(); self.data.append(chunk); self.lock.unlock()
                }
                self.done.signal()
            }
        }
        var text: String {
            _ = done.wait(timeout: .now() + 5)
            lock.lock(); defer { lock.unlock() }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// The MPI rank of a process mpirun started (OpenMPI's OMPI_COMM_WORLD_RANK in its environment).
    static func mpiRank(of pid: Int32) -> Int? {
        guard let environment = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { return nil }
        let prefix = "OMPI_COMM_WORLD_RANK="
        return environment.split(separator: 0).lazy.map { String(decoding: $0, as: UTF8.self) }
            .first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    /// Every process below `pid`: the ranks mpirun started, and those its
    /// daemons started on other (simulated) nodes.
    static func descendants(of pid: Int32) -> [Int32] {
        children(of: pid).flatMap { [$0] + descendants(of: $0) }
    }

    /// Child processes of `pid` (the ranks mpirun started).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid
        }.sorted()
    }
}
