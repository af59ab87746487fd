import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

final class FeatureTableTests: XCTestCase {
    func testSyntheticIsDeterministicAndNested() {
        let spec = SyntheticData(classes: 10, exemplars: 6, dim: 8, noise: 0.2, seed: 4)
        let big = spec.table(classes: 10, exemplars: 6)
        let again = spec.table(classes: 10, exemplars: 6)
        XCTAssertEqual(big.values, again.values)
        let small = spec.table(classes: 3, exemplars: 2)
        for c in 0..<3 { for e in 0..<2 { for i in 0..<8 {
            XCTAssertEqual(small.values[small.row(class: c, exemplar: e) * 8 + i], big.values[big.row(class: c, exemplar: e) * 8 + i])
        } } }
        let other = SyntheticData(classes: 10, exemplars: 6, dim: 8, noise: 0.2, seed: 5).table(classes: 10, exemplars: 6)
        XCTAssertNotEqual(big.values, other.values)
    }

    func testSyntheticClassesAreClusters() {
        // Within-class distances are much smaller than between-class ones at low noise.
        let t = SyntheticData(classes: 4, exemplars: 5, dim: 64, noise: 0.1, seed: 1).table(classes: 4, exemplars: 5)
        func dist(_ a: Int, _ b: Int) -> Float {
            (0..<64).map { let d = t.values[a * 64 + $0] - t.values[b * 64 + $0]; return d * d }.reduce(0, +)
        }
        XCTAssertLessThan(dist(0, 1) * 10, dist(0, 5))
    }

    /// Hierarchical classes: class c varies prototype c mod P, so classes
    /// sharing a prototype are much closer than others, yet distinct; the
    /// table is still nested, and unit variance per component.
    func testHierarchicalClassesShareTheirPrototypes() {
        let spec = SyntheticData(classes: 12, exemplars: 40, dim: 256, noise: 0.5, seed: 2, prototypes: 3, spread: 0.3)
        let t = spec.table(classes: 12, exemplars: 40)
        func mean(_ c: Int) -> [Float] {
            (0..<256).map { i in (0..<40).map { t.values[t.row(class: c, exemplar: $0) * 256 + i] }.reduce(0, +) / 40 }
        }
        func dist(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }
        let (m0, m3, m1) = (mean(0), mean(3), mean(1))   // 0 and 3 share prototype 0; 1 has prototype 1
        // expected squared distances (per component, before scaling by 1 / (1 + 0.09 + 0.25)):
        // same prototype 2 x 0.09 (+ noise of the means), different 2 x 1.09
        XCTAssertLessThan(dist(m0, m3) * 5, dist(m0, m1))
        XCTAssertGreaterThan(dist(m0, m3), 256 * 2 * 0.09 / 1.34 * 0.7, "classes of one prototype still differ")
        let variance = t.values.map { $0 * $0 }.reduce(0, +) / Float(t.values.count)
        XCTAssertEqual(variance, 1, accuracy: 0.15)
        let small = spec.table(classes: 5, exemplars: 3)
        for c in 0..<5 { for e in 0..<3 { for i in 0..<256 {
            XCTAssertEqual(small.values[small.row(class: c, exemplar: e) * 256 + i], t.values[t.row(class: c, exemplar: e) * 256 + i])
        } } }
        // The flat table is untouched by the new fields' absence, and spread alone changes nothing.
        let flat = SyntheticData(classes: 12, exemplars: 4, dim: 8, noise: 0.5, seed: 2)
        XCTAssertNotEqual(flat.table(classes: 12, exemplars: 4).values,
                          SyntheticData(classes: 12, exemplars: 4, dim: 8, noise: 0.5, seed: 2, prototypes: 12).table(classes: 12, exemplars: 4).values)
        var spreadOnly = flat
        spreadOnly.spread = 0.7
        XCTAssertEqual(flat.table(classes: 12, exemplars: 4).values, spreadOnly.table(classes: 12, exemplars: 4).values)
        // a flat run's stored config (compared when a run resumes) is what it was before these fields existed
        let json = RunConfig(data: .synthetic(flat), classes: 12, exemplars: 4, variant: .bursty, seed: 0,
                             sequences: 32, evalInterval: 32, evalClasses: 12, evalExemplars: 4).json
        XCTAssertFalse(json.contains("prototypes") || json.contains("spread"), json)
    }

    func testFeatureFileReadsCornerAndRejectsBadInput() throws {
        let dir = try TemporaryFolder.make("ft")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("feat.h5").path
        let values = (0..<(4 * 3 * 2)).map { Float($0) }
        do {
            let f = try H5File.create(path)
            try f.write("resnet18/224/feat", values, shape: [4, 3, 2])
            try f.write("flat", values, shape: [24])
            try f.write("ints", values.map { Int32($0) }, shape: [4, 3, 2])
        }
        let table = try FeatureFile(path: path, dataset: "resnet18/224/feat").table(classes: 2, exemplars: 2)
        XCTAssertEqual(table.values, [0, 1, 2, 3, 6, 7, 8, 9])
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssert(message { _ = try FeatureFile(path: dir.path + "/missing.h5", dataset: "x").shape() }.contains("cannot open"))
        XCTAssert(message { _ = try FeatureFile(path: path, dataset: "nope").shape() }.contains("no dataset 'nope'"))
        XCTAssert(message { _ = try FeatureFile(path: path, dataset: "flat").shape() }.contains("rank 1"))
        XCTAssert(message { _ = try FeatureFile(path: path, dataset: "ints").shape() }.contains("not floating point"))
        XCTAssert(message { _ = try FeatureFile(path: path, dataset: "resnet18/224/feat").table(classes: 5, exemplars: 1) }
            .contains("asked for 5 classes"))
        XCTAssert(message { _ = try FeatureFile(path: path, dataset: "resnet18/224/feat").table(classes: 1, exemplars: 4) }
            .contains("asked for 4 exemplars"))
    }
}
