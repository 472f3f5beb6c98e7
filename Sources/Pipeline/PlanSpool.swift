import Foundation
import Store

/// The planner's working set on disk: the surveyed inputs with their hashes, what the shards hold, and
/// the work decided. A private temporary SQLite file (SQLite deletes it when closed) with a bounded page
/// cache, so planning millions of inputs takes the memory of planning a hundred; the inputs are read
/// back in order, a batch at a time.
final class PlanSpool: InputSink, @unchecked Sendable {
    // Used by the planning thread, then by the workers through `WorkQueue`, which holds its lock
    // around every call: never by two threads at once.
    let db: Database
    private let insertFile: Statement
    private let selectRow: Statement
    private let upsertRow: Statement
    private let selectStored: Statement

    init() throws {
        // An empty name is SQLite's private temporary database: on disk in TMPDIR, gone when closed.
        db = try Database(path: "")
        try db.execute("""
            PRAGMA cache_size = -16384; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;
            CREATE TABLE inputs (path TEXT PRIMARY KEY, external_id TEXT, web TEXT, hash TEXT, size INTEGER) WITHOUT ROWID;
            CREATE TABLE stored (hash TEXT PRIMARY KEY, shard TEXT NOT NULL, status TEXT NOT NULL, work_key TEXT, stage_keys TEXT,
                                 uri TEXT, external_id TEXT, retired INTEGER NOT NULL, created TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE todo (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, from_stage INTEGER NOT NULL, stage_keys TEXT NOT NULL);
            """)
        insertFile = try db.prepare("INSERT OR IGNORE INTO inputs(path) VALUES (?)")
        selectRow = try db.prepare("SELECT external_id, web FROM inputs WHERE path = ?")
        upsertRow = try db.prepare("INSERT OR REPLACE INTO inputs(path, external_id, web) VALUES (?, ?, ?)")
        selectStored = try db.prepare("SELECT shard, status, work_key, stage_keys, uri, external_id, retired FROM stored WHERE hash = ?")
    }

    // MARK: the survey (InputSink)

    func file(_ path: String) throws {
        try insertFile.bind([path])
        try insertFile.stepToEnd()
    }

    func row(_ path: String, id: String?, text: WebText?) throws {
        var item = InputItem(path: path, uri: path, externalID: nil, webTexts: [])
        try selectRow.bind([path])
        if try selectRow.step() {
            let r = selectRow.row()
            item.externalID = r[0].text
            item.webTexts = PlanSpool.decode(r[1].text)
        }
        try selectRow.bind([])
        item.merge(id: id, text: text)
        try upsertRow.bind([path, item.externalID, PlanSpool.encode(item.webTexts)])
        try upsertRow.stepToEnd()
    }

