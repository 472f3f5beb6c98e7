import Foundation

/// One SQLite file over every shard of an output folder, every task's and every night's: the README's
/// queries (the same tables and views as a shard) answered across all of them, plus a consistency
/// report. Images stay in the shards unless asked for: `media.shard_media_id` and `sources.shard` say
/// where each frame's bytes are.
///
/// The same bytes can sit in several shards (a task that redid an input whose older row is in another
/// task's file, or two names of one file given to two tasks): the newest row wins, as a single-process
/// run's index does; the others are counted as superseded.
public enum Catalog {
    public static let fileName = "catalog.sqlite"

    public struct TaskState: Sendable, Equatable {
        public enum Status: String, Sendable { case finished, unfinished, missing }
        public var index: Int
        public var status: Status
        /// The runs of this index in the group, with their status (`ok`, `running`, …).
        public var runs: [String]
    }

    public struct Report: Sendable {
        public var shards = 0
        public var sources = 0
        public var pairs = 0
        public var superseded = 0
        public var runs = 0
        public var group: String?
        public var taskCount: Int?
        /// Counts the group's tasks disagree on (a count changed mid-array): their inputs overlap.
        public var otherCounts: [Int] = []
        public var tasks: [TaskState] = []
        /// Inputs written by more than one run of the group: with a stable split this means two attempts of
        /// one task ran at once, or the tasks disagreed on the count.
        public var doneTwice: [(uri: String, runs: Int)] = []
        public var failures = 0
        public var failureSamples: [(uri: String, error: String)] = []

        public var toResubmit: [Int] { tasks.filter { $0.status != .finished }.map(\.index) }
        public var consistent: Bool { toResubmit.isEmpty && doneTwice.isEmpty && otherCounts.isEmpty }
    }

