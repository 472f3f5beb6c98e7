// Splits work over the runtime's threads (`BLAS.threads`; OpenBLAS itself runs on one), so
// `BLAS.setThreads(1)` makes a whole forward pass single-threaded (the pipeline runs several
// models side by side).
import Dispatch

public enum Parallel {
    /// Calls `body` on disjoint sub-ranges covering 0..<count, concurrently when there is enough
    /// work (at least `minPerThread` items per thread) and more than one thread is configured.
    public static func forEachRange(_ count: Int, minPerThread: Int, _ body: (Range<Int>) -> Void) {
        let threads = min(BLAS.threads, count / max(minPerThread, 1))
        if threads <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let lo = count * t / threads, hi = count * (t + 1) / threads
                if hi > lo { work(lo..<hi) }
            }
        }
    }
}
