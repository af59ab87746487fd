import COpenBLAS
import Foundation
import ICLSupport

/// The number type a model computes in: `Float` for training, `Double` for
/// the finite-difference gradient check.
public protocol ModelScalar: BinaryFloatingPoint, SIMDScalar, Codable, H5Element {
    /// Row-major `C = alpha op(A) op(B) + beta C` (cblas_sgemm / cblas_dgemm).
    static func gemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Self,
                     A: UnsafePointer<Self>, lda: Int, B: UnsafePointer<Self>, ldb: Int,
                     beta: Self, C: UnsafeMutablePointer<Self>, ldc: Int)
    static func exp(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
}

extension Float: ModelScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float,
                            A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
                            beta: Float, C: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc))
    }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
}

extension Double: ModelScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Double,
                            A: UnsafePointer<Double>, lda: Int, B: UnsafePointer<Double>, ldb: Int,
                            beta: Double, C: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc))
    }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
}

/// `C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C`, row-major, with
/// leading dimensions taken from the stored (untransposed) shapes.
@inline(__always)
package func gemm<T: ModelScalar>(_ transA: Bool = false, _ transB: Bool = false, M: Int, N: Int, K: Int,
                          alpha: T = 1, A: UnsafePointer<T>, B: UnsafePointer<T>,
                          beta: T, C: UnsafeMutablePointer<T>) {
    T.gemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha,
           A: A, lda: transA ? M : K, B: B, ldb: transB ? K : N, beta: beta, C: C, ldc: N)
}

/// A 64-byte aligned array of scalars: its own memory, or a part of
/// memory someone else owns and frees (a gang's shared window).
public final class Buffer<T: ModelScalar> {
    public let count: Int
    public let pointer: UnsafeMutablePointer<T>
    private let owned: Bool

    /// `count` zeros in memory of its own.
    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<T>.stride, alignment: 64)
        pointer = raw.bindMemory(to: T.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
        owned = true
    }

    /// `count` scalars at `memory` (64-byte aligned), as they are; the owner
    /// keeps it alive while the buffer is used.
    public init(borrowing memory: UnsafeMutableRawPointer, count: Int) {
        precondition(Int(bitPattern: memory) % 64 == 0, "a buffer starts on 64 bytes")
        self.count = count
        pointer = memory.bindMemory(to: T.self, capacity: count)
        owned = false
    }

    deinit { if owned { UnsafeMutableRawPointer(pointer).deallocate() } }

    public func zero() { pointer.update(repeating: 0, count: count) }
    public var array: [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
