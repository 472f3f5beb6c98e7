// Splits work over the runtime's threads (`BLAS.threads`; OpenBLAS itself runs on one), so
// `BLAS.setThreads(1)` makes a whole forward pass single-threaded (the pipeline runs several
// models side by side).
//
// The split goes to a team of threads that spin (yielding the CPU) for up to 2 ms after each
// piece of work before they sleep. A decoding step is ~90 parallel regions of 0.05–0.5 ms each (one row
// through a projection, its attention, its LM head), and on these hosts a sleeping thread takes
// ~0.1 ms to wake: with Dispatch's concurrentPerform, or OpenMP told to wait passively, the
// 768 → 768 projections of a step took twice as long as with spinning workers (a C emulation of
// the step: 27.6–33.8 ms passive, 18.5–20.5 ms spinning). A caller that finds the team busy
// (another thread's region, or a region nested in one) falls back to concurrentPerform.
import Dispatch
import Foundation
import Synchronization

public enum Parallel {
    /// Calls `body` on disjoint sub-ranges covering 0..<count, concurrently when there is enough
    /// work (at least `minPerThread` items per thread) and more than one thread is configured.
    /// Part t of `threads` parts is count·t/threads ..< count·(t+1)/threads, whichever thread runs it.
    public static func forEachRange(_ count: Int, minPerThread: Int, _ body: (Range<Int>) -> Void) {
        let threads = min(BLAS.threads, count / max(minPerThread, 1))
        if threads <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            let part: @Sendable (Int) -> Void = { t in
                let lo = count * t / threads, hi = count * (t + 1) / threads
                if hi > lo { work(lo..<hi) }
            }
            if !Team.shared.run(parts: threads, part) {
                DispatchQueue.concurrentPerform(iterations: threads, execute: part)
            }
        }
    }

    /// How long a worker spins for the next region before it sleeps. Long enough to span the gaps
    /// between a decoding step's regions (layer norms, sampling: microseconds to tens of them) and
    /// most gaps of a forward pass. With 50 µs, BLIP's vision pass ran at half speed in some
    /// processes (~1.1 CPUs busy instead of 1.5–1.7): workers slept and woke so often that the
    /// scheduler kept a worker on its owner's core. On a quiet host, same binary: 50 µs gave 0.83,
    /// 1.49, 1.42 vision passes/s and 0.69 greedy captions/s; 2 ms gave 1.35, 1.43, 1.33 and 0.84.
    public static let spinNanoseconds: UInt64 = 2_000_000
}

/// Worker threads 1 ..< n of a region (the caller runs part 0). One region at a time: `run`
/// returns false when another is in progress, and the caller splits its work another way. Each
/// worker has its own ticket, so a region of p parts wakes and waits for workers 1 ..< p only (a
/// 16-core host's workers are not all called up for a 3-part region).
final class Team: @unchecked Sendable {
    static let shared = Team()

    final class Worker: @unchecked Sendable {
        /// Bumped (releasing) by the owner for each region this worker joins, after the job is in place.
        let ticket = Atomic<UInt64>(0)
        /// The worker sleeps here; its ticket is checked under the lock and the owner signals under
        /// it after the bump, so no wake-up is lost.
        let bell = NSCondition()
        /// Under `bell`'s lock.
        var asleep = false
    }

    private let busy = Atomic<Bool>(false)
    /// Workers of the current region that have not finished yet.
    private let pending = Atomic<Int>(0)
    /// Written only by the region's owner before the tickets are bumped, read by its workers after.
    private nonisolated(unsafe) var job: (@Sendable (Int) -> Void)?
    /// Owned by whoever holds `busy`; grown to the largest region asked for so far.
    private nonisolated(unsafe) var workers: [Worker] = []

    /// Runs part(0) here and part(1 ..< parts) on the team; false (nothing run) when the team is busy.
    func run(parts: Int, _ part: @escaping @Sendable (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        while workers.count < parts - 1 {
            let worker = Worker(), index = workers.count + 1
            workers.append(worker)
            let thread = Thread { [self] in loop(worker, index: index) }
            thread.stackSize = 8 << 20
            thread.start()
        }
        job = part
        pending.store(parts - 1, ordering: .relaxed)
        for worker in workers[0..<(parts - 1)] {
            worker.ticket.add(1, ordering: .releasing)
            worker.bell.lock()
            if worker.asleep { worker.bell.signal() }
            worker.bell.unlock()
        }
        part(0)
        while pending.load(ordering: .acquiring) > 0 { Team.pause() }
        job = nil
        return true
    }

    /// A spinning thread's turn: the CPU goes to whatever else is runnable on it (the owner and a
    /// worker that the scheduler put on one core take turns instead of spinning each other out).
    @inline(__always) static func pause() { sched_yield() }

    private func loop(_ worker: Worker, index: Int) {
        var seen: UInt64 = 0
        while true {
            var t = worker.ticket.load(ordering: .acquiring)
            if t == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds + Parallel.spinNanoseconds
                var spins = 0
                while t == seen {
                    spins += 1
                    if spins & 0x3F == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
                    Team.pause()
                    t = worker.ticket.load(ordering: .acquiring)
                }
            }
            if t == seen {
                worker.bell.lock()
                worker.asleep = true
                while worker.ticket.load(ordering: .acquiring) == seen { worker.bell.wait() }
                worker.asleep = false
                worker.bell.unlock()
                t = worker.ticket.load(ordering: .acquiring)
            }
            seen = t
            job!(index)
            pending.subtract(1, ordering: .releasing)
        }
    }
}