    static func encode(_ texts: [WebText]) -> String? {
        texts.isEmpty ? nil : (try? JSONEncoder().encode(texts)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func decode(_ json: String?) -> [WebText] {
        json.flatMap { try? JSONDecoder().decode([WebText].self, from: Data($0.utf8)) } ?? []
    }

    var inputCount: Int { Int(((try? db.scalar("SELECT COUNT(*) FROM inputs"))?.int) ?? 0) }

    /// The next `limit` paths after `after`, in path order.
    func paths(after: String, limit: Int) throws -> [String] {
        try db.query("SELECT path FROM inputs WHERE path > ? ORDER BY path LIMIT ?", [after, limit]).compactMap { $0[0].text }
    }

    func setHashes(_ rows: [(path: String, hash: String, size: Int?)]) throws {
        try db.transaction {
            let s = try db.prepare("UPDATE inputs SET hash = ?, size = ? WHERE path = ?")
            for r in rows {
                try s.bind([r.hash, r.size, r.path])
                try s.stepToEnd()
            }
        }
    }

    // MARK: what the shards hold

    /// Takes the shards' rows one at a time; the same bytes in two shards keep the newest row. Returns the
    /// rows that lost.
    func store(from shards: ShardStore) throws -> [(hash: String, shard: String)] {
        var older: [(hash: String, shard: String)] = []
        try db.transaction {
            let find = try db.prepare("SELECT shard, created FROM stored WHERE hash = ?")
            let put = try db.prepare("""
                INSERT OR REPLACE INTO stored(hash, shard, status, work_key, stage_keys, uri, external_id, retired, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            try shards.forEachSource { hash, entry, created in
                try find.bind([hash])
                if try find.step() {
                    let r = find.row()
                    let (oldShard, oldCreated) = (r[0].text ?? "", r[1].text ?? "")
                    try find.bind([])
                    guard created >= oldCreated else { older.append((hash, entry.shard)); return }
                    older.append((hash, oldShard))
                }
                // Keys are hex: one per line, no JSON to decode for every lookup.
                try put.bind([hash, entry.shard, entry.status, entry.workKey, entry.stageKeys.joined(separator: "\n"), entry.uri,
                              entry.externalID, entry.retired, created])
                try put.stepToEnd()
            }
            // Array tasks record retirements instead of marking rows: a row with that hash and uri,
            // written no later than the retirement, counts as retired.
            try db.execute("CREATE TEMP TABLE marks (hash TEXT NOT NULL, uri TEXT NOT NULL, at TEXT NOT NULL)")
            let mark = try db.prepare("INSERT INTO marks(hash, uri, at) VALUES (?, ?, ?)")
            try shards.forEachRetirement { hash, uri, _, at in
                try mark.bind([hash, uri, at])
                try mark.stepToEnd()
            }
            try db.execute("""
                UPDATE stored SET retired = 1 WHERE retired = 0
                    AND EXISTS (SELECT 1 FROM marks m WHERE m.hash = stored.hash AND m.uri = stored.uri AND m.at >= stored.created)
                """)
        }
        return older
    }

    func stored(_ hash: String) throws -> IndexedSource? {
        try selectStored.bind([hash])
        defer { try? selectStored.bind([]) }
        guard try selectStored.step() else { return nil }
        let r = selectStored.row()
        let keys = (r[3].text ?? "").split(separator: "\n").map(String.init)
        var entry = IndexedSource(shard: r[0].text ?? "", status: r[1].text ?? "error", workKey: r[2].text, stageKeys: keys)
        entry.uri = r[4].text ?? ""
        entry.externalID = r[5].text
        entry.retired = (r[6].int ?? 0) != 0
        return entry
    }

    // MARK: the work

    /// The inputs grouped by content hash, in the order of each group's first path (the order a run
    /// processes them in), one call per group.
    func forEachGroup(_ body: (_ hash: String, _ items: [InputItem], _ size: Int?) throws -> Void) throws {
        try db.execute("CREATE INDEX IF NOT EXISTS inputs_hash ON inputs(hash, path)")
        let rows = try db.prepare("""
            SELECT i.hash, i.path, i.external_id, i.web, i.size FROM inputs i
            JOIN (SELECT hash, min(path) AS first FROM inputs GROUP BY hash) g ON g.hash = i.hash
            ORDER BY g.first, i.path
            """)
        try rows.bind([])
        var group: [InputItem] = [], hash = "", size: Int? = nil
        while try rows.step() {
            let r = rows.row()
            let h = r[0].text ?? ""
            if h != hash && !group.isEmpty { try body(hash, group, size); group = [] }
            if group.isEmpty { (hash, size) = (h, r[4].int.map(Int.init)) }
            let path = r[1].text ?? ""
            group.append(InputItem(path: path, uri: path, externalID: r[2].text, webTexts: PlanSpool.decode(r[3].text)))
        }
        if !group.isEmpty { try body(hash, group, size) }
    }

    func group(_ hash: String) throws -> (items: [InputItem], size: Int?) {
        let rows = try db.query("SELECT path, external_id, web, size FROM inputs WHERE hash = ? ORDER BY path", [hash])
        return (rows.map { InputItem(path: $0[0].text ?? "", uri: $0[0].text ?? "", externalID: $0[1].text, webTexts: PlanSpool.decode($0[2].text)) },
                rows.first?[3].int.map(Int.init))
    }

    func addTodo(_ order: WorkOrder) throws {
        try db.run("INSERT INTO todo(hash, from_stage, stage_keys) VALUES (?, ?, ?)", [order.contentHash, order.from, order.stageKeys.joined(separator: "\n")])
    }

    func todo(after seq: Int64, limit: Int) throws -> [(seq: Int64, hash: String, from: Int, keys: [String])] {
        try db.query("SELECT seq, hash, from_stage, stage_keys FROM todo WHERE seq > ? ORDER BY seq LIMIT ?", [seq, limit]).map {
            ($0[0].int ?? 0, $0[1].text ?? "", Int($0[2].int ?? 0), ($0[3].text ?? "").split(separator: "\n").map(String.init))
        }
    }

    /// For a task of an array job: the stored inputs whose name it owns and that its part of the corpus
    /// no longer has under that name with those bytes.
    func vanished(ownedBy task: ArrayTask) throws -> [(hash: String, uri: String)] {
        let rows = try db.prepare("""
            SELECT hash, uri FROM stored s WHERE retired = 0
                AND NOT EXISTS (SELECT 1 FROM inputs i WHERE i.path = s.uri AND i.hash = s.hash) ORDER BY uri
            """)
        try rows.bind([])
        var gone: [(hash: String, uri: String)] = []
        while try rows.step() {
            let r = rows.row()
            if let hash = r[0].text, let uri = r[1].text, task.owns(uri) { gone.append((hash, uri)) }
        }
        return gone
    }

    /// Stored inputs that no current file has, by shard.
    func vanished() throws -> [String: [String]] {
        var byShard: [String: [String]] = [:]
        for r in try db.query("""
            SELECT shard, hash FROM stored WHERE retired = 0 AND hash NOT IN (SELECT hash FROM inputs WHERE hash IS NOT NULL) ORDER BY shard, hash
            """) {
            byShard[r[0].text ?? "", default: []].append(r[1].text ?? "")
        }
        return byShard
    }
}
