import Foundation
import Logging
import Store

/// Runs the plan's work orders on a fixed number of worker threads. Each input goes through the reader
/// (or is rebuilt from its stored rows when only later stages changed), then through the model stages,
/// whose outputs are applied to it, and is written in one transaction. A worker takes consecutive
/// inputs together when a stage batches frames (`Stage.framesPerBatch`).
struct Executor: Sendable {
    let reader: MediaReader
    let stages: [any Stage]
    let store: StoreAccess
    let tally: RunTally
    let stop: StopFlag
    let logger: Logger
    let progress: (@Sendable (Int, Int) -> Void)?

    func run(_ queue: WorkQueue, workers: Int) {
        guard queue.total > 0 else { return }
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, queue.total))) { _ in
            while !stop.isSet && tally.fatal == nil {
                let group: [Member]
                do { group = try gather(queue) } catch {
                    tally.fatal = "reading the plan: \(error)"
                    return
                }
                guard !group.isEmpty else { return }
                // Each input is still written in its own transaction, in the order it was read.
                for member in runStages(group) where tally.fatal == nil {
                    do {
                        try store.write(member.item.rows(), replacing: member.order.previous)
                        let done = tally.record(member.item, recomputed: member.order.from <= stages.count)
                        progress?(done, queue.total)
                    } catch {
                        tally.fatal = "writing \(member.item.input.uri) to \(store.currentShard): \(error)"
                    }
                }
            }
        }
    }

    /// An input on its way through the stages.
    struct Member {
        let order: WorkOrder
        var item: WorkItem
        /// The index of the first stage this input still has to go through (past the last once it failed:
        /// a failed input has no frames left either).
        var next: Int
    }

    /// Frames a worker gathers from consecutive inputs before the model stages run: the largest batch
    /// a stage asks for (a folder of stills then captions at the model's batch, not one image at a
    /// time); 1 when no stage batches, which takes inputs one at a time.
    var framesPerGroup: Int { stages.compactMap(\.framesPerBatch).max() ?? 1 }

    /// The next inputs, each read (or rebuilt from its shard), until they hold `framesPerGroup`
    /// frames or are that many inputs.
    func gather(_ queue: WorkQueue) throws -> [Member] {
        let limit = framesPerGroup
        var group: [Member] = [], frames = 0
        while group.count < limit && frames < limit && !stop.isSet, let order = try queue.next() {
            let member = read(order)
            frames += member.item.frames.count
            group.append(member)
        }
        return group
    }

    private func read(_ order: WorkOrder) -> Member {
        var (item, from) = start(order)
        if from == 0 {
            do {
                let read = try measure(reader.config.name) { try reader.read(path: item.input.path) }
                item.apply(read.output)
                tally.count(reader.config.name, read.output.counters)
            } catch {
                return Member(order: order, item: failed(item, stage: reader.config.name, error), next: stages.count)
            }
        }
        return Member(order: order, item: item, next: min(stages.count, max(0, from - 1)))
    }

    /// Each stage once over the group's inputs that still need it; an input a stage fails leaves the
    /// group as an error row, the others go on.
    private func runStages(_ group: [Member]) -> [Member] {
        var group = group
        for (s, stage) in stages.enumerated() {
            let members = group.indices.filter { group[$0].next <= s }
            guard !members.isEmpty else { continue }
            let start = DispatchTime.now().uptimeNanoseconds
            let results = stage.process(batch: members.map { group[$0].item.view })
            precondition(results.count == members.count, "\(stage.name) gave \(results.count) results for \(members.count) inputs")
            var counts: [String: Double] = ["in": Double(members.count), "seconds": Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9]
            for (i, result) in zip(members, results) {
                do {
                    let output = try result.get()
                    try group[i].item.apply(output, stage: stage.name)
                    tally.count(stage.name, output.counters.merging(Executor.pairCounts(output), uniquingKeysWith: +))
                } catch {
                    counts["errors", default: 0] += 1
                    group[i].item = failed(group[i].item, stage: stage.name, error)
                    group[i].next = stages.count
                }
            }
            tally.count(stage.name, counts)
        }
        return group
    }

    /// The input as the stages before `from` left it: rebuilt from the shard, or fresh (from 0) when
    /// nothing can be reused.
    private func start(_ order: WorkOrder) -> (WorkItem, Int) {
        guard order.from > 0, let previous = order.previous,
              let stored = try? store.load(hash: order.contentHash, shard: previous.shard) else { return (WorkItem(order), 0) }
        let kept = Set([reader.config.name] + stages.prefix(order.from - 1).map(\.name))
        guard let item = try? WorkItem(reusing: stored, order: order, keptStages: kept, pictures: reader.pictures) else {
            return (WorkItem(order), 0)
        }
        return (item, order.from)
    }

    private func failed(_ item: WorkItem, stage: String, _ error: Error) -> WorkItem {
        var item = item
        item.fail(String(describing: error))
        logger.warning("input failed", metadata: ["uri": "\(item.input.uri)", "stage": "\(stage)", "error": "\(error)"])
        return item
    }

    /// Times `body` into the stage's `seconds` and counts it as one input in, or an error.
    private func measure<T>(_ stage: String, _ body: () throws -> T) throws -> (output: T, seconds: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let output = try body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            tally.count(stage, ["in": 1, "seconds": seconds])
            return (output, seconds)
        } catch {
            tally.count(stage, ["in": 1, "errors": 1, "seconds": Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9])
            throw error
        }
    }

    /// Pairs scored, kept and dropped, from the stage's decisions.
    static func pairCounts(_ output: StageOutput) -> [String: Double] {
        guard !output.scores.isEmpty else { return [:] }
        let pairs = Set(output.scores.map { "\($0.text) \($0.frame)" }).count
        let dropped = output.decisions.filter { !$0.kept }.count
        var counts: [String: Double] = ["pairs": Double(pairs)]
        if !output.decisions.isEmpty {
            counts["pairs_kept"] = Double(output.decisions.count - dropped)
            counts["pairs_dropped"] = Double(dropped)
        }
        return counts
    }
}

