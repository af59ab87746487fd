import COpenBLAS
import Foundation

/// Thin wrapper over OpenBLAS: single-threaded set-up and row-major `sgemm`.
enum BLAS {
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

    static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// `C = alpha * op(A) op(B) + beta * C`, all row-major.
    /// op(A) is (M,K), op(B) is (K,N), C is (M,N); `lda`, `ldb`, `ldc` default to
    /// the row lengths of the stored (untransposed) matrices.
    @inline(__always)
    static func sgemm(
        transA: Bool = false, transB: Bool = false,
        M: Int, N: Int, K: Int,
        alpha: Float = 1, A: UnsafePointer<Float>, lda: Int? = nil,
        B: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float, C: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA ? M : K)
        let ldb = ldb ?? (transB ? K : N)
        let ldc = ldc ?? N
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    blasint(M), blasint(N), blasint(K),
                    alpha, A, blasint(lda), B, blasint(ldb),
                    beta, C, blasint(ldc))
    }
}
