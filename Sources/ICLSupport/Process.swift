import Foundation

/// Per-process set-up every command runs first: BLAS on one thread, and
/// standard output flushed line by line, so that progress reaches a Slurm
/// log or a pipe as it happens rather than when a buffer fills.
/// - Returns: a note for the user when their settings were overridden.
public func prepareProcess() -> String? {
    setvbuf(stdout, nil, _IOLBF, 0)
    return BLAS.forceSingleThread()
}

/// This machine's host name (what MPI_Get_processor_name gives with OpenMPI,
/// but callable without MPI).
public var hostName: String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
    return String(cString: buffer)
}

/// The C library and its version, e.g. "glibc 2.36". Its libm computes the
/// exp, log, sin and cos of a run (attention's weights, the loss, the
/// position table, the initialisation and synthetic data), so it is part of
/// what decides a run's last bits.
public let cLibrary: String = {
    var buffer = [CChar](repeating: 0, count: 64)
    guard confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count) > 0 else { return "unknown C library" }
    return String(cString: buffer)
}()
