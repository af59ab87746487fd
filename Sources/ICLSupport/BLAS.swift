import COpenBLAS
import Foundation

/// OpenBLAS set-up: one thread per process. (The matrix products are
/// `ModelScalar.gemm`, over `cblas_sgemm` / `cblas_dgemm`.)
package enum BLAS {
    /// The kernels OpenBLAS picked for this CPU (or that OPENBLAS_CORETYPE named).
    package static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "?" }

    /// "OpenBLAS 0.3.21": the library's name and version, from its build configuration.
    package static var version: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS ?"
        return config.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// Forces OpenBLAS to one thread in this process.
    ///
    /// `OPENBLAS_NUM_THREADS` must be set before the library spins up its pool,
    /// and `openblas_set_num_threads(1)` covers a pool that already started.
    /// - Returns: a message when the user's environment asked for something
    ///   else and was overridden, `nil` otherwise.
    @discardableResult
    static func forceSingleThread() -> String? {
        var notes: [String] = []
        for name in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"] {
            if let value = ProcessInfo.processInfo.environment[name], value != "1" {
                notes.append("\(name)=\(value)")
            }
            setenv(name, "1", 1)
        }
        openblas_set_num_threads(1)
        if notes.isEmpty { return nil }
        return "BLAS forced to 1 thread per process (overrode \(notes.joined(separator: ", ")))"
    }
}
