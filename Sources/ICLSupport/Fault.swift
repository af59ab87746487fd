import Foundation

/// One line for any error: Foundation's file errors as "PATH: reason"
/// instead of `NSCocoaErrorDomain Code=516 ...`, everything else by its own
/// description with line breaks folded.
public func describe(_ error: Error) -> String {
    guard isFoundationError(error) else { return oneLine("\(error)") }
    let ns = error as NSError
    let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
    if let inner = ns.userInfo[NSUnderlyingErrorKey] as? Error, case let underlying = inner as NSError,
       underlying.domain == NSPOSIXErrorDomain {
        let reason = String(cString: strerror(Int32(underlying.code)))
        return path.map { "\($0): \(reason)" } ?? reason
    }
    if ns.domain == NSPOSIXErrorDomain {
        let reason = String(cString: strerror(Int32(ns.code)))
        return path.map { "\($0): \(reason)" } ?? reason
    }
    let reason = ns.localizedDescription.replacingOccurrences(of: "The operation could not be completed. ", with: "")
    return oneLine(path.map { "\($0): \(reason)" } ?? reason)
}

/// Whether `error` comes from Foundation or the system (CocoaError,
/// POSIXError, NSError), whose own descriptions are not for users.
public func isFoundationError(_ error: Error) -> Bool {
    let domain = (error as NSError).domain
    return domain == NSCocoaErrorDomain || domain == NSPOSIXErrorDomain
}

package func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
}

/// What kind of trouble an error is, judged from the operating system's
/// own words (`strerror`), which HDF5's error stack, `rename` failures and
/// Foundation's file errors all carry.
public enum Fault: Equatable {
    /// The file system is full, over quota, read-only, failing or gone:
    /// nothing about the run itself; a rerun after the fix continues.
    case environment(hint: String)
    /// Anything else that stops the job. Not final either: the runs stay
    /// resumable, and the message says what went wrong.
    case other

    /// The operating-system reasons that point at the machine, not the run,
    /// and what to do about each.
    static let environmental: [(reason: String, hint: String)] = [
        ("No space left on device", "the file system is full: free space there"),
        ("Disk quota exceeded", "you are over your disk quota: free space or ask for more"),
        ("Input/output error", "the storage reported an I/O error: check the file system"),
        ("Read-only file system", "the file system is read-only: make it writable or move the results"),
        ("Permission denied", "permission denied: fix the folder's permissions"),
        ("Stale file handle", "the network file system lost the file: check the mount"),
        ("No such file or directory", "a file or folder vanished while the sweep ran: check the file system"),
        ("Transport endpoint is not connected", "the network file system is unreachable: check the mount"),
    ]

    public static func classify(_ message: String) -> Fault {
        for (reason, hint) in environmental where message.contains(reason) { return .environment(hint: hint) }
        return .other
    }
}
