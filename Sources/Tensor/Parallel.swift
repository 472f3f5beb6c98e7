// Splits work over the runtime's threads (`BLAS.threads`; OpenBLAS itself runs on one), so
// `BLAS.setThreads(1)` makes a whole forward pass single-threaded (the pipeline runs several
// models side by side).
//
// The split goes to a team of threads that spin for a short while after each piece of work
// before they sleep. A decoding step is ~90 parallel regions of 0.05–0.5 ms each (one row
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
    /// between a decoding step's regions (layer norms, sampling: microseconds to tens of them);
    /// short enough that a worker left idle costs next to nothing.
    public static let spinNanoseconds: UInt64 = 50_000
}

/// Worker threads 1 ..< n of a region (the caller runs part 0). One region at a time: `run`
/// returns false when another is in progress, and the caller splits its work another way.
final class Team: @unchecked Sendable {
    static let shared = Team()

    private let busy = Atomic<Bool>(false)
    /// Bumped (releasing) once a region's job is in place; workers run it when they see the change.
    private let generation = Atomic<UInt64>(0)
    /// Workers of the current region that have not finished yet.
    private let pending = Atomic<Int>(0)
    /// Written only by the region's owner before `generation` is bumped, read by the workers after.
    private nonisolated(unsafe) var job: (@Sendable (Int) -> Void)?
    private nonisolated(unsafe) var parts = 0
    /// Owned by whoever holds `busy`; sized to the largest region asked for so far.
    private nonisolated(unsafe) var workers = 0
    /// Where workers sleep. The generation is checked under its lock and the owner broadcasts
    /// under it after the bump, so no wake-up is lost (a semaphore was not enough: a worker that
    /// had already run the region could take the wake-up meant for one still asleep).
    private let sleep = NSCondition()
    /// Workers asleep on `sleep`; changed under its lock.
    private nonisolated(unsafe) var sleeping = 0

    /// Runs part(0) here and part(1 ..< parts) on the team; false (nothing run) when the team is busy.
    func run(parts: Int, _ part: @escaping @Sendable (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        while workers < parts - 1 {
            let index = workers + 1
            workers += 1
            // A generation already seen: the new worker waits for the next region.
            let seen = generation.load(ordering: .acquiring)
            let thread = Thread { [self] in loop(index: index, seen: seen) }
            thread.stackSize = 8 << 20
            thread.start()
        }
        job = part
        self.parts = parts
        pending.store(workers, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        sleep.lock()
        if sleeping > 0 { sleep.broadcast() }
        sleep.unlock()
        part(0)
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins += 1
            // Only when a worker was descheduled (a busy host) does waiting take long.
            if spins & 0xFFF == 0 { sched_yield() }
        }
        job = nil
        return true
    }

    private func loop(index: Int, seen start: UInt64) {
        var seen = start
        while true {
            var g = generation.load(ordering: .acquiring)
            if g == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds + Parallel.spinNanoseconds
                var spins = 0
                while g == seen {
                    spins += 1
                    if spins & 0x3F == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
                    g = generation.load(ordering: .acquiring)
                }
            }
            if g == seen {
                sleep.lock()
                sleeping += 1
                while generation.load(ordering: .acquiring) == seen { sleep.wait() }
                sleeping -= 1
                sleep.unlock()
                g = generation.load(ordering: .acquiring)
            }
            seen = g
            if index < parts, let job { job(index) }
            pending.subtract(1, ordering: .releasing)
        }
    }
}
