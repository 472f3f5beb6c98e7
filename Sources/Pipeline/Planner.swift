import Foundation
import Media
import Store

/// One input to process, and from which stage on.
struct WorkOrder: Sendable {
    /// The input, with the web texts of every name its bytes go by.
    var input: InputItem
    var contentHash: String
    var sizeBytes: Int?
    var stageKeys: [String]
    /// What the output already holds for these bytes.
    var previous: IndexedSource?
    /// The first stage to run (0: decode); the stored output of the stages before it is reused.
    var from: Int
}

/// What a run has to do, and how the inputs were counted on the way.
struct Plan: Sendable {
    var orders: [WorkOrder] = []
    var inputsSeen = 0
    /// Files whose bytes were read to hash them (the rest came from the hash cache).
    var hashed = 0
    var unique = 0
    var duplicates = 0
    var new = 0
    var changed = 0
    var reused = 0
    var retried = 0
    var skipped = 0
    /// Unchanged inputs whose file name (or manifest id) changed: rewritten, nothing recomputed.
    var renamed = 0
    /// Retired inputs whose file came back.
    var restored = 0
    /// Inputs the shards hold that no current file has.
    var retired = 0
    /// Every content hash the corpus has now.
    var current: Set<String> = []
}

/// Decides what must run: lists the inputs, hashes them (through the hash cache), merges the same
/// bytes under several names into one input, and compares each input's per-stage keys with what the
/// shards hold.
struct Planner {
    let config: PipelineConfig
    let force: Bool
    let retryFailed: Bool
    let workers: Int
    /// A task of an array job plans only the inputs it owns.
    var task: ArrayTask? = nil
    /// `capfilt list`'s output, read instead of walking the folders.
    var listing: URL? = nil

    func plan(index: [String: IndexedSource]) throws -> Plan {
        var plan = Plan()
        let task = task
        let inputs = try Ingest.survey(config.inputs, listing: listing, keep: { task?.owns($0) ?? true }).inputs
        plan.inputsSeen = inputs.count
        let hashes = hash(inputs, plan: &plan)
        for order in merge(inputs, hashes, plan: &plan) {
            plan.current.insert(order.contentHash)
            decide(order, previous: index[order.contentHash], plan: &plan)
        }
        plan.reused = plan.orders.filter { $0.from > 0 }.count
        return plan
    }

    /// One key per stage: key i covers the input's bytes and the settings of stages 0…i (the reader
    /// is stage 0), and from the first stage that reads them on, the input's web texts; so the first
    /// key that differs from the stored ones says where a rerun starts. A pipeline whose stages read no
    /// web texts gets a last key for them.
    func stageKeys(contentHash: String, webTexts: [WebText] = []) -> [String] {
        var keys: [String] = []
        var previous = contentHash
        let web = webTexts.isEmpty ? nil : Planner.digest(webTexts)
        for (i, (name, fingerprint)) in config.stageFingerprints.enumerated() {
            var part = "\(previous)\n\(name)\n\(fingerprint)"
            if let web, i == config.firstWebTextStage { part += "\nweb:\(web)" }
            previous = ContentHash.sha256(bytes: Array(part.utf8))
            keys.append(previous)
        }
        // With no stage reading them, web texts still pair with frames: one more key covers them, so
        // an edited row rewrites the input (nothing recomputed) instead of going unnoticed.
        if config.firstWebTextStage == nil {
            keys.append(ContentHash.sha256(bytes: Array("\(previous)\nweb:\(web ?? "")".utf8)))
        }
        return keys
    }

    /// The web texts' identity, whatever their order in the manifests.
    static func digest(_ texts: [WebText]) -> String {
        ContentHash.sha256(bytes: Array(texts.map(\.identity).sorted().joined(separator: "\n").utf8))
    }

