import Foundation
import Logging
import Media
import Store
import Tensor

/// Set by SIGINT/SIGTERM: workers finish the input in hand (a commit boundary) and stop.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    public init() {}
    public func stop() { lock.lock(); stopped = true; lock.unlock() }
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
}

public struct RunOptions {
    public var workers: Int?
    /// Redo every input, whatever the output holds.
    public var force = false
    /// Redo inputs that ended as errors last time.
    public var retryFailed = false
    public var wait = false
    public var capfiltVersion = "dev"
    public var stop = StopFlag()
    /// SQLite's page limit for the shards, to test running out of space without filling a disk.
    public var maxPageCount: Int? = nil
    /// OpenBLAS threads for model stages (default: cores / workers).
    public var blasThreads: Int? = nil
    /// Called after each input with (done, total).
    public var progress: ((Int, Int) -> Void)? = nil
    public init() {}
}

/// How a run ended, for the summary, the ledger and the exit code.
public struct RunSummary: Sendable {
    public enum Outcome: String, Sendable { case ok, errors, failed, interrupted }
    public var runID: String
    public var outcome: Outcome
    public var fatal: String?
    public var inputsSeen = 0
    /// Files whose bytes were read to hash them (the rest came from the hash cache).
    public var hashed = 0
    public var unique = 0
    public var duplicates = 0
    public var new = 0
    public var changed = 0
    /// Changed inputs whose stored frames were reused (only later stages were redone).
    public var reused = 0
    public var retried = 0
    public var skipped = 0
    public var processed = 0
    public var failed = 0
    public var partial = 0
    public var frames = 0
    public var audioSegments = 0
    public var texts: [String: Int] = [:]
    public var textsKept = 0
    public var textsDropped = 0
    public var wallSeconds = 0.0
    public var stages: [(name: String, counters: [String: Double])] = []
    public var errorSamples: [(uri: String, message: String)] = []
    public var outputDirectory: String = ""
    public var shards: [String] = []

