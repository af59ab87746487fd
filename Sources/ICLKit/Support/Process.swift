import Foundation

/// Per-process set-up every command runs first: BLAS on one thread, and
/// standard output flushed line by line, so that progress reaches a Slurm
/// log or a pipe as it happens rather than when a buffer fills.
/// - Returns: a note for the user when their settings were overridden.
public func prepareProcess() -> String? {
    setvbuf(stdout, nil, _IOLBF, 0)
    return BLAS.forceSingleThread()
}