    /// Content hashes, from the cache for files unchanged since they were hashed (same path, size,
    /// mtime and inode) unless forced. A file that cannot be read gets a hash of its path and becomes
    /// an error row when the reader opens it.
    private func hash(_ inputs: [InputItem], plan: inout Plan) -> [(hash: String, size: Int?)] {
        // Each task keeps its own cache (one writer per file, and no WAL on a shared file system).
        let cache = try? HashCache(directory: config.outputDirectory,
                                   name: task.map { "hash-cache-t\($0.index)of\($0.count).sqlite" } ?? "hash-cache.sqlite", wal: task == nil)
        let hashedFiles = ParallelMap.Counter()
        let force = force
        let hashes = ParallelMap.run(inputs, workers: workers) { item -> (hash: String, size: Int?) in
            let key = HashCache.key(item.path)
            if let key, !force, let h = cache?.lookup(key) { return (h, Int(key.size)) }
            if let h = try? ContentHash.sha256(file: item.path) {
                _ = hashedFiles.increment()
                if let key { cache?.remember(key, h) }
                return (h, key.map { Int($0.size) })
            }
            return ("path:" + ContentHash.sha256(bytes: Array(item.path.utf8)), nil)
        }
        try? cache?.save()
        plan.hashed = hashedFiles.value
        return hashes
    }

    /// The same bytes under two names are one input that keeps both names' web texts.
    private func merge(_ inputs: [InputItem], _ hashes: [(hash: String, size: Int?)], plan: inout Plan) -> [WorkOrder] {
        var orders: [WorkOrder] = []
        var position: [String: Int] = [:]
        for (item, (hash, size)) in zip(inputs, hashes) {
            if let i = position[hash] {
                plan.duplicates += 1
                for w in item.webTexts where !orders[i].input.webTexts.contains(where: { $0.text == w.text && $0.id == w.id }) {
                    orders[i].input.webTexts.append(w)
                }
                continue
            }
            position[hash] = orders.count
            orders.append(WorkOrder(input: item, contentHash: hash, sizeBytes: size, stageKeys: [], previous: nil, from: 0))
        }
        plan.unique = orders.count
        return orders
    }

    private func decide(_ order: WorkOrder, previous: IndexedSource?, plan: inout Plan) {
        var order = order
        order.stageKeys = stageKeys(contentHash: order.contentHash, webTexts: order.input.webTexts)
        order.previous = previous
        guard let previous else { plan.new += 1; plan.orders.append(order); return }
        if force { plan.changed += 1; plan.orders.append(order); return }
        let renamed = previous.uri != order.input.uri || previous.externalID != order.input.externalID
        if previous.status == "error" {
            if retryFailed || previous.uri != order.input.uri {
                // An error names its file, so a renamed failure is read again, as a fresh run would.
                plan.retried += 1
                plan.orders.append(order)
            } else if previous.retired || renamed {
                // Not read again (that takes --retry-failed): written again as it was, back in the
                // views or under its new manifest id.
                if previous.retired { plan.restored += 1 } else { plan.renamed += 1 }
                order.from = previous.stageKeys.count
                order.stageKeys = previous.stageKeys
                plan.orders.append(order)
            } else {
                plan.skipped += 1
            }
            return
        }
        let same = zip(previous.stageKeys, order.stageKeys).prefix { $0 == $1 }.count
        if same == order.stageKeys.count && previous.stageKeys.count == same {
            guard renamed || previous.retired else { plan.skipped += 1; return }
            // Nothing to compute: the stored rows are written again under the new name, or brought back.
            if previous.retired { plan.restored += 1 } else { plan.renamed += 1 }
            order.from = same
            plan.orders.append(order)
            return
        }
        plan.changed += 1
        // The output of the stages before the first changed one still stands: redo only the rest.
        order.from = same
        plan.orders.append(order)
    }

    /// Stored inputs that no current file has: the run retires them.
    func vanished(_ index: [String: IndexedSource], _ plan: Plan) -> [String: [String]] {
        var byShard: [String: [String]] = [:]
        for (hash, entry) in index where !entry.retired && !plan.current.contains(hash) { byShard[entry.shard, default: []].append(hash) }
        return byShard.mapValues { $0.sorted() }
    }
}
