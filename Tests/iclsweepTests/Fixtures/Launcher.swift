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
                      env extra: [String: String] = [:]) throws -> (Process, Pipe) {
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
        return (p, pipe)
    }

    /// Runs to completion, with a time limit so a hang fails instead of blocking the suite.
    static func run(_ args: [String], ranks: Int = 0, cwd: URL? = nil, raw: Bool = false,
                    env: [String: String] = [:], timeout: TimeInterval = 300) throws -> Result {
        let (p, pipe) = try start(args, ranks: ranks, cwd: cwd, raw: raw, env: env)
        let data = Output(pipe)
        try finish(p, within: timeout, what: args.joined(separator: " "), output: data)
        return Result(status: p.terminationStatus, output: data.text)
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

    /// Waits for a started job to end, killing it (and failing) after `timeout` s.
    static func finish(_ p: Process, within timeout: TimeInterval, what: String, output: Output) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            for child in children(of: p.processIdentifier) { kill(child, SIGKILL) }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw LauncherError("\(what) did not finish in \(Int(timeout)) s:\n\(output.text)")
        }
        p.waitUntilExit()
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
