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

/// How the inputs were counted on the way to a plan; what must run waits in the spool.
struct Plan: Sendable {
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
    /// Work orders waiting in the spool.
    var toProcess = 0
}

/// Decides what must run: lists the inputs, hashes them (through the hash cache), merges the same
/// bytes under several names into one input, and compares each input's per-stage keys with what the
/// shards hold. All of it goes through a spool on disk (`PlanSpool`), so memory does not grow with the
/// corpus; the work orders are read back a batch at a time (`WorkQueue`).
struct Planner: Sendable {
    let config: PipelineConfig
    let force: Bool
    let retryFailed: Bool
    let workers: Int
    /// A task of an array job plans only the inputs it owns.
    var task: ArrayTask? = nil
    /// `capfilt list`'s output, read instead of walking the folders.
    var listing: URL? = nil

    func plan(store: ShardStore) throws -> (Plan, PlanSpool) {
        var plan = Plan()
        let spool = try PlanSpool()
        let task = task
        _ = try spool.db.transaction {
            try Ingest.survey(config.inputs, listing: listing, keep: { task?.owns($0) ?? true }, into: spool)
        }
        plan.inputsSeen = spool.inputCount
        try hash(spool, plan: &plan)
        try store.deleteOlder(try spool.store(from: store))
        try spool.db.transaction {
            try spool.forEachGroup { hash, items, size in
                plan.unique += 1
                plan.duplicates += items.count - 1
                guard let order = decide(merge(items, hash: hash, size: size), previous: try spool.stored(hash), plan: &plan) else { return }
                try spool.addTodo(order)
                plan.toProcess += 1
                if order.from > 0 { plan.reused += 1 }
            }
        }
        return (plan, spool)
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
    /// mtime and inode) unless forced, a batch of paths at a time. A file that cannot be read gets a hash
    /// of its path and becomes an error row when the reader opens it.
    private func hash(_ spool: PlanSpool, plan: inout Plan) throws {
        // Each task keeps its own cache (one writer per file, and no WAL on a shared file system).
        let cache = try? HashCache(directory: config.outputDirectory,
                                   name: task.map { "hash-cache-t\($0.index)of\($0.count).sqlite" } ?? "hash-cache.sqlite", wal: task == nil,
                                   readOthers: true)
        let hashedFiles = ParallelMap.Counter()
        let force = force
        var last = ""
        while true {
            let paths = try spool.paths(after: last, limit: 4096)
            guard let tail = paths.last else { break }
            let hashes = ParallelMap.run(paths, workers: workers) { path -> (path: String, hash: String, size: Int?) in
                let key = HashCache.key(path)
                if let key, !force, let h = cache?.lookup(key) { return (path, h, Int(key.size)) }
                if let h = try? ContentHash.sha256(file: path) {
                    _ = hashedFiles.increment()
                    if let key { cache?.remember(key, h) }
                    return (path, h, key.map { Int($0.size) })
                }
                return (path, "path:" + ContentHash.sha256(bytes: Array(path.utf8)), nil)
            }
            try spool.setHashes(hashes)
            try? cache?.save()
            last = tail
        }
        plan.hashed = hashedFiles.value
    }

    /// The same bytes under several names are one input: the first name (in path order) is its name, and
    /// it keeps every name's web texts.
    func merge(_ items: [InputItem], hash: String, size: Int?) -> WorkOrder {
        var order = WorkOrder(input: items[0], contentHash: hash, sizeBytes: size, stageKeys: [], previous: nil, from: 0)
        for item in items.dropFirst() {
            for w in item.webTexts where !order.input.webTexts.contains(where: { $0.text == w.text && $0.id == w.id }) {
                order.input.webTexts.append(w)
            }
        }
        return order
    }

    /// A work order read back from the spool, as `plan` decided it.
    func order(hash: String, from: Int, stageKeys: [String], spool: PlanSpool) throws -> WorkOrder {
        let (items, size) = try spool.group(hash)
        var order = merge(items, hash: hash, size: size)
        order.from = from
        order.stageKeys = stageKeys
        order.previous = try spool.stored(hash)
        return order
    }

    /// The order to run for this input, or nil when the output already holds it as it should be.
    private func decide(_ order: WorkOrder, previous: IndexedSource?, plan: inout Plan) -> WorkOrder? {
        var order = order
        order.stageKeys = stageKeys(contentHash: order.contentHash, webTexts: order.input.webTexts)
        order.previous = previous
        guard let previous else { plan.new += 1; return order }
        if force { plan.changed += 1; return order }
        let renamed = previous.uri != order.input.uri || previous.externalID != order.input.externalID
        if previous.status == "error" {
            if retryFailed || previous.uri != order.input.uri {
                // An error names its file, so a renamed failure is read again, as a fresh run would.
                plan.retried += 1
                return order
            } else if previous.retired || renamed {
                // Not read again (that takes --retry-failed): written again as it was, back in the
                // views or under its new manifest id.
                if previous.retired { plan.restored += 1 } else { plan.renamed += 1 }
                order.from = previous.stageKeys.count
                order.stageKeys = previous.stageKeys
                return order
            }
            plan.skipped += 1
            return nil
        }
        let same = zip(previous.stageKeys, order.stageKeys).prefix { $0 == $1 }.count
        if same == order.stageKeys.count && previous.stageKeys.count == same {
            guard renamed || previous.retired else { plan.skipped += 1; return nil }
            // Nothing to compute: the stored rows are written again under the new name, or brought back.
            if previous.retired { plan.restored += 1 } else { plan.renamed += 1 }
            order.from = same
            return order
        }
        plan.changed += 1
        // The output of the stages before the first changed one still stands: redo only the rest.
        order.from = same
        return order
    }
}