/// The shard store, shared by the worker threads: one writer at a time.
final class StoreAccess: @unchecked Sendable {
    // Every use of `store` holds `lock`.
    private let lock = NSLock()
    private let store: ShardStore

    init(_ store: ShardStore) { self.store = store }

    private func locked<T>(_ body: (ShardStore) throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body(store)
    }

    var currentShard: String { locked { $0.currentShard } }
    func write(_ rows: InputWrite, replacing previous: IndexedSource?) throws { try locked { _ = try $0.write(rows, replacing: previous) } }
    func load(hash: String, shard: String) throws -> InputWrite? { try locked { try $0.load(hash: hash, shard: shard) } }
}

/// Set by SIGINT/SIGTERM: workers finish the input in hand (a commit boundary) and stop.
public final class StopFlag: @unchecked Sendable {
    // `stopped` is read and written under `lock` only.
    private let lock = NSLock()
    private var stopped = false
    public init() {}
    public func stop() { lock.lock(); stopped = true; lock.unlock() }
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
}

/// The plan's work orders for the worker threads, read from the spool a batch at a time (so the
/// orders of a million inputs are never all in memory) under one lock.
final class WorkQueue: @unchecked Sendable {
    // `buffer`, `last` and the spool are touched under `lock` only.
    private let lock = NSLock()
    private let spool: PlanSpool
    private let planner: Planner
    private var buffer: [WorkOrder] = []
    private var last: Int64 = 0
    let total: Int

    init(spool: PlanSpool, planner: Planner, total: Int) {
        self.spool = spool; self.planner = planner; self.total = total
    }

    func next() throws -> WorkOrder? {
        lock.lock(); defer { lock.unlock() }
        if buffer.isEmpty {
            let batch = try spool.todo(after: last, limit: 64)
            guard let tail = batch.last else { return nil }
            buffer = try batch.reversed().map { try planner.order(hash: $0.hash, from: $0.from, stageKeys: $0.keys, spool: spool) }
            last = tail.seq
        }
        return buffer.popLast()
    }
}

/// A fixed number of threads working through a list: the machine's cores are honoured exactly.
enum ParallelMap {
    static func forEach<T: Sendable>(_ items: [T], workers: Int, _ body: @escaping @Sendable (T) -> Void) {
        let next = Counter()
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, items.count))) { _ in
            while true {
                let i = next.increment()
                if i >= items.count { return }
                body(items[i])
            }
        }
    }

    static func run<T: Sendable, R: Sendable>(_ items: [T], workers: Int, _ body: @escaping @Sendable (T) -> R) -> [R] {
        let results = Results<R>(count: items.count)
        forEach(Array(items.enumerated()).map { Indexed(index: $0.offset, item: $0.element) }, workers: workers) { entry in
            results.set(entry.index, body(entry.item))
        }
        return results.values
    }

    private struct Indexed<T: Sendable>: Sendable { let index: Int; let item: T }

    private final class Results<R: Sendable>: @unchecked Sendable {
        // `slots` is touched under `lock` only.
        private let lock = NSLock()
        private var slots: [R?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ value: R) { lock.lock(); slots[i] = value; lock.unlock() }
        var values: [R] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
    }

    final class Counter: @unchecked Sendable {
        // `count` is touched under `lock` only.
        private let lock = NSLock()
        private var count = 0
        func increment() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count - 1 }
        var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    }
}