    /// Builds `catalog.sqlite` in `directory` (under a temporary name, then renamed over the old one).
    public static func build(directory: URL, group: String? = nil, images: Bool = false) throws -> Report {
        let shards = ShardStore.shardFiles(in: directory)
        let target = directory.appendingPathComponent(fileName)
        let partial = directory.appendingPathComponent(".\(fileName).partial")
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(partial.path + suffix) }
        var report = Report()
        do {
            let db = try Database(path: partial.path)
            try db.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF;")
            try db.execute(schema)
            try db.execute("""
                CREATE TEMP TABLE rows (content_hash TEXT NOT NULL, shard TEXT NOT NULL, created_at TEXT, run_id TEXT);
                CREATE TEMP TABLE chosen (id INTEGER PRIMARY KEY);
                CREATE TEMP TABLE marks (hash TEXT NOT NULL, uri TEXT NOT NULL, run_id TEXT NOT NULL, at TEXT NOT NULL);
                """)
            for url in shards { try survey(url, into: db) }
            try db.execute("""
                CREATE TEMP TABLE winner AS
                    SELECT content_hash, shard FROM (SELECT content_hash, shard, row_number() OVER (
                        PARTITION BY content_hash ORDER BY created_at DESC, shard DESC) AS n FROM temp.rows) WHERE n = 1;
                CREATE INDEX temp.winner_shard ON winner(shard, content_hash);
                """)
            for url in shards { try copy(url, into: db, images: images) }
            // A task's retirement applies to a row of that hash and uri written no later than it.
            try db.execute("""
                UPDATE main.sources SET retired_by = m.run_id FROM temp.marks m
                WHERE m.hash = sources.content_hash AND m.uri = sources.uri AND m.at >= sources.created_at AND sources.retired_by IS NULL
                """)
            report = try consistency(db, group: group)
            report.shards = shards.count
            try db.run("INSERT OR REPLACE INTO meta(key, value) VALUES ('kind', 'catalog'), ('shards', ?), ('built_at', ?)",
                       [String(shards.count), ISO8601DateFormatter().string(from: Date())])
        }
        guard rename(partial.path, target.path) == 0 else {
            throw SQLiteError(code: 1, message: "cannot rename \(partial.path) to \(target.path): \(String(cString: strerror(errno)))", sql: nil)
        }
        return report
    }

    /// The shard schema with the frames' bytes optional, and where each row came from.
    static var schema: String {
        ShardSchema.sql.replacingOccurrences(of: "data        BLOB NOT NULL,", with: "data        BLOB,") + """

        ALTER TABLE sources ADD COLUMN shard TEXT;
        ALTER TABLE media ADD COLUMN shard_media_id INTEGER;
        CREATE INDEX IF NOT EXISTS sources_shard ON sources(shard);
        PRAGMA user_version = \(ShardSchema.version);
        """
    }

    private static func attach(_ url: URL, _ db: Database) throws -> Int {
        try db.run("ATTACH DATABASE ? AS s", [url.path])
        let version = Int(try db.scalar("PRAGMA s.user_version").int ?? 0)
        guard version >= 4 && version <= ShardSchema.version else {
            try? db.execute("DETACH DATABASE s")
            throw SQLiteError(code: 1, message: "\(url.path) has shard schema version \(version); the catalog reads versions 4 to "
                              + "\(ShardSchema.version): run `capfilt run` once on this output to upgrade it in place", sql: nil)
        }
        return version
    }

    private static func survey(_ url: URL, into db: Database) throws {
        _ = try attach(url, db)
        defer { try? db.execute("DETACH DATABASE s") }
        try db.run("INSERT INTO temp.rows SELECT content_hash, ?, created_at, run_id FROM s.sources", [url.lastPathComponent])
        if try db.scalar("SELECT COUNT(*) FROM s.sqlite_master WHERE name = 'retirements'").int == 1 {
            try db.execute("INSERT INTO temp.marks SELECT content_hash, uri, run_id, at FROM s.retirements")
        }
    }

    private static func copy(_ url: URL, into db: Database, images: Bool) throws {
        let version = try attach(url, db)
        defer { try? db.execute("DETACH DATABASE s") }
        // One transaction per shard: SQLite cannot detach a database inside one.
        try db.transaction { try copyRows(url.lastPathComponent, version: version, into: db, images: images) }
    }

    private static func copyRows(_ shard: String, version: Int, into db: Database, images: Bool) throws {
        func offset(_ table: String) throws -> Int64 { try db.scalar("SELECT coalesce(max(id), 0) FROM main.\(table)").int ?? 0 }
        let (so, mo, to) = (try offset("sources"), try offset("media"), try offset("texts"))
        try db.execute("DELETE FROM temp.chosen")
        try db.run("""
            INSERT INTO temp.chosen SELECT s.id FROM s.sources s JOIN temp.winner w ON w.content_hash = s.content_hash AND w.shard = ?
            """, [shard])
        try db.run("""
            INSERT INTO main.sources(id, content_hash, uri, external_id, kind, container, video_codec, audio_codec, duration_s, width, height,
                fps, rotation, size_bytes, status, error, work_key, stage_keys, stats, run_id, created_at, retired_by, shard)
            SELECT id + \(so), content_hash, uri, external_id, kind, container, video_codec, audio_codec, duration_s, width, height,
                fps, rotation, size_bytes, status, error, work_key, stage_keys, stats, run_id, created_at, retired_by, ?
            FROM s.sources WHERE id IN temp.chosen
            """, [shard])
        try db.execute("""
            INSERT INTO main.media(id, source_id, kind, idx, t_start, t_end, width, height, sample_rate, samples, format, is_keyframe,
                scene_score, data, language, shard_media_id)
            SELECT id + \(mo), source_id + \(so), kind, idx, t_start, t_end, width, height, sample_rate, samples, format, is_keyframe,
                scene_score, \(images ? "data" : "NULL"), language, id
            FROM s.media WHERE source_id IN temp.chosen;
            INSERT INTO main.texts(id, source_id, media_id, origin, text, t_start, t_end, external_id, producer, settings, stage)
            SELECT id + \(to), source_id + \(so), media_id + \(mo), origin, text, t_start, t_end, external_id, producer, settings, stage
            FROM s.texts WHERE source_id IN temp.chosen;
            INSERT INTO main.text_media(text_id, media_id)
            SELECT tm.text_id + \(to), tm.media_id + \(mo) FROM s.text_media tm JOIN s.texts t ON t.id = tm.text_id
            WHERE t.source_id IN temp.chosen;
            INSERT INTO main.scores(text_id, media_id, metric, model, value, threshold, kept, stage, run_id)
            SELECT sc.text_id + \(to), sc.media_id + \(mo), sc.metric, sc.model, sc.value, sc.threshold, sc.kept, sc.stage, sc.run_id
            FROM s.scores sc JOIN s.texts t ON t.id = sc.text_id WHERE t.source_id IN temp.chosen;
            INSERT OR IGNORE INTO main.models SELECT * FROM s.models;
            """)
        // A run writes a row into every shard it touched; the most final one tells how it ended.
        let task = version >= 5 ? "run_group, task_index, task_count" : "NULL, NULL, NULL"
        try db.execute("""
            INSERT OR IGNORE INTO main.runs(id, pipeline_name, pipeline_hash, pipeline_yaml, capfilt_version, host, started_at, finished_at,
                status, exit_code, stats, run_group, task_index, task_count)
            SELECT id, pipeline_name, pipeline_hash, pipeline_yaml, capfilt_version, host, started_at, finished_at, status, exit_code, stats, \(task)
            FROM s.runs;
            UPDATE main.runs SET finished_at = r.finished_at, status = r.status, exit_code = r.exit_code, stats = r.stats
            FROM s.runs r WHERE main.runs.id = r.id AND main.runs.status = 'running' AND r.status <> 'running';
            """)
    }

    private static func consistency(_ db: Database, group requested: String?) throws -> Report {
        var r = Report()
        r.sources = Int(try db.scalar("SELECT COUNT(*) FROM live_sources").int ?? 0)
        r.pairs = Int(try db.scalar("SELECT COUNT(*) FROM pairs").int ?? 0)
        r.superseded = Int(try db.scalar("SELECT COUNT(*) FROM temp.rows").int ?? 0) - Int(try db.scalar("SELECT COUNT(*) FROM temp.winner").int ?? 0)
        r.runs = Int(try db.scalar("SELECT COUNT(*) FROM runs").int ?? 0)
        r.failures = Int(try db.scalar("SELECT COUNT(*) FROM errors").int ?? 0)
        r.failureSamples = try db.query("SELECT uri, coalesce(error, status) FROM errors ORDER BY uri LIMIT 10").map { ($0[0].text ?? "", $0[1].text ?? "") }
        r.group = try requested ?? db.scalar("SELECT run_group FROM runs WHERE run_group IS NOT NULL ORDER BY started_at DESC, id LIMIT 1").text
        guard let group = r.group else { return r }
        let counts = try db.query("SELECT task_count, COUNT(*) FROM runs WHERE run_group = ? GROUP BY task_count ORDER BY 2 DESC, 1 DESC", [group])
            .compactMap { $0[0].int.map(Int.init) }
        guard let count = counts.first else { r.taskCount = nil; return r }
        r.taskCount = count
        r.otherCounts = Array(counts.dropFirst())
        var runsByIndex: [Int: [(String, String)]] = [:]
        for row in try db.query("SELECT task_index, id, status FROM runs WHERE run_group = ? AND task_count = ? ORDER BY started_at", [group, count]) {
            runsByIndex[Int(row[0].int ?? -1), default: []].append((row[1].text ?? "", row[2].text ?? ""))
        }
        r.tasks = (0..<count).map { i in
            let runs = runsByIndex[i] ?? []
            let status: TaskState.Status = runs.isEmpty ? .missing : runs.contains { $0.1 == "ok" || $0.1 == "errors" } ? .finished : .unfinished
            return TaskState(index: i, status: status, runs: runs.map { "\($0.0.prefix(8)) \($0.1)" })
        }
        r.doneTwice = try db.query("""
            SELECT (SELECT uri FROM sources s WHERE s.content_hash = r.content_hash), COUNT(DISTINCT r.run_id) FROM temp.rows r
            WHERE r.run_id IN (SELECT id FROM runs WHERE run_group = ?) GROUP BY r.content_hash HAVING COUNT(DISTINCT r.run_id) > 1
            ORDER BY 1
            """, [group]).map { ($0[0].text ?? "", Int($0[1].int ?? 0)) }
        return r
    }

    /// Indices as a Slurm `--array=` expression: runs of consecutive indices become ranges ("1,3-5").
    public static func arrayExpression(_ indices: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let sorted = Array(Set(indices)).sorted()
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
