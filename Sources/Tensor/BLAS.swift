// The only file that calls OpenBLAS. Everything else multiplies matrices through `BLAS.gemm`, so
// swapping the BLAS (or adding a check) touches one place. Since oneDNN's sgemm overtook it at the
// models' shapes, OpenBLAS multiplies attention's small per-head products and whatever runs with
// CAPFILT_SGEMM=openblas (Ops.productOnThisThread).
//
// OpenBLAS runs on one thread: the runtime's own threads (`Parallel`) split the big products
// (`Ops.gemm`), as they already split attention heads, softmax rows and oneDNN's bf16 products.
// With OpenBLAS's own pool beside ours, its idle workers spin in sched_yield for ~0.1 s after every
// threaded product while our threads run attention, GELU or a bf16 layer on the same two cores:
// `capfilt-bench ops` showed bf16 layers right after fp32 ones at half speed (one core left), and
// sched_yield was 5–7 % of the end-to-end job's CPU samples.
import COpenBLAS
import Synchronization

public enum BLAS {
    /// The thread count OpenBLAS chose at load (OPENBLAS_NUM_THREADS, else the cores), taken over
    /// as the runtime's before OpenBLAS is set to one thread.
    private static let initial: Int = {
        let n = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        return max(1, n)
    }()
    private static let count = Atomic<Int>(0)

    /// Sets the runtime's thread count (`Parallel` and `Ops.gemm`) for all later calls (process-wide).
    public static func setThreads(_ n: Int) {
        _ = initial
        count.store(max(1, n), ordering: .relaxed)
    }

    public static var threads: Int {
        let n = count.load(ordering: .relaxed)
        return n > 0 ? n : initial
    }

    /// The kernel family OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX"); it honours
    /// OPENBLAS_CORETYPE, which is why benchmarks print it next to their figures.
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Row-major C = alpha * op(A) * op(B) + beta * C, with op(A) m×k and op(B) k×n, on the
    /// calling thread. Leading dimensions are explicit so callers can multiply strided
    /// sub-matrices (one head of a fused QKV buffer) without copying them out first.
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0)
        if m == 0 || n == 0 { return }
        _ = initial
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }

    /// The same product threaded by OpenBLAS itself over `threads` (benchmarks compare with it).
    public static func gemmThreadedByOpenBLAS(
        threads: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = initial
        openblas_set_num_threads(Int32(max(1, threads)))
        defer { openblas_set_num_threads(1) }
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}
