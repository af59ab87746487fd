import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The HDF5 wrapper's one error path carries the call and HDF5's own message.
final class HDF5Tests: XCTestCase {
    func testErrorsNameTheCallAndCarryHDF5sMessage() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-hdf5-\(UUID().uuidString)").path
        try Data("plain text".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try H5File.open(path)) { error in
            let text = "\(error)"
            XCTAssert(text.hasPrefix("HDF5 H5Fopen(\(path)) failed:"), text)
            XCTAssert(text.lowercased().contains("signature"), "HDF5's own reason: \(text)")
        }
    }

    func testRoundTripOfBlocksStringsAndFillValues() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rt-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let f = try H5File.create(path)
            let d = try f.createDataset("a/b", of: Double.self, shape: [3, 2], fill: .nan)
            try d.writeBlock([1.5, 2.5], start: [1, 0], count: [1, 2])
            let s = try f.createStringDataset("names", length: 4, shape: [2])
            try s.writeStrings(["abc", "toolong"], start: 0)
            try f.setAttribute("note", "héllo")
            try d.close(); try s.close(); try f.close()
        }
        let f = try H5File.open(path)
        let values: [Double] = try f.read("a/b")
        XCTAssert(values[0].isNaN && values[1].isNaN && values[4].isNaN && values[5].isNaN)
        XCTAssertEqual(Array(values[2...3]), [1.5, 2.5])
        XCTAssertEqual(try f.dataset("names").readStrings(), ["abc", "tool"])
        XCTAssertEqual(try f.attribute("note"), "héllo")
        XCTAssertThrowsError(try f.dataset("missing")) { XCTAssert("\($0)".contains("no dataset 'missing'")) }
    }
}
