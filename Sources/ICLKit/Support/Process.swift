import Foundation

/// Per-process set-up every command runs first: BLAS on one thread.
/// - Returns: a note for the user when their settings were overridden.
public func prepareProcess() -> String? {
    BLAS.forceSingleThread()
}
