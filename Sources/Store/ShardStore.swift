import Foundation

/// When a shard is full: checked between inputs, so an input never spans two shards.
public struct ShardBudget: Sendable, Equatable {
    public var maxMediaRows: Int
    public var maxBytes: Int64
    public init(maxMediaRows: Int = 100_000, maxBytes: Int64 = 2 << 30) {
        self.maxMediaRows = maxMediaRows; self.maxBytes = maxBytes
    }
}

/// Where one task of an array job writes: shard files of its own, opened on node-local scratch and moved
/// into the shared output only once finalised, so no two tasks write one SQLite file and no WAL lives on
/// a network file system.
public struct TaskShards: Sendable {
    public var index: Int
    public var count: Int
    /// Node-local folder for the shard being written.
    public var scratch: URL
    /// Unique per run: a requeued or resubmitted task starts new files instead of reopening published ones.
    public var tag: String
    /// An open shard is published at least this often, so a task killed without warning (a node lost)
    /// loses at most this much work; what was published is never redone.
    public var publishEvery: TimeInterval
    public init(index: Int, count: Int, scratch: URL, tag: String, publishEvery: TimeInterval = 900) {
        self.index = index; self.count = count; self.scratch = scratch; self.tag = tag; self.publishEvery = publishEvery
    }

    func shardName(_ n: Int) -> String { String(format: "shard-%@-t%dof%d-%05d.sqlite", tag, index, count, n) }
}

/// A task of an array job asked for something only a single-process run may do: write another task's shard.
public struct SharedShardError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Writes inputs into `shard-NNNNN.sqlite` files in one output folder, rotating by budget.
/// Each input is one transaction. The shard being written is in WAL mode; a shard that is closed or
/// rotated away from is checkpointed and switched back to a rollback journal, leaving one plain file.
/// A task of an array job (`task`) writes `shard-TAG-tIofN-NNNNN.sqlite` files on scratch instead and
/// only reads the others.
public final class ShardStore {
    public let directory: URL
    public let budget: ShardBudget
    public let task: TaskShards?
    private var current: Database
    private var currentName: String
    private var sequence = 0
    private var openedAt = Date()
    private var mediaRows: Int
    private var runShards: [String] = []
    private var run: RunRecord?
    private let now: () -> String

    public static func shardName(_ n: Int) -> String { String(format: "shard-%05d.sqlite", n) }

    /// `shard-NNNNN.sqlite`: a single-process run's own series (task shards are named after their run).
    static func sequenceNumber(_ name: String) -> Int? {
        guard name.count == "shard-00000.sqlite".count, name.hasPrefix("shard-"), name.hasSuffix(".sqlite") else { return nil }
        return Int(name.dropFirst(6).prefix(5))
    }

