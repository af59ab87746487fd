import CHDF5
import CMPI
import Foundation

/// A failed HDF5 call: the function's name and HDF5's own error stack.
public struct HDF5Error: Error, CustomStringConvertible {
    public let function: String
    public let message: String
    public var description: String { "HDF5 \(function) failed: \(message)" }
    package init(function: String, message: String) { self.function = function; self.message = message }
}

/// The one error path for HDF5: every call's result goes through here.
package enum H5 {
    /// Silences HDF5's automatic stack printing (errors are thrown instead),
    /// and keeps HDF5 from closing files at process exit: after an error a
    /// file may still be open, and closing it after `MPI_Finalize` crashes
    /// (files are closed explicitly on every path that keeps them).
    static let silenced: Void = {
        _ = H5dont_atexit()
        _ = H5Eset_auto2(shim_H5E_DEFAULT(), nil, nil)
    }()

    /// Runs one HDF5 call and throws its error stack when it fails. The
    /// system's reason (errno, e.g. ENOSPC) is added where the stack lacks it:
    /// the MPI-IO driver reports only `MPI_ERR_IO`.
    @discardableResult
    static func check<T: BinaryInteger>(_ function: String, _ call: @autoclosure () -> T) throws -> T {
        errno = 0
        let result = call()
        let reason = errno
        if result < 0 {
            var message = stackMessage()
            if environmentalErrnos.contains(reason), case let text = String(cString: strerror(reason)), !message.contains(text) {
                message += "; the system said: \(text)"
            }
            throw HDF5Error(function: function, message: message)
        }
        return result
    }

    /// The errno values that name a fault of the machine, worth adding to a message.
    static let environmentalErrnos: Set<Int32> = [ENOSPC, EDQUOT, EIO, EROFS, EACCES, ESTALE, ENOTCONN]

    /// Counts one I/O call (`IOCalls`), failing it as HDF5 would when it is the planned one.
    static func enter(_ function: @autoclosure () -> String, _ file: StaticString, _ line: UInt) throws {
        do { try IOCalls.enter(function(), file, line) } catch let f as IOCalls.Failure {
            throw HDF5Error(function: function(), message: f.description)
        }
    }

    /// Reads the innermost messages of the current error stack, then clears it.
    static func stackMessage() -> String {
        final class Box { var lines: [String] = [] }
        let box = Box()
        let walker: H5E_walk2_t = { _, err, data in
            guard let err, let data else { return 0 }
            let box = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
            let fn = err.pointee.func_name.map { String(cString: $0) } ?? "?"
            var desc = err.pointee.desc.map { String(cString: $0) } ?? ""
            // The file drivers' messages carry the OS error among many fields
            // (time, descriptor, buffer address, ...): keep what a user needs.
            if let reason = desc.range(of: "error message = '"), let end = desc[reason.upperBound...].firstIndex(of: "'") {
                let what = desc.prefix { $0 != ":" }
                desc = "\(what): \(desc[reason.upperBound..<end])"
            }
            // H5F_open adds the time and flags after a line break: one line, without them.
            if let fields = desc.range(of: ": time = ") { desc = String(desc[..<fields.lowerBound]) }
            box.lines.append("\(fn): " + desc.split(whereSeparator: \.isNewline).joined(separator: " "))
            return 0
        }
        _ = H5Ewalk2(shim_H5E_DEFAULT(), H5E_WALK_UPWARD, walker,
                     Unmanaged.passUnretained(box).toOpaque())
        H5Eclear2(shim_H5E_DEFAULT())
        return box.lines.isEmpty ? "no HDF5 error stack" : box.lines.prefix(3).joined(separator: "; ")
    }

    static var defaultPlist: hid_t { shim_H5P_DEFAULT() }

    /// A fixed-length, NUL-padded string type of `length` bytes.
    static func stringType(length: Int) throws -> H5Handle {
        let type = H5Handle(try check("H5Tcopy", H5Tcopy(shim_H5T_C_S1())), close: H5Tclose)
        try check("H5Tset_size", H5Tset_size(type.id, max(length, 1)))
        try check("H5Tset_strpad", H5Tset_strpad(type.id, H5T_STR_NULLPAD))
        return type
    }

    /// The `count` strings of an attribute or dataset whose stored type is
    /// `type`: fixed-length, as iclsweep writes them, or variable-length, as
    /// h5py writes them by default. `read(memoryType, buffer)` is the H5Aread
    /// or H5Dread call named `what`.
    static func readStrings(type: hid_t, count: Int, what: String,
                            _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        if try check("H5Tis_variable_str", H5Tis_variable_str(type)) > 0 {
            let memory = H5Handle(try check("H5Tcopy", H5Tcopy(shim_H5T_C_S1())), close: H5Tclose)
            try check("H5Tset_size", H5Tset_size(memory.id, shim_H5T_VARIABLE()))
            try check("H5Tset_cset", H5Tset_cset(memory.id, H5Tget_cset(type)))
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
            try check(what, pointers.withUnsafeMutableBytes { read(memory.id, $0.baseAddress!) })
            defer { for p in pointers where p != nil { H5free_memory(p) } }  // HDF5 allocated them
            return pointers.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
        }
        let length = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: max(length * count, 1))
        try check(what, bytes.withUnsafeMutableBytes { read(type, $0.baseAddress!) })
        return (0..<count).map { i in
            String(decoding: bytes[i * length ..< (i + 1) * length].prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// Element types that map to an HDF5 native type.
public protocol H5Element { static var h5Type: hid_t { get } ; init() }
extension Float: H5Element { public static var h5Type: hid_t { shim_H5T_NATIVE_FLOAT() } }
extension Double: H5Element { public static var h5Type: hid_t { shim_H5T_NATIVE_DOUBLE() } }
extension Int32: H5Element { public static var h5Type: hid_t { shim_H5T_NATIVE_INT32() } }
extension Int64: H5Element { public static var h5Type: hid_t { shim_H5T_NATIVE_INT64() } }
extension UInt64: H5Element { public static var h5Type: hid_t { shim_H5T_NATIVE_UINT64() } }
extension UInt8: H5Element { public static var h5Type: hid_t { shim_H5T_NATIVE_UINT8() } }

/// An open HDF5 identifier, closed with the matching `H5?close` when released.
package final class H5Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private var isOpen = true
    /// False for a parallel file: closing it is collective, and a release on
    /// one rank's error path would wait for ranks that never come.
    private let closesOnRelease: Bool
    package init(_ id: hid_t, close: @escaping (hid_t) -> herr_t, onRelease: Bool = true) {
        self.id = id; self.closer = close; self.closesOnRelease = onRelease
    }

    /// Closes now, reporting failure; `deinit` closes whatever is still open.
    package func close(_ what: String) throws {
        guard isOpen else { return }
        isOpen = false
        try H5.check(what, closer(id))
    }

    deinit { if isOpen && closesOnRelease { _ = closer(id) } }
}

/// An HDF5 file, serial or (with an MPI communicator) parallel.
package final class H5File {
    package let path: String
    private let handle: H5Handle
    var id: hid_t { handle.id }

    /// A file open on more than one rank is closed only by `close()`, which
    /// every rank calls at the same point; an error path leaves it to the job's end.
    private init(path: String, id: hid_t, comm: MPIComm?) {
        self.path = path
        self.handle = H5Handle(id, close: H5Fclose, onRelease: comm == nil)
    }

    /// Creates (truncating) a file. With `comm`, the call is collective.
    package static func create(_ path: String, comm: MPIComm? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> H5File {
        _ = H5.silenced
        try H5.enter("H5Fcreate(\(path))", file, line)
        let fapl = try accessList(comm: comm)
        let id = try H5.check("H5Fcreate(\(path))",
                              H5Fcreate(path, shim_H5F_ACC_TRUNC(), H5.defaultPlist, fapl.id))
        return H5File(path: path, id: id, comm: comm)
    }

    /// Opens an existing file. With `comm`, the call is collective.
    package static func open(_ path: String, writable: Bool = false, comm: MPIComm? = nil,
                             file: StaticString = #fileID, line: UInt = #line) throws -> H5File {
        _ = H5.silenced
        try H5.enter("H5Fopen(\(path))", file, line)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw HDF5Error(function: "H5Fopen(\(path))", message: "no such file")
        }
        if isFolder.boolValue { throw HDF5Error(function: "H5Fopen(\(path))", message: "it is a folder, not a file") }
        let fapl = try accessList(comm: comm)
        let flags = writable ? shim_H5F_ACC_RDWR() : shim_H5F_ACC_RDONLY()
        let id = try H5.check("H5Fopen(\(path))", H5Fopen(path, flags, fapl.id))
        return H5File(path: path, id: id, comm: comm)
    }

    private static func accessList(comm: MPIComm?) throws -> H5Handle {
        let fapl = H5Handle(try H5.check("H5Pcreate", H5Pcreate(shim_H5P_FILE_ACCESS())), close: H5Pclose)
        if let comm {
            try H5.check("H5Pset_fapl_mpio", H5Pset_fapl_mpio(fapl.id, comm.handle, shim_MPI_INFO_NULL()))
        }
        return fapl
    }

    package func flush(file: StaticString = #fileID, line: UInt = #line) throws {
        try H5.enter("H5Fflush(\(path))", file, line)
        try H5.check("H5Fflush(\(path))", H5Fflush(id, H5F_SCOPE_GLOBAL))
    }

    /// Closes the file now (collective for a parallel file). Every dataset
    /// of it must be closed first: parallel HDF5 only closes a file that has
    /// no open objects, and otherwise leaves the other ranks waiting.
    package func close(file: StaticString = #fileID, line: UInt = #line) throws {
        try H5.enter("H5Fclose(\(path))", file, line)
        try handle.close("H5Fclose(\(path))")
    }

    // MARK: - Links

    package func exists(_ path: String) -> Bool {
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(id, prefix, H5.defaultPlist) <= 0 { return false }
        }
        return true
    }

    // MARK: - Datasets

    /// Creates a contiguous dataset (intermediate groups included), allocated
    /// at creation so raw writes never change metadata later.
    @discardableResult
    package func createDataset<T: H5Element>(_ name: String, of: T.Type, shape: [Int], fill: T? = nil,
                                             file: StaticString = #fileID, line: UInt = #line) throws -> H5Dataset {
        try createDataset(name, type: T.h5Type, shape: shape, fill: fill.map { value in { dcpl in
            var v = value
            try H5.check("H5Pset_fill_value", H5Pset_fill_value(dcpl, T.h5Type, &v))
        } }, file: file, line: line)
    }

    /// Creates a dataset of fixed-length, NUL-padded strings of `length` bytes.
    @discardableResult
    package func createStringDataset(_ name: String, length: Int, shape: [Int],
                                     file: StaticString = #fileID, line: UInt = #line) throws -> H5Dataset {
        let type = try H5.stringType(length: length)
        return try createDataset(name, type: type.id, shape: shape, fill: nil, file: file, line: line)
    }

    private func createDataset(_ name: String, type: hid_t, shape: [Int], fill: ((hid_t) throws -> Void)?,
                               file: StaticString, line: UInt) throws -> H5Dataset {
        try H5.enter("H5Dcreate2(\(name))", file, line)
        let dims = shape.map { hsize_t($0) }
        let space = H5Handle(try H5.check("H5Screate_simple", H5Screate_simple(Int32(dims.count), dims, nil)), close: H5Sclose)
        let lcpl = H5Handle(try H5.check("H5Pcreate", H5Pcreate(shim_H5P_LINK_CREATE())), close: H5Pclose)
        try H5.check("H5Pset_create_intermediate_group", H5Pset_create_intermediate_group(lcpl.id, 1))
        let dcpl = H5Handle(try H5.check("H5Pcreate", H5Pcreate(shim_H5P_DATASET_CREATE())), close: H5Pclose)
        try H5.check("H5Pset_alloc_time", H5Pset_alloc_time(dcpl.id, H5D_ALLOC_TIME_EARLY))
        try fill?(dcpl.id)
        let id = try H5.check("H5Dcreate2(\(name))",
                              H5Dcreate2(self.id, name, type, space.id, lcpl.id, dcpl.id, H5.defaultPlist))
        return H5Dataset(name: name, file: path, id: id)
    }

    package func dataset(_ name: String, file: StaticString = #fileID, line: UInt = #line) throws -> H5Dataset {
        guard exists(name) else {
            throw HDF5Error(function: "H5Dopen2(\(name))", message: "no dataset '\(name)' in \(path)")
        }
        try H5.enter("H5Dopen2(\(name))", file, line)
        let id = try H5.check("H5Dopen2(\(name) in \(path))", H5Dopen2(self.id, name, H5.defaultPlist))
        return H5Dataset(name: name, file: path, id: id)
    }

    /// Creates and writes a whole dataset in one go.
    package func write<T: H5Element>(_ name: String, _ values: [T], shape: [Int],
                                     file: StaticString = #fileID, line: UInt = #line) throws {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        try createDataset(name, of: T.self, shape: shape, file: file, line: line).write(values, file: file, line: line)
    }

    package func read<T: H5Element>(_ name: String, as: T.Type = T.self, file: StaticString = #fileID, line: UInt = #line) throws -> [T] {
        try dataset(name, file: file, line: line).read(file: file, line: line)
    }

    // MARK: - Attributes on the root group

    package func setAttribute(_ name: String, _ value: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try H5.enter("H5Awrite(\(name))", file, line)
        try attributeWrite(name, bytes: Array(value.utf8))
    }

    package func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    package func attribute(_ name: String, file: StaticString = #fileID, line: UInt = #line) throws -> String {
        guard hasAttribute(name) else {
            throw HDF5Error(function: "H5Aopen(\(name))", message: "no attribute '\(name)' in \(path)")
        }
        try H5.enter("H5Aread(\(name))", file, line)
        let attr = H5Handle(try H5.check("H5Aopen(\(name))", H5Aopen(id, name, H5.defaultPlist)), close: H5Aclose)
        let type = H5Handle(try H5.check("H5Aget_type", H5Aget_type(attr.id)), close: H5Tclose)
        guard H5Tget_class(type.id) == H5T_STRING else {
            throw HDF5Error(function: "H5Aread(\(name))", message: "attribute '\(name)' in \(path) is not a string")
        }
        return try H5.readStrings(type: type.id, count: 1, what: "H5Aread(\(name))") { H5Aread(attr.id, $0, $1) }[0]
    }

    private func attributeWrite(_ name: String, bytes: [UInt8]) throws {
        if hasAttribute(name) { try H5.check("H5Adelete(\(name))", H5Adelete(id, name)) }
        let type = H5Handle(try H5.check("H5Tcopy", H5Tcopy(shim_H5T_C_S1())), close: H5Tclose)
        try H5.check("H5Tset_size", H5Tset_size(type.id, max(bytes.count, 1)))
        let space = H5Handle(try H5.check("H5Screate", H5Screate(H5S_SCALAR)), close: H5Sclose)
        let attr = H5Handle(try H5.check("H5Acreate2(\(name))",
                                         H5Acreate2(id, name, type.id, space.id, H5.defaultPlist, H5.defaultPlist)),
                            close: H5Aclose)
        var data = bytes.isEmpty ? [0] : bytes
        try H5.check("H5Awrite(\(name))", H5Awrite(attr.id, type.id, &data))
    }
}

/// An open dataset.
package final class H5Dataset {
    let name: String
    let file: String
    private let handle: H5Handle
    var id: hid_t { handle.id }

    package init(name: String, file: String, id: hid_t) {
        self.name = name
        self.file = file
        self.handle = H5Handle(id, close: H5Dclose)
    }

    package func close() throws { try handle.close("H5Dclose(\(name))") }

    package var shape: [Int] {
        get throws {
            let space = H5Handle(try H5.check("H5Dget_space(\(name))", H5Dget_space(id)), close: H5Sclose)
            let rank = try H5.check("H5Sget_simple_extent_ndims", H5Sget_simple_extent_ndims(space.id))
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            try H5.check("H5Sget_simple_extent_dims", H5Sget_simple_extent_dims(space.id, &dims, nil))
            return dims.map { Int($0) }
        }
    }

    /// The class and size of the stored element type, e.g. (H5T_FLOAT, 4).
    package var storedType: (cls: H5T_class_t, size: Int) {
        get throws {
            let type = H5Handle(try H5.check("H5Dget_type(\(name))", H5Dget_type(id)), close: H5Tclose)
            return (H5Tget_class(type.id), H5Tget_size(type.id))
        }
    }

    /// Whether the dataset holds strings (rather than numbers).
    package var holdsStrings: Bool { get throws { try storedType.cls == H5T_STRING } }

    package func write<T: H5Element>(_ values: [T], file: StaticString = #fileID, line: UInt = #line) throws {
        try H5.enter("H5Dwrite(\(name))", file, line)
        try values.withUnsafeBufferPointer { buffer in
            _ = try H5.check("H5Dwrite(\(name))",
                         H5Dwrite(id, T.h5Type, shim_H5S_ALL(), shim_H5S_ALL(), H5.defaultPlist, buffer.baseAddress))
        }
    }

    package func read<T: H5Element>(file: StaticString = #fileID, line: UInt = #line) throws -> [T] {
        try H5.enter("H5Dread(\(name))", file, line)
        let count = try shape.reduce(1, *)
        var values = [T](repeating: T(), count: count)
        try values.withUnsafeMutableBufferPointer { buffer in
            _ = try H5.check("H5Dread(\(name))",
                         H5Dread(id, T.h5Type, shim_H5S_ALL(), shim_H5S_ALL(), H5.defaultPlist, buffer.baseAddress))
        }
        return values
    }

    /// Writes a block `start ..< start+count` (per dimension) independently:
    /// no other rank takes part, and no metadata changes.
    package func writeBlock<T: H5Element>(_ values: UnsafeBufferPointer<T>, start: [Int], count: [Int],
                                          file: StaticString = #fileID, line: UInt = #line) throws {
        precondition(values.count == count.reduce(1, *))
        try H5.enter("H5Dwrite(\(name))", file, line)
        try withBlock(start: start, count: count) { mem, file in
            try H5.check("H5Dwrite(\(name))", H5Dwrite(id, T.h5Type, mem, file, H5.defaultPlist, values.baseAddress))
        }
    }

    package func writeBlock<T: H5Element>(_ values: [T], start: [Int], count: [Int],
                                          file: StaticString = #fileID, line: UInt = #line) throws {
        try values.withUnsafeBufferPointer { try writeBlock($0, start: start, count: count, file: file, line: line) }
    }

    /// Reads a block `start ..< start+count` into `values`.
    package func readBlock<T: H5Element>(into values: UnsafeMutableBufferPointer<T>, start: [Int], count: [Int],
                                         file: StaticString = #fileID, line: UInt = #line) throws {
        precondition(values.count == count.reduce(1, *))
        try H5.enter("H5Dread(\(name))", file, line)
        try withBlock(start: start, count: count) { mem, file in
            try H5.check("H5Dread(\(name))", H5Dread(id, T.h5Type, mem, file, H5.defaultPlist, values.baseAddress))
        }
    }

    package func readBlock<T: H5Element>(start: [Int], count: [Int], file: StaticString = #fileID, line: UInt = #line) throws -> [T] {
        var values = [T](repeating: T(), count: count.reduce(1, *))
        try values.withUnsafeMutableBufferPointer { try readBlock(into: $0, start: start, count: count, file: file, line: line) }
        return values
    }

    /// Writes fixed-length strings (cut to the dataset's length) at rows
    /// `start ..< start + values.count` of a 1-D string dataset.
    package func writeStrings(_ values: [String], start: Int, file: StaticString = #fileID, line: UInt = #line) throws {
        try H5.enter("H5Dwrite(\(name))", file, line)
        let type = H5Handle(try H5.check("H5Dget_type(\(name))", H5Dget_type(id)), close: H5Tclose)
        let length = H5Tget_size(type.id)
        var bytes = [UInt8](repeating: 0, count: length * values.count)
        for (i, v) in values.enumerated() {
            for (j, b) in v.utf8.prefix(length).enumerated() { bytes[i * length + j] = b }
        }
        try withBlock(start: [start], count: [values.count]) { mem, file in
            try H5.check("H5Dwrite(\(name))", H5Dwrite(id, type.id, mem, file, H5.defaultPlist, bytes))
        }
    }

    /// Reads every string of a 1-D string dataset (fixed- or variable-length).
    package func readStrings(file: StaticString = #fileID, line: UInt = #line) throws -> [String] {
        try H5.enter("H5Dread(\(name))", file, line)
        let type = H5Handle(try H5.check("H5Dget_type(\(name))", H5Dget_type(id)), close: H5Tclose)
        return try H5.readStrings(type: type.id, count: try shape.reduce(1, *), what: "H5Dread(\(name))") {
            H5Dread(id, $0, shim_H5S_ALL(), shim_H5S_ALL(), H5.defaultPlist, $1)
        }
    }

    private func withBlock(start: [Int], count: [Int], _ body: (hid_t, hid_t) throws -> Void) throws {
        let fileSpace = H5Handle(try H5.check("H5Dget_space(\(name))", H5Dget_space(id)), close: H5Sclose)
        let s = start.map { hsize_t($0) }, c = count.map { hsize_t($0) }
        try H5.check("H5Sselect_hyperslab(\(name))",
                     H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, s, nil, c, nil))
        let memSpace = H5Handle(try H5.check("H5Screate_simple", H5Screate_simple(Int32(c.count), c, nil)), close: H5Sclose)
        try body(memSpace.id, fileSpace.id)
    }
}