    public var json: String {
        var o: [String: Any] = [
            "inputs_seen": inputsSeen, "hashed": hashed, "unique": unique, "duplicates": duplicates, "new": new, "changed": changed, "reused": reused,
            "retried": retried, "skipped": skipped, "processed": processed, "failed": failed, "partial": partial,
            "frames": frames, "audio_segments": audioSegments, "texts": texts, "texts_kept": textsKept,
            "texts_dropped": textsDropped, "wall_seconds": (wallSeconds * 1000).rounded() / 1000,
        ]
        var st: [String: Any] = [:]
        for s in stages { st[s.name] = s.counters.mapValues { ($0 * 1000).rounded() / 1000 } }
        o["stages"] = st
        if let fatal { o["fatal"] = fatal }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs a pipeline over its inputs: hash, decide what is new, run the stages on worker threads,
/// write each input in one transaction, keep the ledger.
public final class PipelineRunner {
    public let spec: PipelineSpec
    public let options: RunOptions
    let logger: Logger

    public init(logger: Logger = Logger(label: "capfilt"), spec: PipelineSpec, options: RunOptions = RunOptions()) {
        self.spec = spec
        self.options = options
        self.logger = logger
    }

    /// One key per stage: key i covers the input's bytes and the settings of stages 0…i, so the first
    /// key that differs from the stored ones says where a rerun has to start.
    func stageKeys(contentHash: String) -> [String] {
        var keys: [String] = []
        var previous = contentHash
        for stage in spec.stages {
            previous = ContentHash.sha256(bytes: Array("\(previous)\n\(stage.name)\n\(stage.fingerprint)".utf8))
            keys.append(previous)
        }
        return keys
    }

    public func run() throws -> RunSummary {
        let started = Date()
        let lock = try RunLock(directory: spec.outputDirectory, wait: options.wait)
        defer { withExtendedLifetime(lock) {} }
        let store = try ShardStore(directory: spec.outputDirectory, budget: spec.budget, pageLimit: options.maxPageCount)
        var summary = RunSummary(runID: UUID().uuidString.lowercased(), outcome: .ok)
        summary.outputDirectory = spec.outputDirectory.path
        let record = RunRecord(id: summary.runID, pipelineName: spec.name, pipelineHash: spec.hash, pipelineYAML: spec.yaml,
                               capfiltVersion: options.capfiltVersion, host: ProcessInfo.processInfo.hostName,
                               startedAt: ISO8601DateFormatter().string(from: started))
        try store.beginRun(record)
        logger.info("run started", metadata: ["run": "\(summary.runID)", "pipeline": "\(spec.name)", "output": "\(spec.outputDirectory.path)"])

        let inputs = try Ingest.collect(spec.inputs)
        summary.inputsSeen = inputs.count
        let workers = max(1, options.workers ?? spec.workers)
        // Workers × BLAS threads stays within the cores: no oversubscription on a small machine.
        BLAS.setThreads(options.blasThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / workers))

        // Hash everything first: duplicates (same bytes under two names) become one input. Unchanged
        // files (same path, size, mtime and inode) take their hash from the cache unless --force.
        let cache = try? HashCache(directory: spec.outputDirectory)
        let hashedFiles = ParallelMap.Counter()
        let hashed = ParallelMap.run(inputs, workers: workers) { item -> (String, Int?) in
            let key = HashCache.key(item.path)
            if let key, !self.options.force, let h = cache?.lookup(key) { return (h, Int(key.size)) }
            if let h = try? ContentHash.sha256(file: item.path) {
                _ = hashedFiles.increment()
                if let key { cache?.remember(key, h) }
                return (h, key.map { Int($0.size) })
            }
            return ("path:" + ContentHash.sha256(bytes: Array(item.path.utf8)), nil)
        }
        try? cache?.save()
        summary.hashed = hashedFiles.value
        var order: [String] = []
        var groups: [String: WorkItem] = [:]
        for (item, (hash, size)) in zip(inputs, hashed) {
            if let existing = groups[hash] {
                summary.duplicates += 1
                for w in item.webTexts where !existing.texts.contains(where: { $0.origin == .web && $0.text == w.text && $0.externalID == w.id }) {
                    existing.texts.append(TextItem(origin: .web, text: w.text, externalID: w.id, producer: w.manifest))
                }
                continue
            }
            groups[hash] = WorkItem(input: item, contentHash: hash, sizeBytes: size)
            order.append(hash)
        }
        summary.unique = order.count

        let index = try store.index()
        var todo: [WorkOrder] = []
        for hash in order {
            let item = groups[hash]!
            item.stageKeys = stageKeys(contentHash: hash)
            guard let previous = index[hash] else { summary.new += 1; todo.append(WorkOrder(item: item, previous: nil, from: 0)); continue }
            if options.force { summary.changed += 1; todo.append(WorkOrder(item: item, previous: previous, from: 0)); continue }
            if previous.status == "error" {
                if options.retryFailed { summary.retried += 1; todo.append(WorkOrder(item: item, previous: previous, from: 0)) } else { summary.skipped += 1 }
                continue
            }
            let same = zip(previous.stageKeys, item.stageKeys).prefix { $0 == $1 }.count
            if same == item.stageKeys.count && previous.stageKeys.count == same { summary.skipped += 1; continue }
            summary.changed += 1
            // Decode's output still stands: redo only the stages after the last unchanged one.
            todo.append(WorkOrder(item: item, previous: previous, from: same))
        }
        summary.reused = todo.filter { $0.from > 0 }.count
        logger.info("inputs", metadata: ["seen": "\(summary.inputsSeen)", "unique": "\(summary.unique)", "to_process": "\(todo.count)",
                                         "reusing_frames": "\(summary.reused)", "skipped": "\(summary.skipped)"])

        let shared = SharedState(total: todo.count)
        let pictures = spec.stages.dropFirst().contains(where: \.usesFrameImages)
        ParallelMap.forEach(todo, workers: min(workers, max(1, todo.count))) { task in
            if self.options.stop.isSet || shared.fatal != nil { return }
            var item = task.item
            var from = task.from
            if from > 0, let previous = task.previous {
                var stored: InputWrite? = nil
                shared.withStore { stored = try? store.load(hash: item.contentHash, shard: previous.shard) }
                let kept = Set(self.spec.stages.prefix(from).map(\.name))
                if let stored, let rebuilt = try? WorkItem(reusing: stored, input: item.input, keptStages: kept, pictures: pictures) {
                    rebuilt.stageKeys = item.stageKeys
                    item = rebuilt
                } else {
                    from = 0
                }
            }
            for stage in self.spec.stages[from...] {
                do { try stage.process(item) } catch {
                    item.fail(String(describing: error))
                    self.logger.warning("input failed", metadata: ["uri": "\(item.input.uri)", "stage": "\(stage.name)", "error": "\(error)"])
                    break
                }
            }
            let rows = item.rows()
            shared.withStore {
                do {
                    try store.write(rows, replacing: task.previous)
                    shared.record(item)
                } catch {
                    shared.fatal = "writing \(item.input.uri) to \(store.currentShard): \(error)"
                }
            }
            let done = shared.done
            self.options.progress?(done, todo.count)
        }

        summary.processed = shared.done
        summary.failed = shared.failed
        summary.partial = shared.partial
        summary.frames = shared.frames
        summary.audioSegments = shared.audioSegments
        summary.texts = shared.texts
        summary.textsKept = shared.kept
        summary.textsDropped = shared.dropped
        summary.errorSamples = shared.errors
        summary.stages = spec.stages.map { ($0.name, $0.counters.snapshot) }
        summary.wallSeconds = Date().timeIntervalSince(started)
        if let fatal = shared.fatal {
            summary.outcome = .failed
            summary.fatal = fatal
        } else if options.stop.isSet && shared.done < todo.count {
            summary.outcome = .interrupted
        } else if summary.failed > 0 {
            summary.outcome = .errors
        }
        // The ledger is written even after a storage failure when the disk allows it.
        try? store.finishRun(status: summary.outcome.rawValue, exitCode: ExitCode.for(summary.outcome), stats: summary.json)
        if !store.close() {
            logger.notice("shard left in WAL mode: another connection has it open; the next run finalizes it", metadata: ["shard": "\(store.currentShard)"])
        }
        summary.shards = ShardStore.shardFiles(in: spec.outputDirectory).map(\.lastPathComponent)
        logger.info("run finished", metadata: ["run": "\(summary.runID)", "outcome": "\(summary.outcome.rawValue)", "stats": "\(summary.json)"])
        return summary
    }
}

/// One input to process, and from which stage on.
struct WorkOrder {
    let item: WorkItem
    let previous: IndexedSource?
    let from: Int
}

/// Exit codes, documented in README.
public enum ExitCode {
    public static let success: Int32 = 0
    public static let finishedWithErrors: Int32 = 1
    public static let fatal: Int32 = 2
    public static let usage: Int32 = 64
    public static let locked: Int32 = 75
    public static let interrupted: Int32 = 130