    public static func shardFiles(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("shard-") && $0.hasSuffix(".sqlite") }.sorted().map { directory.appendingPathComponent($0) }
    }

    public init(directory: URL, budget: ShardBudget = ShardBudget(), pageLimit: Int? = nil, task: TaskShards? = nil) throws {
        self.directory = directory
        self.budget = budget
        self.task = task
        // Milliseconds: which of two rows of the same bytes is newer (and whether a task's retirement came
        // after a row) is decided by these strings, and two nights' tasks can write within one second.
        self.now = {
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return f.string(from: Date())
        }
        self.pageLimit = pageLimit
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let task {
            try FileManager.default.createDirectory(at: task.scratch, withIntermediateDirectories: true)
            currentName = task.shardName(0)
            current = try ShardStore.openFresh(task.scratch.appendingPathComponent(currentName).path, pageLimit: pageLimit)
            mediaRows = 0
            return
        }
        let existing = ShardStore.shardFiles(in: directory).map(\.lastPathComponent).filter { ShardStore.sequenceNumber($0) != nil }
        currentName = existing.last ?? ShardStore.shardName(0)
        sequence = ShardStore.sequenceNumber(currentName) ?? 0
        current = try ShardStore.open(directory.appendingPathComponent(currentName).path, pageLimit: pageLimit)
        mediaRows = Int(try current.scalar("SELECT COUNT(*) FROM media").int ?? 0)
    }
    private let pageLimit: Int?

    /// A scratch file left by an attempt that died on this node is not published work: start it anew.
    static func openFresh(_ path: String, pageLimit: Int?) throws -> Database {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
        return try open(path, pageLimit: pageLimit)
    }

    private func path(of shard: String) -> String {
        if shard == currentName, let task { return task.scratch.appendingPathComponent(shard).path }
        return directory.appendingPathComponent(shard).path
    }

    static func open(_ path: String, pageLimit: Int?) throws -> Database {
        let db = try Database(path: path)
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
        if let pageLimit { try db.execute("PRAGMA max_page_count=\(pageLimit)") }
        try prepare(db, path: path)
        return db
    }

    /// Creates the schema in a new shard and upgrades an older one in place.
    static func prepare(_ db: Database, path: String) throws {
        let version = try db.scalar("PRAGMA user_version").int ?? 0
        if version == 0 {
            try db.transaction {
                try db.execute(ShardSchema.sql)
                try db.execute("PRAGMA user_version=\(ShardSchema.version)")
                try db.run("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?), ('created_by', 'capfilt')",
                           [String(ShardSchema.version)])
            }
        } else if version >= 1 && version < ShardSchema.version {
            // Version 2 retires vanished inputs instead of leaving them in every view, and keys scores
            // by stage too, so a filter's ITC and a score stage's ITC of one model
            // are two rows (a rerun of one must not take the other's row with it).
            // Version 4 adds media.language, version 5 the runs' task columns. Version 3 adds texts_fts. The schema is all IF NOT EXISTS: applying it creates the index
            // empty, and a rebuild indexes the texts already there, all in one transaction.
            try db.transaction {
                if version == 1 {
                    try db.execute("""
                        ALTER TABLE sources ADD COLUMN retired_by TEXT;
                        DROP VIEW IF EXISTS capfilt_result; DROP VIEW IF EXISTS curated_pairs; DROP VIEW IF EXISTS pairs; DROP VIEW IF EXISTS errors;
                        ALTER TABLE scores RENAME TO scores_v1;
                        DROP INDEX IF EXISTS scores_media;
                        """)
                }
                if try db.scalar("SELECT COUNT(*) FROM pragma_table_info('media') WHERE name = 'language'").int == 0 {
                    try db.execute("ALTER TABLE media ADD COLUMN language TEXT")
                }
                if try db.scalar("SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'run_group'").int == 0 {
                    try db.execute("ALTER TABLE runs ADD COLUMN run_group TEXT; ALTER TABLE runs ADD COLUMN task_index INTEGER; ALTER TABLE runs ADD COLUMN task_count INTEGER")
                }
                try db.execute(ShardSchema.sql)
                if version == 1 {
                    try db.execute("""
                        INSERT INTO scores(text_id, media_id, metric, model, value, threshold, kept, stage, run_id)
                            SELECT text_id, media_id, metric, model, value, threshold, kept, coalesce(stage, ''), run_id FROM scores_v1;
                        DROP TABLE scores_v1;
                        """)
                }
                if version < 3 { try db.execute("INSERT INTO texts_fts(texts_fts) VALUES ('rebuild')") }
                try db.execute("PRAGMA user_version=\(ShardSchema.version)")
                try db.run("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", [String(ShardSchema.version)])
            }
        } else if version != ShardSchema.version {
            throw SQLiteError(code: 1, message: "\(path) has shard schema version \(version); this capfilt reads versions 1 to \(ShardSchema.version)", sql: nil)
        }
    }

    public var currentShard: String { currentName }

    /// Every source the output holds, by content hash; duplicates left by an interrupted retry are
    /// resolved here (the newest row wins, older ones are deleted).
    public func index() throws -> [String: IndexedSource] {
        let older = try superseded()
        try deleteOlder(older)
        // A task cannot delete them: they are left out instead.
        let lost = Set(older.map { "\($0.hash)\n\($0.shard)" })
        var result: [String: IndexedSource] = [:]
        try forEachSource { hash, entry, _ in
            if !lost.contains("\(hash)\n\(entry.shard)") { result[hash] = entry }
        }
        return result
    }

    /// Deletes the rows that lost to a newer one of the same bytes. Tasks leave them (another task's
    /// file): the catalog takes the newest.
    public func deleteOlder(_ rows: [(hash: String, shard: String)]) throws {
        guard task == nil else { return }
        for r in rows { try deleteSource(hash: r.hash, shard: r.shard) }
    }

    /// Every source row of every shard with the time it was written, one at a time, so a planner can
    /// keep the index on disk whatever the output's size.
    public func forEachSource(_ body: (_ hash: String, _ entry: IndexedSource, _ created: String) throws -> Void) throws {
        for url in ShardStore.shardFiles(in: directory) {
            let db = try database(for: url.lastPathComponent)
            let rows = try db.prepare("SELECT content_hash, status, work_key, created_at, stage_keys, uri, external_id, retired_by FROM sources")
            try rows.bind([])
            while try rows.step() {
                let row = rows.row()
                guard let hash = row[0].text else { continue }
                let keys = row[4].text.map(ShardStore.stageKeys) ?? []
                var entry = IndexedSource(shard: url.lastPathComponent, status: row[1].text ?? "error", workKey: row[2].text, stageKeys: keys)
                entry.uri = row[5].text ?? ""
                entry.externalID = row[6].text
                entry.retired = row[7].text != nil
                try body(hash, entry, row[3].text ?? "")
            }
        }
    }

    /// `stage_keys` (a JSON list of hex keys) without Foundation's JSON decoder, which would dominate a
    /// no-op rerun of a large corpus; anything but plain strings goes through the decoder.
    static func stageKeys(_ json: String) -> [String] {
        guard json.hasPrefix("[") && json.hasSuffix("]") && !json.contains("\\") else { return [] }
        let inner = json.dropFirst().dropLast()
        if inner.isEmpty { return [] }
        let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
        if parts.allSatisfy({ $0.count >= 2 && $0.first == "\"" && $0.last == "\"" && !$0.dropFirst().dropLast().contains("\"") }) {
            return parts.map { String($0.dropFirst().dropLast()) }
        }
        return (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    private func database(for shard: String) throws -> Database {
        if shard == currentName { return current }
        let path = directory.appendingPathComponent(shard).path
        if task != nil {
            // A task reads the shared shards and never writes them, not even to upgrade one.
            let db = try Database(path: path, readOnly: true)
            let version = try db.scalar("PRAGMA user_version").int ?? 0
            guard version >= 4 && version <= ShardSchema.version else {
                throw SharedShardError(description: "\(path) has shard schema version \(version); tasks of an array job read versions 4 to \(ShardSchema.version) "
                                       + "and upgrade nothing: run `capfilt run` once without --shard-count to upgrade the output in place")
            }
            return db
        }
        let db = try Database(path: path)
        try ShardStore.prepare(db, path: path)
        return db
    }

    private func requireSingleProcess(_ what: String) throws {
        if task != nil { throw SharedShardError(description: "a task of an array job does not \(what): that takes a run without --shard-count") }
    }

    /// A task's retirements of inputs it owns, recorded in its own shard (the rows may be in anyone's).
    public func recordRetirements(_ rows: [(hash: String, uri: String)], run: String) throws {
        guard !rows.isEmpty else { return }
        try current.transaction {
            let put = try current.prepare("INSERT INTO retirements(content_hash, uri, run_id, at) VALUES (?, ?, ?, ?)")
            let at = now()
            for r in rows {
                try put.bind([r.hash, r.uri, run, at])
                try put.stepToEnd()
            }
        }
    }

    /// Every retirement recorded by a task, from every shard.
    public func forEachRetirement(_ body: (_ hash: String, _ uri: String, _ run: String, _ at: String) throws -> Void) throws {
        for url in ShardStore.shardFiles(in: directory) {
            let db = try database(for: url.lastPathComponent)
            // Shards before version 5 have none.
            guard (try db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'retirements'").int ?? 0) > 0 else { continue }
            let rows = try db.prepare("SELECT content_hash, uri, run_id, at FROM retirements")
            try rows.bind([])
            while try rows.step() {
                let r = rows.row()
                try body(r[0].text ?? "", r[1].text ?? "", r[2].text ?? "", r[3].text ?? "")
            }
        }
    }

    /// What array tasks left for a single process to tidy (it holds the output's lock alone): their
    /// retirements become `retired_by` on the rows, and (`dropSuperseded`) rows superseded by a newer row
    /// of the same bytes in another shard are deleted; a run's planner does the latter itself. Afterwards
    /// every shard's views are what the catalog shows.
    public func settle(dropSuperseded: Bool) throws {
        try requireSingleProcess("settle the shards")
        var marks: [(hash: String, uri: String, run: String, at: String)] = []
        try forEachRetirement { marks.append(($0, $1, $2, $3)) }
        if !marks.isEmpty {
            for url in ShardStore.shardFiles(in: directory) {
                let db = try database(for: url.lastPathComponent)
                try db.transaction {
                    let mark = try db.prepare("""
                        UPDATE sources SET retired_by = ? WHERE content_hash = ? AND uri = ? AND created_at <= ? AND retired_by IS NULL
                        """)
                    for m in marks {
                        try mark.bind([m.run, m.hash, m.uri, m.at])
                        try mark.stepToEnd()
                    }
                }
            }
        }
        if dropSuperseded { try deleteOlder(try superseded()) }
    }

    /// Rows with a newer row of the same bytes in another shard, found through a temporary SQLite file
    /// rather than a dictionary of every source.
    func superseded() throws -> [(hash: String, shard: String)] {
        let temp = try Database(path: "")
        try temp.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; CREATE TABLE rows (hash TEXT, shard TEXT, created TEXT)")
        try temp.transaction {
            let put = try temp.prepare("INSERT INTO rows VALUES (?, ?, ?)")
            try forEachSource { hash, entry, created in
                try put.bind([hash, entry.shard, created])
                try put.stepToEnd()
            }
        }
        return try temp.query("""
            SELECT hash, shard FROM (SELECT hash, shard, row_number() OVER (PARTITION BY hash ORDER BY created DESC, shard DESC) AS n FROM rows)
            WHERE n > 1
            """).map { ($0[0].text ?? "", $0[1].text ?? "") }
    }

    /// Marks inputs whose files are gone: they leave every view, and their rows stay until `prune`, so
    /// an input that comes back (a remounted disk) is restored without recomputation.
    public func retire(hashes: [String], shard: String, run: String) throws {
        try requireSingleProcess("retire inputs in shared shards")
        let db = try database(for: shard)
        try db.transaction {
            for h in hashes { try db.run("UPDATE sources SET retired_by = ? WHERE content_hash = ? AND retired_by IS NULL", [run, h]) }
        }
    }

    /// Deletes every retired input with its media, texts and scores, and gives the space back to the
    /// file system. Returns the number of inputs deleted.
    @discardableResult
    public func prune() throws -> Int {
        try requireSingleProcess("prune")
        var deleted = 0
        for url in ShardStore.shardFiles(in: directory) {
            let db = try database(for: url.lastPathComponent)
            try db.execute("PRAGMA foreign_keys=ON")
            try db.run("DELETE FROM sources WHERE retired_by IS NOT NULL")
            deleted += Int(try db.scalar("SELECT changes()").int ?? 0)
            try db.execute("VACUUM")
        }
        mediaRows = Int(try current.scalar("SELECT COUNT(*) FROM media").int ?? 0)
        return deleted
    }

    /// Removes an input and everything attached to it (cascade).
    public func deleteSource(hash: String, shard: String) throws {
        if shard != currentName { try requireSingleProcess("delete rows from another shard") }
        let db = try database(for: shard)
        try db.execute("PRAGMA foreign_keys=ON")
        try db.run("DELETE FROM sources WHERE content_hash = ?", [hash])
        if shard == currentName { mediaRows = Int(try current.scalar("SELECT COUNT(*) FROM media").int ?? 0) }
    }

    public func beginRun(_ record: RunRecord) throws {
        // The caller holds the output's lock, so a run still marked running was killed. A task holds only
        // its own lock (the others may be running): `capfilt catalog` judges their rows instead.
        for url in ShardStore.shardFiles(in: directory) where task == nil {
            let db = try database(for: url.lastPathComponent)
            try db.run("UPDATE runs SET status = 'interrupted', stats = COALESCE(stats, '{\"note\":\"killed: found running by run \(record.id)\"}') WHERE status = 'running'")
        }
        run = record
        try recordRun(in: current)
        runShards = [currentName]
    }

    private func recordRun(in db: Database) throws {
        guard let r = run else { return }
        try db.run("""
            INSERT OR IGNORE INTO runs(id, pipeline_name, pipeline_hash, pipeline_yaml, capfilt_version, host, started_at, status,
                run_group, task_index, task_count)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)
            """, [r.id, r.pipelineName, r.pipelineHash, r.pipelineYAML, r.capfiltVersion, r.host, r.startedAt,
                  r.runGroup, r.taskIndex, r.taskCount])
    }

    /// Writes one input atomically. An earlier row for the same content (a failed input being retried,
    /// or work being redone) is replaced: in this shard inside the same transaction, elsewhere right after.
    @discardableResult
    public func write(_ input: InputWrite, replacing previous: IndexedSource? = nil) throws -> Int64 {
        try rotateIfFull()
        let runID = run?.id
        let sourceID: Int64 = try current.transaction {
            if previous?.shard == currentName {
                try current.run("DELETE FROM sources WHERE content_hash = ?", [input.source.contentHash])
            }
            let s = input.source
            let sid = try current.run("""
                INSERT INTO sources(content_hash, uri, external_id, kind, container, video_codec, audio_codec, duration_s,
                    width, height, fps, rotation, size_bytes, status, error, work_key, stage_keys, stats, run_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [s.contentHash, s.uri, s.externalID, s.kind, s.container, s.videoCodec, s.audioCodec, s.duration,
                      s.width, s.height, s.fps, s.rotation, s.sizeBytes, s.status, s.error, s.workKey, s.stageKeys, s.stats, runID, now()])
            let insertMedia = try current.prepare("""
                INSERT INTO media(source_id, kind, idx, t_start, t_end, width, height, sample_rate, samples, format,
                    is_keyframe, scene_score, data, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var mediaIDs: [Int64] = []
            for m in input.media {
                try insertMedia.bind([sid, m.kind, m.idx, m.tStart, m.tEnd, m.width, m.height, m.sampleRate, m.samples,
                                      m.format, m.isKeyframe, m.sceneScore, m.data, m.language])
                try insertMedia.stepToEnd()
                mediaIDs.append(current.lastInsertRowID)
            }
            let insertText = try current.prepare("""
                INSERT INTO texts(source_id, media_id, origin, text, t_start, t_end, external_id, producer, settings, stage)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var textIDs: [Int64] = []
            for t in input.texts {
                try insertText.bind([sid, t.mediaIndex.map { mediaIDs[$0] }, t.origin, t.text, t.tStart, t.tEnd,
                                     t.externalID, t.producer, t.settings, t.stage])
                try insertText.stepToEnd()
                textIDs.append(current.lastInsertRowID)
            }
            let insertLink = try current.prepare("INSERT OR IGNORE INTO text_media(text_id, media_id) VALUES (?, ?)")
            for l in input.links {
                try insertLink.bind([textIDs[l.text], mediaIDs[l.media]])
                try insertLink.stepToEnd()
            }
            let insertScore = try current.prepare("""
                INSERT OR REPLACE INTO scores(text_id, media_id, metric, model, value, threshold, kept, stage, run_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for sc in input.scores {
                try insertScore.bind([textIDs[sc.text], mediaIDs[sc.media], sc.metric, sc.model, sc.value, sc.threshold, sc.kept, sc.stage ?? "", runID])
                try insertScore.stepToEnd()
            }
            for m in input.models {
                try current.run("INSERT OR IGNORE INTO models(id, kind, path, fingerprint, config) VALUES (?, ?, ?, ?, ?)",
                                [m.id, m.kind, m.path, m.fingerprint, m.config])
            }
            return sid
        }
        mediaRows += input.media.count
        // A task cannot delete the older row from another task's file: the catalog takes the newest.
        if let previous, previous.shard != currentName, task == nil {
            try deleteSource(hash: input.source.contentHash, shard: previous.shard)
        }
        return sourceID
    }

    /// Reads an input back as it was written (positions instead of row ids), so a rerun can keep
    /// what earlier stages made and redo only the later ones.
    public func load(hash: String, shard: String) throws -> InputWrite? {
        let db = try database(for: shard)
        guard let r = try db.query("""
            SELECT id, uri, external_id, kind, container, video_codec, audio_codec, duration_s, width, height, fps, rotation,
                   size_bytes, status, error, work_key, stage_keys, stats FROM sources WHERE content_hash = ?
            """, [hash]).first, let sid = r[0].int else { return nil }
        var s = SourceRow(contentHash: hash, uri: r[1].text ?? "", status: r[13].text ?? "ok")
        s.externalID = r[2].text; s.kind = r[3].text; s.container = r[4].text; s.videoCodec = r[5].text; s.audioCodec = r[6].text
        s.duration = r[7].double; s.width = r[8].int.map(Int.init); s.height = r[9].int.map(Int.init); s.fps = r[10].double
        s.rotation = r[11].int.map(Int.init); s.sizeBytes = r[12].int.map(Int.init); s.error = r[14].text; s.workKey = r[15].text
        s.stageKeys = r[16].text; s.stats = r[17].text
        var w = InputWrite(source: s)
        var mediaPosition: [Int64: Int] = [:]
        for m in try db.query("""
            SELECT id, kind, idx, t_start, t_end, width, height, sample_rate, samples, format, is_keyframe, scene_score, data, language
            FROM media WHERE source_id = ? ORDER BY kind DESC, idx
            """, [sid]) {
            var row = MediaRow(kind: m[1].text ?? "frame", idx: Int(m[2].int ?? 0), tStart: m[3].double ?? 0, tEnd: m[4].double,
                               format: m[9].text ?? "", data: m[12].blob ?? [])
            row.width = m[5].int.map(Int.init); row.height = m[6].int.map(Int.init); row.sampleRate = m[7].int.map(Int.init)
            row.samples = m[8].int.map(Int.init); row.isKeyframe = m[10].int.map { $0 != 0 }; row.sceneScore = m[11].double
            row.language = m[13].text
            mediaPosition[m[0].int!] = w.media.count
            w.media.append(row)
        }
        var textPosition: [Int64: Int] = [:]
        for t in try db.query("""
            SELECT id, media_id, origin, text, t_start, t_end, external_id, producer, settings, stage FROM texts WHERE source_id = ? ORDER BY id
            """, [sid]) {
            var row = TextRow(origin: t[2].text ?? "web", text: t[3].text ?? "", mediaIndex: t[1].int.flatMap { mediaPosition[$0] })
            row.tStart = t[4].double; row.tEnd = t[5].double; row.externalID = t[6].text; row.producer = t[7].text
            row.settings = t[8].text; row.stage = t[9].text
            textPosition[t[0].int!] = w.texts.count
            w.texts.append(row)
        }
        for l in try db.query("SELECT tm.text_id, tm.media_id FROM text_media tm JOIN texts t ON t.id = tm.text_id WHERE t.source_id = ?", [sid]) {
            if let tp = textPosition[l[0].int!], let mp = mediaPosition[l[1].int!] { w.links.append(.init(text: tp, media: mp)) }
        }
        for sc in try db.query("""
            SELECT sc.text_id, sc.media_id, metric, model, value, threshold, kept, sc.stage FROM scores sc
            JOIN texts t ON t.id = sc.text_id WHERE t.source_id = ?
            """, [sid]) {
            guard let tp = textPosition[sc[0].int!], let mp = mediaPosition[sc[1].int!] else { continue }
            w.scores.append(ScoreRow(text: tp, media: mp, metric: sc[2].text ?? "", model: sc[3].text ?? "", value: sc[4].double ?? 0,
                                     threshold: sc[5].double, kept: sc[6].int.map { $0 != 0 }, stage: sc[7].text))
        }
        return w
    }

    private func rotateIfFull() throws {
        let bytes = (try current.scalar("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").int) ?? 0
        let due = task.map { Date().timeIntervalSince(openedAt) >= $0.publishEvery } ?? false
        guard mediaRows >= budget.maxMediaRows || bytes >= budget.maxBytes || due else { return }
        guard mediaRows > 0 else { return }
        ShardStore.finalize(current)
        try publish()
        sequence += 1
        currentName = task?.shardName(sequence) ?? ShardStore.shardName(sequence)
        current = try task == nil ? ShardStore.open(path(of: currentName), pageLimit: pageLimit)
                                  : ShardStore.openFresh(path(of: currentName), pageLimit: pageLimit)
        openedAt = Date()
        mediaRows = 0
        try recordRun(in: current)
        runShards.append(currentName)
    }

    /// Moves a task's finalised shard from scratch into the output: copied under a hidden name, flushed,
    /// then renamed, so the output never shows a partial shard (readers list `shard-*.sqlite` only).
    private func publish() throws {
        guard let task else { return }
        let from = task.scratch.appendingPathComponent(currentName).path
        let to = directory.appendingPathComponent(currentName).path
        if rename(from, to) == 0 { return }
        guard errno == EXDEV else { throw SharedShardError(description: "cannot move \(from) to \(to): \(String(cString: strerror(errno)))") }
        let partial = directory.appendingPathComponent(".\(currentName).partial").path
        unlink(partial)
        do {
            try FileManager.default.copyItem(atPath: from, toPath: partial)
        } catch {
            unlink(partial)
            throw SharedShardError(description: "cannot copy \(from) into the output as \(partial): \(error.localizedDescription)")
        }
        let fd = Glibc.open(partial, O_RDONLY)
        if fd >= 0 { fsync(fd); Glibc.close(fd) }
        guard rename(partial, to) == 0 else { throw SharedShardError(description: "cannot rename \(partial) to \(to): \(String(cString: strerror(errno)))") }
        unlink(from)
    }

    /// Records the run's end in every shard it wrote to.
    public func finishRun(status: String, exitCode: Int32, stats: String) throws {
        guard let r = run else { return }
        // A task's published shards are no longer written: its last shard carries the run's end, and the
        // catalog reads a run's most final row.
        for shard in runShards where task == nil || shard == currentName {
            let db = try database(for: shard)
            try db.run("UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, stats = ? WHERE id = ?",
                       [now(), status, Int(exitCode), stats, r.id])
        }
    }

    /// Checkpoints the WAL into the file and leaves a plain rollback-journal database. Returns false
    /// when another connection (a `sqlite3` shell reading it) keeps the shard in WAL mode: it stays
    /// valid as it is, and the next run's close finalizes it.
    /// A task then publishes its last shard; a failure to do so is an error (the task's work is not in the
    /// output, so the catalog names it for resubmission).
    @discardableResult
    public func close() throws -> Bool {
        let finalized = ShardStore.finalize(current)
        if task != nil {
            guard finalized else { throw SharedShardError(description: "cannot finalise \(path(of: currentName)) to publish it") }
            try publish()
        }
        return finalized
    }

    @discardableResult
    static func finalize(_ db: Database) -> Bool {
        do {
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute("PRAGMA journal_mode=DELETE")
            return true
        } catch {
            return false
        }
    }
}
