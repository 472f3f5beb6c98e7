// The only file that calls OpenBLAS. Everything else multiplies matrices through `BLAS.gemm`, so
// swapping the BLAS (or adding a check) touches one place.
import COpenBLAS

public enum BLAS {
    /// Sets OpenBLAS's worker-thread count for all later calls (process-wide).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernel family OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX"); it honours
    /// OPENBLAS_CORETYPE, which is why benchmarks print it next to their figures.
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Row-major C = alpha * op(A) * op(B) + beta * C, with op(A) m×k and op(B) k×n.
    /// Leading dimensions are explicit so callers can multiply strided sub-matrices (one head of a
    /// fused QKV buffer) without copying them out first.
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0)
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }
}
