import Dispatch
import Synchronization
import Tensor
import XCTest

/// Parallel's spinning team: every index is visited exactly once, whether the workers are spinning
/// or asleep, whether regions come from one thread or several at once, and when they nest.
final class ParallelTests: XCTestCase {
    /// Visits 0..<count through forEachRange and returns how often each index was seen.
    func visits(_ count: Int, minPerThread: Int = 1, nested: Bool = false) -> [Int] {
        let seen = Mutex([Int](repeating: 0, count: count))
        Parallel.forEachRange(count, minPerThread: minPerThread) { range in
            for i in range {
                if nested {
                    // A region inside a region: the team is busy, so this one falls back.
                    Parallel.forEachRange(4, minPerThread: 1) { _ in }
                }
                seen.withLock { $0[i] += 1 }
            }
        }
        return seen.withLock { $0 }
    }

    func withThreads(_ n: Int, _ body: () -> Void) {
        let before = BLAS.threads
        BLAS.setThreads(n)
        defer { BLAS.setThreads(before) }
        body()
    }

    func testEveryIndexOnceAtEveryThreadCount() {
        for threads in [1, 2, 3, 5] {
            withThreads(threads) {
                for count in [0, 1, 2, 3, 7, 64, 1001] {
                    for minPerThread in [1, 4] {
                        XCTAssertEqual(visits(count, minPerThread: minPerThread), Array(repeating: 1, count: count),
                                       "threads \(threads), count \(count), minPerThread \(minPerThread)")
                    }
                }
            }
        }
    }

    /// Back-to-back regions (the workers never sleep), then regions far enough apart that every
    /// worker has gone to sleep before the next one arrives (a lost wake-up would hang here).
    func testRegionsBackToBackAndAfterTheWorkersSleep() {
        withThreads(3) {
            var bad = 0
            for _ in 0..<20_000 where visits(9) != Array(repeating: 1, count: 9) { bad += 1 }
            for _ in 0..<100 {
                usleep(UInt32(Parallel.spinNanoseconds / 1000 * 3))
                if visits(9) != Array(repeating: 1, count: 9) { bad += 1 }
            }
            XCTAssertEqual(bad, 0)
        }
    }

    /// Several threads starting regions at once (one gets the team, the others fall back), and
    /// regions nested in regions.
    func testConcurrentAndNestedRegions() {
        withThreads(2) {
            let bad = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                for i in 0..<2_000 where visits(50 + i % 7, nested: i % 5 == 0) != Array(repeating: 1, count: 50 + i % 7) {
                    bad.add(1, ordering: .relaxed)
                }
            }
            XCTAssertEqual(bad.load(ordering: .relaxed), 0)
        }
    }
}
