import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// Runs on several ranks (`training.shards`, `training.ranks`) in real
/// `mpirun` jobs: the same bits on 1, 2 and 3 ranks, in a sweep whose gangs
/// are placed on one node each, after a kill and a resume on other ranks,
/// across three nodes with their own host names, and bad placements
/// refused before anything is made.
final class GangTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try TemporaryFolder.make("gang") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// 4 grid runs on 2 ranks each, a named run on 3 and one on 1; 6 shards
    /// of a batch of 24. `ranks: nil`: the one-process reference.
    func writeSpec(_ name: String, sequences: Int = 4800, ranks: (grid: Int, wide: Int)? = (2, 3)) throws -> String {
        let text = """
        name: gangs
        results: \(name).h5
        data:
          synthetic: {classes: 16, exemplars: 4, dim: 16, noise: 0.2, seed: 3}
        training:
          sequences: \(sequences)
          batch: 24
          shards: 6
        \(ranks.map { "  ranks: \($0.grid)" } ?? "")
          learning_rate: 1.0e-3
          eval_interval: 2400
          checkpoint_interval: 1200
        evaluation: {sequences: 200, seed: 5}
        grid:
          classes: [8, 16]
          exemplars: [4]
          variants: [bursty, matched]
          seeds: [0]
        runs:
          wide: {variant: bursty, classes: 16\(ranks.map { ", training.ranks: \($0.wide)" } ?? "")}
          alone: {variant: matched, classes: 16\(ranks == nil ? "" : ", training.ranks: 1")}
        """
        let file = path("\(name).yaml")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The one-process sweep's fingerprint, made once per length for the test process.
    func reference(sequences: Int = 4800) throws -> [String: [UInt64]] {
        GangTests.lock.lock()
        defer { GangTests.lock.unlock() }
        if let known = GangTests.references[sequences] { return known }
        let spec = try writeSpec("reference-\(sequences)", sequences: sequences, ranks: nil)
        let r = try Launcher.run(["run", spec])
        XCTAssertEqual(r.status, 0, r.output)
        let fingerprint = try SweepFixture.fingerprint(path("reference-\(sequences).h5"))
        GangTests.references[sequences] = fingerprint
        return fingerprint
    }
    static var references: [Int: [String: [UInt64]]] = [:]
    static let lock = NSLock()

    /// Each gang's ranks from the coordinator's lines `run N NAME: on ranks a, b (node n)`.
    func gangs(_ output: String) -> [(ranks: [Int], node: Int)] {
        output.split(separator: "\n").compactMap { line in
            guard let on = line.range(of: ": on ranks "), let open = line.range(of: " (node ") else { return nil }
            let ranks = line[on.upperBound..<open.lowerBound].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return (ranks, Int(line[open.upperBound...].dropLast()) ?? -1)
        }
    }

    /// `train` started by `mpirun -np R` trains one run on R ranks: 6 shards
    /// give the same metrics, to the bit, on 1, 2 and 3 ranks, with the
    /// ranks sharing memory (one node) and with messages (as across nodes).
    func testTrainOnOneTwoAndThreeRanksGivesTheSameBits() throws {
        let args = ["train", "--classes", "64", "--exemplars", "8", "--data-classes", "64", "--data-exemplars", "8", "--dim", "32",
                    "--sequences", "2304", "--eval-interval", "768", "--eval-sequences", "200", "--batch", "24", "--shards", "6"]
        var metrics: [[String: [UInt64]]] = []
        for (ranks, messages) in [(0, false), (2, false), (3, false), (2, true), (3, true)] {
            let out = path("train-\(ranks)-\(messages).h5")
            let r = try Launcher.run(args + ["--out", out], ranks: ranks, env: messages ? [MPIGang.memoryVariable: "messages"] : [:], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertEqual(r.output.components(separatedBy: "metrics written to").count, 2, "one rank writes: \(r.output)")
            if ranks > 0 {
                XCTAssert(r.output.contains("on \(ranks) ranks (" + (messages ? "messages)" : "one node: shared memory)")), r.output)
            }
            let file = try H5File.open(out)
            var m: [String: [UInt64]] = [:]
            for name in ["metrics/train_loss", "metrics/accuracy", "metrics/in_context_accuracy", "metrics/loss"] {
                m[name] = (try file.read(name) as [Double]).map(\.bitPattern)
            }
            metrics.append(m)
        }
        XCTAssertEqual(metrics[0]["metrics/train_loss"]?.count, 4)
        XCTAssertEqual(metrics[1], metrics[0], "2 ranks")
        XCTAssertEqual(metrics[2], metrics[0], "3 ranks")
        XCTAssertEqual(metrics[3], metrics[0], "2 ranks, messages")
        XCTAssertEqual(metrics[4], metrics[0], "3 ranks, messages")
        let tooMany = try Launcher.run(args + ["--shards", "2", "--out", path("x.h5")], ranks: 3, timeout: 60)
        XCTAssertNotEqual(tooMany.status, 0)
        XCTAssert(tooMany.output.contains("mpirun started 3 processes: 3 ranks for 2 shards"), tooMany.output)
    }

    /// A sweep with gangs on 3 workers equals the one-process reference; a
    /// worker of a gang killed part-way, then the sweep resumed with other
    /// rank counts (a requeued job that got fewer ranks), equals it too.
    func testGangSweepEqualsTheReferenceAndResumesOnOtherRanks() throws {
        let expected = try reference()
        let spec = try writeSpec("gangs")
        let r = try Launcher.run(["run", spec], ranks: 4)
        XCTAssertEqual(r.status, 0, r.output)
        SweepFixture.assertSame(expected, try SweepFixture.fingerprint(path("gangs.h5")), "gangs on 3 workers")
        let placed = gangs(r.output)
        XCTAssertEqual(placed.map(\.ranks.count).sorted(), [2, 2, 2, 2, 3], r.output)
        XCTAssert(placed.allSatisfy { Set($0.ranks).count == $0.ranks.count && $0.ranks.allSatisfy((1...3).contains) }, r.output)

        let long = try reference(sequences: 24_000)
        let killed = try writeSpec("killed", sequences: 24_000)
        try SweepFixture.runAndKillAWorker(killed, results: path("killed.h5"), partway: 2400,
                                           start: { try Launcher.start(["run", killed], ranks: 4) })
        _ = try writeSpec("killed", sequences: 24_000, ranks: (3, 2))
        let resumed = try Launcher.run(["run", killed], ranks: 4)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssert(resumed.output.contains("resuming from checkpoint"), resumed.output)
        XCTAssert(gangs(resumed.output).contains { $0.ranks.count == 3 }, "the grid's runs now on 3 ranks: \(resumed.output)")
        SweepFixture.assertSame(long, try SweepFixture.fingerprint(path("killed.h5")), "killed, resumed on other ranks")
    }

    /// Two simulated nodes (ranks 0, 2, 4 and 1, 3): every gang within one.
    func testGangsStayWithinANode() throws {
        let spec = try writeSpec("nodes", ranks: (2, 2))
        let r = try Launcher.run(["run", spec], ranks: 5, env: [NodeLayout.simulatedNodesVariable: "2"])
        XCTAssertEqual(r.status, 0, r.output)
        let placed = gangs(r.output)
        XCTAssertEqual(placed.count, 5, r.output)
        for g in placed { XCTAssertEqual(Set(g.ranks.map { $0 % 2 }).count, 1, "gang \(g.ranks) spans nodes: \(r.output)") }
        SweepFixture.assertSame(try reference(), try SweepFixture.fingerprint(path("nodes.h5")), "2 simulated nodes")
    }

    /// Three nodes for real: `mpirun --host nodeA:2,nodeB:3,nodeC:2` starts
    /// each node's daemon through an rsh agent that runs it under its own
    /// UTS namespace with that host name, so the ranks of different nodes
    /// talk over TCP and each node shares its own memory. One feature table
    /// per node, gangs within a node, the reference's bits, gangs across
    /// nodes when allowed, and a kill and resume across the nodes.
    func testASweepAcrossThreeNodes() throws {
        guard (try? Launcher.run(["/usr/bin/unshare", "--uts", "true"], raw: true, timeout: 10))?.status == 0 else {
            throw XCTSkip("unshare --uts is not permitted here (it needs CAP_SYS_ADMIN): no separate host names")
        }
        let agent = path("agent")
        try """
        #!/bin/sh
        # An rsh agent for OpenMPI: "agent HOST COMMAND..." runs COMMAND here, in a UTS namespace named HOST.
        host=$1; shift
        exec /usr/bin/unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$host" "$*"
        """.write(toFile: agent, atomically: true, encoding: .utf8)
        chmod(agent, 0o755)
        let bin = try Launcher.binary()
        func mpirun(_ spec: String) -> [String] {
            // the 7 ranks share 2 cores: waiting ranks must yield (mpirun sets this itself only for its own node)
            ["/usr/bin/mpirun", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1", "--mca", "plm_rsh_agent", agent,
             "--host", "nodeA:2,nodeB:3,nodeC:2", "-np", "7", bin, "run", spec]
        }
        let nodeOf = [0: "nodeA", 1: "nodeA", 2: "nodeB", 3: "nodeB", 4: "nodeB", 5: "nodeC", 6: "nodeC"]
        let spec = try writeSpec("three-nodes")
        let r = try Launcher.run(mpirun(spec), raw: true, timeout: 300)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssert(r.output.contains("one copy per node on 3 nodes"), r.output)
        let placed = gangs(r.output)
        XCTAssertEqual(placed.count, 5, r.output)
        for g in placed { XCTAssertEqual(Set(g.ranks.map { nodeOf[$0]! }).count, 1, "gang \(g.ranks) spans nodes: \(r.output)") }
        XCTAssert(placed.contains { $0.ranks.count == 3 && $0.ranks.allSatisfy { nodeOf[$0] == "nodeB" } }, "3 ranks fit only nodeB")
        let hosts = try H5File.open(path("three-nodes.h5")).dataset("runs/host").readStrings()
        XCTAssert(Set(hosts).isSubset(of: ["nodeA", "nodeB", "nodeC"]) && Set(hosts).count >= 2, "\(hosts)")
        SweepFixture.assertSame(try reference(), try SweepFixture.fingerprint(path("three-nodes.h5")), "3 nodes")

        // Gangs of 4, more than any node has, allowed to span nodes: the same bits over TCP.
        let spanning = try writeSpec("spanning", ranks: (4, 4))
        let sp = try Launcher.run(mpirun(spanning) + ["--gangs-across-nodes"], raw: true, timeout: 300)
        XCTAssertEqual(sp.status, 0, sp.output)
        XCTAssert(gangs(sp.output).contains { g in g.ranks.count == 4 && Set(g.ranks.map { nodeOf[$0]! }).count > 1 }, sp.output)
        SweepFixture.assertSame(try reference(), try SweepFixture.fingerprint(path("spanning.h5")), "gangs across nodes")

        let long = try reference(sequences: 24_000)
        let killed = try writeSpec("killed-nodes", sequences: 24_000)
        try SweepFixture.runAndKillAWorker(killed, results: path("killed-nodes.h5"), partway: 2400,
                                           start: { try Launcher.start(mpirun(killed), raw: true) })
        let resumed = try Launcher.run(mpirun(killed), raw: true, timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssert(resumed.output.contains("resuming from checkpoint"), resumed.output)
        SweepFixture.assertSame(long, try SweepFixture.fingerprint(path("killed-nodes.h5")), "3 nodes, killed and resumed")
    }

    /// A gang waiting for workers holds them, and they take the best
    /// single-rank runs that end before it can start, skipping a longer one
    /// ahead of them. 2 workers: `first` (the most work hangs on it: `after`
    /// starts from its end) trains on one; `gang` (2 ranks) waits for it;
    /// `long`, next in order, would end after `first`, so the other worker
    /// takes the grid's short runs instead. Progress notes every second give
    /// the coordinator its estimates.
    func testAWaitingGangLetsRunsThatEndInTimeGoFirst() throws {
        let text = BackfillSpec.text
        let spec = path("backfill.yaml")
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        let parsed = try SweepSpec.parse(text, file: spec)
        let graph = RunGraph(parsed.runs, costs: parsed.runCosts(wall: true))
        let byName = Dictionary(uniqueKeysWithValues: parsed.runs.map { ($0.name, $0.id) })
        XCTAssertEqual(parsed.schedule(of: Array(0..<parsed.runs.count), graph: graph).prefix(3).map { parsed.runs.name(of: $0) },
                       ["first", "gang", "long"], "the order the test is built on")
        XCTAssertGreaterThan(parsed.runCosts()[byName["long"]!], parsed.runCosts()[byName["first"]!], "long cannot end before first")

        let r = try Launcher.run(["run", spec, "--progress-every", "1"], ranks: 3, timeout: 240)
        XCTAssertEqual(r.status, 0, r.output)
        let backfilled = r.output.split(separator: "\n").compactMap { line -> String? in
            guard let at = line.range(of: ": backfills rank ") else { return nil }
            return line[..<at.lowerBound].split(separator: " ").last.map(String.init)
        }
        XCTAssertFalse(backfilled.isEmpty, "the free worker took short runs while the gang waited: \(r.output)")
        XCTAssert(backfilled.allSatisfy { $0.hasPrefix("K16-E4-bursty-s") }, "only runs that end in time: \(backfilled)")
        XCTAssertEqual(gangs(r.output).map(\.ranks.count), [2], r.output)
        let status: [Int32] = try H5File.open(path("backfill.h5")).read("runs/status")
        XCTAssertEqual(status.count, 12)
        XCTAssert(status.allSatisfy { $0 == RunStatus.done.rawValue }, "\(status)")
    }

    /// Runs the job cannot place are refused in one line naming the spec's
    /// line and field, before anything is created.
    func testPlacementsTheJobCannotGiveAreRefusedBeforeAnythingIsMade() throws {
        let spec = try writeSpec("bad", ranks: (2, 3))
        let few = try Launcher.run(["run", spec], ranks: 3, timeout: 60)
        XCTAssertEqual(few.status, 1, few.output)
        let line = few.output.split(separator: "\n").first { $0.hasPrefix("error:") }.map(String.init) ?? ""
        XCTAssert(line.hasPrefix("error: \(spec):20: runs.wide.training.ranks: run wide asks for 3 ranks, and this job has 2 training ranks"), few.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.h5")), "no results file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.h5.checkpoints")), "no checkpoint folder")

        let node = try Launcher.run(["run", spec], ranks: 5, env: [NodeLayout.simulatedNodesVariable: "2"], timeout: 60)
        XCTAssertEqual(node.status, 1, node.output)
        XCTAssert(node.output.contains("run wide asks for 3 ranks on one node, and the largest node has 2 training ranks (nodes: 2, 2)"),
                  node.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.h5")))
    }
}