    public static func `for`(_ outcome: RunSummary.Outcome) -> Int32 {
        switch outcome {
        case .ok: return success
        case .errors: return finishedWithErrors
        case .failed: return fatal
        case .interrupted: return interrupted
        }
    }
}

/// Counters and the store's lock, shared by the worker threads.
final class SharedState: @unchecked Sendable {
    private let lock = NSLock()
    private let storeLock = NSLock()
    let total: Int
    private(set) var done = 0
    private(set) var failed = 0
    private(set) var partial = 0
    private(set) var frames = 0
    private(set) var audioSegments = 0
    private(set) var texts: [String: Int] = [:]
    private(set) var kept = 0
    private(set) var dropped = 0
    private(set) var errors: [(uri: String, message: String)] = []
    private var fatalMessage: String?

    init(total: Int) { self.total = total }

    var fatal: String? {
        get { lock.lock(); defer { lock.unlock() }; return fatalMessage }
        set { lock.lock(); if fatalMessage == nil { fatalMessage = newValue }; lock.unlock() }
    }

    func withStore(_ body: () -> Void) { storeLock.lock(); body(); storeLock.unlock() }

    func record(_ item: WorkItem) {
        lock.lock(); defer { lock.unlock() }
        done += 1
        if item.status == "error" {
            failed += 1
            if errors.count < 20 { errors.append((item.input.uri, item.error ?? "")) }
        }
        if item.status == "partial" { partial += 1 }
        frames += item.frames.count
        audioSegments += item.audio.count
        for t in item.texts {
            texts[t.origin.rawValue, default: 0] += 1
            if t.dropReasons.isEmpty { kept += 1 } else { dropped += 1 }
        }
    }
}

/// A fixed number of threads working through a list: the machine's cores are honoured exactly.
enum ParallelMap {
    static func forEach<T>(_ items: [T], workers: Int, _ body: @escaping (T) -> Void) {
        let next = Counter()
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, items.count))) { _ in
            while true {
                let i = next.increment()
                if i >= items.count { return }
                body(items[i])
            }
        }
    }

    static func run<T, R>(_ items: [T], workers: Int, _ body: @escaping (T) -> R) -> [R] {
        var results = [R?](repeating: nil, count: items.count)
        let lock = NSLock()
        forEach(Array(items.enumerated()), workers: workers) { (i, item) in
            let r = body(item)
            lock.lock(); results[i] = r; lock.unlock()
        }
        return results.map { $0! }
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count - 1 }
        var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    }
}
