import CSQLite
import Foundation

/// All shards of an output folder, opened read-only (and `query_only`, so not even a user's own SQL
/// through `--where` can write). The read side of capfilt (export, serve, the HTML report) goes
/// through here; shards are visited in name order, which makes every listing deterministic.
public final class DatasetReader {
    public let directory: URL
    public let shardNames: [String]
    public let shards: [Database]
    /// Shards that have the full-text index (schema version 2 and later).
    public let hasTextIndex: [Bool]

    public init(directory: URL) throws {
        self.directory = directory
        let files = ShardStore.shardFiles(in: directory)
        guard !files.isEmpty else {
            throw SQLiteError(code: 14, message: "no shard-*.sqlite files in \(directory.path)", sql: nil)
        }
        shardNames = files.map(\.lastPathComponent)
        shards = try files.map { url in
            let db = try Database(path: url.path, readOnly: true)
            try db.execute("PRAGMA query_only=1")
            return db
        }
        hasTextIndex = try shards.map { try $0.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'texts_fts'").int == 1 }
    }

    /// One pair, by where it lives.
    public struct PairRef: Sendable, Hashable, Comparable {
        public var shard: Int
        public var textID: Int64
        public var mediaID: Int64
        public init(shard: Int, textID: Int64, mediaID: Int64) { self.shard = shard; self.textID = textID; self.mediaID = mediaID }
        public static func < (a: PairRef, b: PairRef) -> Bool { (a.shard, a.textID, a.mediaID) < (b.shard, b.textID, b.mediaID) }
    }

    /// The pairs of `capfilt_result` matching `condition` (the caller's SQL, run as it is on these
    /// read-only connections), in a stable order: shard, source, frame, text.
    public func select(where condition: String) throws -> [PairRef] {
        // The condition sees only capfilt_result's columns, and the parentheses keep a `;` or a
        // dangling OR inside it from reaching outside it.
        let sql = """
            SELECT text_id, media_id FROM capfilt_result WHERE (\(condition))
            ORDER BY source_id, frame_idx, text_id, media_id
            """
        var refs: [PairRef] = []
        for (i, db) in shards.enumerated() {
            try Self.requireOneStatement(sql, in: db)
            let s = try db.prepare(sql)
            while try s.step() {
                let r = s.row()
                refs.append(PairRef(shard: i, textID: r[0].int ?? 0, mediaID: r[1].int ?? 0))
            }
        }
        return refs
    }

    /// SQLite compiles the first statement of a string and ignores the rest: a condition like
    /// `1); DELETE FROM texts; --` would silently drop our ORDER BY. Refuse anything left over.
    static func requireOneStatement(_ sql: String, in db: Database) throws {
        var stmt: OpaquePointer? = nil
        var leftover = ""
        let rc = sql.withCString { start -> Int32 in
            var tail: UnsafePointer<CChar>? = nil
            let rc = sqlite3_prepare_v2(db.handle, start, -1, &stmt, &tail)
            if let tail { leftover = String(cString: tail) }
            return rc
        }
        sqlite3_finalize(stmt)
        guard rc == SQLITE_OK else { throw db.error(rc, sql) }
        if !leftover.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw SQLiteError(code: SQLITE_ERROR, message: "the condition must be one SQL expression; found more after it: \(leftover.prefix(60))", sql: sql)
        }
    }

    /// A pair with everything an exported sample carries.
    public struct PairDetail: Sendable {
        public var ref: PairRef
        public var shardName: String
        public var contentHash: String
        public var uri: String
        public var externalID: String?
        public var sourceKind: String?
        public var frameIndex: Int
        public var t: Double
        public var width: Int?
        public var height: Int?
        public var format: String
        public var image: [UInt8]
        public var origin: String
        public var text: String
        public var producer: String?
        public var kept: Bool
        public var scores: [Score]
        public var models: [ModelRow]
    }

    public struct Score: Sendable, Equatable {
        public var metric: String
        public var model: String
        public var value: Double
        public var threshold: Double?
        public var kept: Bool?
        public var stage: String?
    }

    /// Prepared once per shard and reused: export asks for a million of these.
    private var detailStatements: [Int: (pair: Statement, scores: Statement)] = [:]
    private var modelCache: [Int: [String: ModelRow]] = [:]

    public func detail(_ ref: PairRef, withImage: Bool = true) throws -> PairDetail? {
        let db = shards[ref.shard]
        let st: (pair: Statement, scores: Statement)
        if let cached = detailStatements[ref.shard] { st = cached } else {
            st = (try db.prepare("""
                SELECT s.content_hash, s.uri, s.external_id, s.kind, m.idx, m.t_start, m.width, m.height, m.format,
                       CASE WHEN ? THEN m.data END, t.origin, t.text, t.producer
                FROM texts t JOIN sources s ON s.id = t.source_id, media m
                WHERE t.id = ? AND m.id = ?
                """), try db.prepare("""
                SELECT metric, model, value, threshold, kept, stage FROM scores
                WHERE text_id = ? AND media_id = ? ORDER BY metric, model
                """))
            detailStatements[ref.shard] = st
        }
        try st.pair.bind([withImage, ref.textID, ref.mediaID])
        guard try st.pair.step() else { return nil }
        let r = st.pair.row()
        try st.scores.bind([ref.textID, ref.mediaID])
        var scores: [Score] = []
        while try st.scores.step() {
            let s = st.scores.row()
            scores.append(Score(metric: s[0].text ?? "", model: s[1].text ?? "", value: s[2].double ?? 0, threshold: s[3].double,
                                kept: s[4].int.map { $0 != 0 }, stage: s[5].text))
        }
        let producer = r[12].text
        let known = try models(shard: ref.shard)
        let used = Set(scores.map(\.model) + [producer].compactMap { $0 })
        return PairDetail(ref: ref, shardName: shardNames[ref.shard], contentHash: r[0].text ?? "", uri: r[1].text ?? "",
                          externalID: r[2].text, sourceKind: r[3].text, frameIndex: Int(r[4].int ?? 0), t: r[5].double ?? 0,
                          width: r[6].int.map(Int.init), height: r[7].int.map(Int.init), format: r[8].text ?? "",
                          image: r[9].blob ?? [], origin: r[10].text ?? "", text: r[11].text ?? "", producer: producer,
                          kept: !scores.contains { $0.kept == false }, scores: scores,
                          models: used.sorted().compactMap { known[$0] })
    }

    public func models(shard: Int) throws -> [String: ModelRow] {
        if let m = modelCache[shard] { return m }
        var result: [String: ModelRow] = [:]
        for r in try shards[shard].query("SELECT id, kind, path, fingerprint, config FROM models") {
            let id = r[0].text ?? ""
            result[id] = ModelRow(id: id, kind: r[1].text ?? "", path: r[2].text, fingerprint: r[3].text, config: r[4].text)
        }
        modelCache[shard] = result
        return result
    }
}
