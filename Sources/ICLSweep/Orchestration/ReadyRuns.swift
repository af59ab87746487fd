import Foundation

/// The runs ready to start, in hand-out order (the most work hanging on a
/// run first, then by id), kept in one lane per rank count
/// (`training.ranks`), so the coordinator sees at once the best run for a
/// free worker and the best run for a gang. A grid's runs share one rank
/// count, so lanes are few; taking a run is O(1) for runs ready from the
/// start and O(released) for runs released later.
struct ReadyRuns {
    private let graph: RunGraph
    private let ranksOf: (Int) -> Int
    private var lanes: [Int: Lane] = [:]

    private struct Lane {
        /// Runs ready from the start, in order, from `next` on.
        var queue: [Int]
        var next = 0
        /// Runs that became ready later (or were handed back), in order.
        var released: [Int] = []
        var isEmpty: Bool { next >= queue.count && released.isEmpty }
    }

    /// `ready` in hand-out order.
    init(_ ready: [Int], graph: RunGraph, ranks: @escaping (Int) -> Int) {
        self.graph = graph
        ranksOf = ranks
        for id in ready { lanes[ranks(id), default: Lane(queue: [])].queue.append(id) }
    }

    private func before(_ a: Int, _ b: Int) -> Bool {
        let pa = graph.priority(a), pb = graph.priority(b)
        return pa != pb ? pa > pb : a < b
    }

    /// The first run of `lane`, in hand-out order (its queue and its
    /// released runs merged), for which `fits` holds.
    private func first(in lane: Lane, where fits: (Int) -> Bool) -> Int? {
        var q = lane.next, r = 0
        while q < lane.queue.count || r < lane.released.count {
            let fromQueue = r >= lane.released.count || (q < lane.queue.count && before(lane.queue[q], lane.released[r]))
            let id = fromQueue ? lane.queue[q] : lane.released[r]
            if fits(id) { return id }
            if fromQueue { q += 1 } else { r += 1 }
        }
        return nil
    }

    private func head(_ lane: Lane) -> Int? { first(in: lane) { _ in true } }

    var isEmpty: Bool { lanes.values.allSatisfy(\.isEmpty) }

    /// The first run of each lane, best first: (run, the ranks it asks for).
    var heads: [(run: Int, ranks: Int)] {
        lanes.compactMap { r, lane in head(lane).map { ($0, r) } }.sorted { before($0.run, $1.run) }
    }

    /// The first run of the lane of runs on `ranks` ranks.
    func head(ranks: Int) -> Int? { lanes[ranks].flatMap(head) }

    /// Removes and returns the first run of the lane of `ranks`.
    mutating func take(ranks: Int) -> Int {
        let id = head(lanes[ranks]!)!
        take(id)
        return id
    }

    /// The first run of the lane of `ranks`, in hand-out order, for which
    /// `fits` holds (a worker held for a gang takes the best run that ends
    /// in time, not only the lane's first). O(lane) at most.
    func first(ranks: Int, where fits: (Int) -> Bool) -> Int? {
        lanes[ranks].flatMap { first(in: $0, where: fits) }
    }

    /// Removes run `id` from its lane (it is ready: `head` or `first` gave
    /// it). O(1) for a lane's first run.
    mutating func take(_ id: Int) {
        var lane = lanes[ranksOf(id)]!
        if lane.next < lane.queue.count, lane.queue[lane.next] == id {
            lane.next += 1
        } else if let i = lane.released.firstIndex(of: id) {
            lane.released.remove(at: i)
        } else if let i = lane.queue[lane.next...].firstIndex(of: id) {
            lane.queue.remove(at: i)
        } else {
            preconditionFailure("run \(id) is not ready")
        }
        lanes[ranksOf(id)] = lane
    }

    /// A run that became ready, in its place.
    mutating func release(_ id: Int) {
        var lane = lanes[ranksOf(id)] ?? Lane(queue: [])
        let at = lane.released.firstIndex { before(id, $0) } ?? lane.released.count
        lane.released.insert(id, at: at)
        lanes[ranksOf(id)] = lane
    }
}
