import CHDF5
import XCTest
@testable import ICLData
@testable import ICLModel
@testable import ICLSupport
@testable import ICLSweep
@testable import ICLTraining

/// The HDF5 wrapper's one error path carries the call and HDF5's own message.
final class HDF5Tests: XCTestCase {
    func testErrorsNameTheCallAndCarryHDF5sMessage() throws {
        let path = TemporaryFolder.path("not-hdf5")
        try Data("plain text".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try H5File.open(path)) { error in
            let text = "\(error)"
            XCTAssert(text.hasPrefix("HDF5 H5Fopen(\(path)) failed:"), text)
            XCTAssert(text.lowercased().contains("signature"), "HDF5's own reason: \(text)")
        }
        // The file driver's reason, on one line and without its time and flags.
        XCTAssertThrowsError(try H5File.create(TemporaryFolder.path("no-such-folder") + "/x.h5")) { error in
            let text = "\(error)"
            XCTAssert(text.contains("No such file or directory"), text)
            XCTAssertFalse(text.contains("\n") || text.contains("time =") || text.contains("tent_flags"), text)
        }
    }

    /// Strings stored variable-length, as h5py writes them (say, after a
    /// user edits a results file in Python), read back as written; an
    /// attribute that is not a string is an error, not bytes taken for text.
    func testVariableLengthStringsReadAsWrittenAndANumberIsNoString() throws {
        let path = TemporaryFolder.path("vlen", suffix: ".h5")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try H5File.create(path).close()
        do {  // h5py's way, with the C API: UTF-8 strings of variable length
            let plist = shim_H5P_DEFAULT()
            let file = H5Fopen(path, shim_H5F_ACC_RDWR(), plist)
            let type = H5Tcopy(shim_H5T_C_S1())
            H5Tset_size(type, shim_H5T_VARIABLE())
            H5Tset_cset(type, H5T_CSET_UTF8)
            let scalar = H5Screate(H5S_SCALAR)
            var dims: [hsize_t] = [3]
            let space = H5Screate_simple(1, &dims, nil)
            let attr = H5Acreate2(file, "axes", type, scalar, plist, plist)
            let axes: [String] = ["classes,héllo"], written: [String] = ["a", "", "ünïcode, and longer"]
            let text = axes.map { strdup($0)! }, names = written.map { strdup($0)! }
            defer { (text + names).forEach { free($0) } }
            var textPointers = text, namePointers = names
            XCTAssertGreaterThanOrEqual(H5Awrite(attr, type, &textPointers), 0)
            let dataset = H5Dcreate2(file, "names", type, space, plist, plist, plist)
            XCTAssertGreaterThanOrEqual(H5Dwrite(dataset, type, shim_H5S_ALL(), shim_H5S_ALL(), plist, &namePointers), 0)
            let number = H5Acreate2(file, "count", shim_H5T_NATIVE_INT32(), scalar, plist, plist)
            var seven: Int32 = 7
            XCTAssertGreaterThanOrEqual(H5Awrite(number, shim_H5T_NATIVE_INT32(), &seven), 0)
            H5Aclose(number); H5Dclose(dataset); H5Aclose(attr)
            H5Sclose(space); H5Sclose(scalar); H5Tclose(type)
            XCTAssertGreaterThanOrEqual(H5Fclose(file), 0)
        }
        let f = try H5File.open(path)
        XCTAssertEqual(try f.attribute("axes"), "classes,héllo")
        XCTAssertEqual(try f.dataset("names").readStrings(), ["a", "", "ünïcode, and longer"])
        XCTAssertThrowsError(try f.attribute("count")) {
            XCTAssertEqual("\($0)", "HDF5 H5Aread(count) failed: attribute 'count' in \(path) is not a string")
        }
    }

    func testRoundTripOfBlocksStringsAndFillValues() throws {
        let path = TemporaryFolder.path("rt", suffix: ".h5")
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
