import Foundation

/// The estimates behind backfilling: when a gang that waits for workers
/// can start, and whether a single-rank run may use a held worker first.
/// Work is in the units of `SweepSpec.runCosts` (FLOPs); `rate` is work
/// per second per rank, learnt from the runs' progress notes.
enum Backfill {
    /// Seconds until a run in training ends: its work left at its last
    /// progress note (`done` of `total` sequences; nil: none yet, counted
    /// from its start), over `ranks` ranks at `rate`, less the time since.
    static func left(cost: Double, done: Int?, total: Int, ranks: Int, rate: Double, since: TimeInterval) -> Double {
        let fraction = Double(done ?? 0) / Double(max(total, 1))
        return max(0, cost * (1 - fraction) / (rate * Double(max(ranks, 1))) - since)
    }

    /// Seconds until `needed` more workers are free, from when each busy
    /// worker of the node is estimated to be; nil when fewer are busy.
    static func wait(needed: Int, ends: [Double]) -> Double? {
        guard needed > 0 else { return 0 }
        guard ends.count >= needed else { return nil }
        return ends.sorted()[needed - 1]
    }

    /// Whether a single-rank run of `cost` may start on a worker held for a
    /// gang that can start in `wait` seconds: only if it is estimated to end first.
    static func fits(cost: Double, rate: Double, before wait: Double) -> Bool { cost / rate <= wait }
}
