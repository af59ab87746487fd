import Foundation

/// A failed file-system call: the path, what was being done and the
/// system's reason (`strerror`), which `Fault.classify` reads.
public struct FileSystemError: Error, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let errno: Int32
    /// Set when `IOCalls` made the call fail (tests only).
    public var injectedCall: Int?
    public var reason: String { String(cString: strerror(errno)) }
    public var description: String {
        "\(path): \(operation) failed: \(reason)" + (injectedCall.map { " (injected: ICLSWEEP_TEST_FAIL_IO, call \($0))" } ?? "")
    }
}

/// The one path for the project's own file-system calls (folders, small
/// files written whole, fsync, rename, link): each call counts once in
/// `IOCalls` and throws `FileSystemError` with the system's reason.
/// (HDF5 files go through `H5File`; reading small files and removing files
/// are not counted: they cannot fill a disk and a failure changes nothing.)
public enum FileSystem {
    /// Runs one system call that returns -1 and sets errno on failure.
    private static func call(_ operation: String, _ path: String, _ file: StaticString, _ line: UInt,
                             _ body: () -> Int32) throws {
        do { try IOCalls.enter("\(operation) \(path)", file, line) } catch let f as IOCalls.Failure {
            throw FileSystemError(path: path, operation: operation, errno: f.errno, injectedCall: f.call)
        }
        if body() < 0 { throw FileSystemError(path: path, operation: operation, errno: Foundation.errno) }
    }

    /// Creates `path` and the folders above it that are missing.
    public static func createFolder(_ path: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try call("mkdir", path, file, line) {
            var prefix = path.hasPrefix("/") ? "" : "."
            for part in path.split(separator: "/") {
                prefix += "/" + part
                if mkdir(prefix, 0o777) != 0 && Foundation.errno != EEXIST { return -1 }
            }
            var st = stat()
            guard stat(path, &st) == 0 else { return -1 }
            if st.st_mode & S_IFMT != S_IFDIR { Foundation.errno = ENOTDIR; return -1 }
            return 0
        }
    }

    /// Writes `bytes` to a new file at `path` (replacing one there), in full.
    public static func createFile(_ path: String, _ bytes: [UInt8], file: StaticString = #fileID, line: UInt = #line) throws {
        try call("write", path, file, line) {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return -1 }
            let ok = writeAll(fd, bytes, at: 0)
            let saved = Foundation.errno
            if close(fd) != 0 && ok { return -1 }
            Foundation.errno = saved
            return ok ? 0 : -1
        }
    }

    /// Writes `bytes` over the start of the existing file at `path` without
    /// creating or growing anything: what still works on a full disk when the
    /// file was made large enough before. Syncs it.
    public static func overwrite(_ path: String, _ bytes: [UInt8], file: StaticString = #fileID, line: UInt = #line) throws {
        try call("overwrite", path, file, line) {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return -1 }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { return -1 }
            guard Int(st.st_size) >= bytes.count else { Foundation.errno = ENOSPC; return -1 }
            return writeAll(fd, bytes, at: 0) && fsync(fd) == 0 ? 0 : -1
        }
    }

    /// Makes the file's bytes durable (`fsync`); on a network file system a
    /// full disk may only show here.
    public static func sync(_ path: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try call("fsync", path, file, line) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return -1 }
            let result = fsync(fd)
            let saved = Foundation.errno
            close(fd)
            Foundation.errno = saved
            return result
        }
    }

    /// Makes ready to write a file at `path` later: creates its folder when
    /// missing, and fails now, with the system's reason, when `path` is a
    /// folder or its folder cannot be written. For outputs written only at
    /// the end of a long computation, so that a bad path costs a second.
    public static func prepareToWrite(_ path: String, file: StaticString = #fileID, line: UInt = #line) throws {
        let parent = (path as NSString).deletingLastPathComponent
        let folder = parent.isEmpty ? "." : parent
        try createFolder(folder, file: file, line: line)
        try call("prepare to write", path, file, line) {
            var st = stat()
            if stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { Foundation.errno = EISDIR; return -1 }
            return access(folder, W_OK)
        }
    }

    public static func rename(_ from: String, to: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try call("rename", from, file, line) { Foundation.rename(from, to) }
    }

    /// A hard link `to` -> `from`; fails with EEXIST when `to` exists (atomic
    /// on local and network file systems).
    public static func link(_ from: String, to: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try call("link", to, file, line) { Foundation.link(from, to) }
    }

    /// Writes `bytes` to `path` atomically: a temporary file beside it,
    /// synced, then renamed over `path`. On failure the temporary file is
    /// removed and `path` is as it was.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, file: StaticString = #fileID, line: UInt = #line) throws {
        let tmp = "\(path).tmp-\(getpid())"
        do {
            try createFile(tmp, bytes, file: file, line: line)
            try sync(tmp, file: file, line: line)
            try rename(tmp, to: path, file: file, line: line)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    public static func writeAtomically(_ text: String, to path: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try writeAtomically(Array(text.utf8), to: path, file: file, line: line)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Bool {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                if n < 0 { if Foundation.errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
    }
}
