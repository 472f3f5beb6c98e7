import Foundation

/// A filtered, keyset-paged listing of pairs over all shards, for the browser. Pages are found by
/// position (shard, text id, media id), never by OFFSET, so page 10,000 costs what page 1 costs.
/// Every user value is a bound parameter; the only SQL text that varies is which fixed clauses apply.
public struct PairFilter: Sendable, Equatable {
    public var origin: String?
    public var kept: Bool?
    public var itmMin: Double?
    public var itmMax: Double?
    public var clipMin: Double?
    public var clipMax: Double?
    /// Words to find in the text (all of them; a trailing * matches a prefix).
    public var search: String?
    public var sourceID: Int64?
    public init() {}

    /// The words as an FTS5 query: each one quoted, so `"`, `-`, `:` or `(` in user input are words,
    /// not FTS syntax (an unbalanced quote would otherwise be an error page).
    public static func ftsQuery(_ search: String) -> String? {
        let words = search.split(whereSeparator: { $0.isWhitespace }).compactMap { w -> String? in
            let prefix = w.hasSuffix("*")
            let word = (prefix ? w.dropLast() : w[...]).replacingOccurrences(of: "\"", with: "\"\"")
            // A word with no letter or digit has no tokens, and an empty phrase is an FTS5 error.
            guard word.contains(where: { $0.isLetter || $0.isNumber }) else { return nil }
            return "\"\(word)\"" + (prefix ? "*" : "")
        }
        return words.isEmpty ? nil : words.joined(separator: " ")
    }
}

public struct PairListing: Sendable {
    public struct Row: Sendable {
        public var ref: DatasetReader.PairRef
        public var sourceID: Int64
        public var uri: String
        public var frameIndex: Int
        public var t: Double
        public var origin: String
        public var text: String
        public var kept: Bool
        public var itm: Double?
        public var clip: Double?
    }
    public var rows: [Row]
    /// Set when there are rows after (before) this page.
    public var hasMore: Bool
}

extension DatasetReader {
    public enum PageDirection: Sendable { case after, before }

    /// Up to `limit` pairs strictly after (or before) `cursor` in (shard, text, media) order.
    public func pairs(matching f: PairFilter, from cursor: PairRef?, direction: PageDirection = .after, limit: Int) throws -> PairListing {
        var rows: [PairListing.Row] = []
        let forward = direction == .after
        let order = forward ? Array(shards.indices) : Array(shards.indices.reversed())
        for shard in order {
            if let c = cursor, forward ? shard < c.shard : shard > c.shard { continue }
            let need = limit + 1 - rows.count
            guard need > 0 else { break }
            var clauses: [String] = []
            var args: [SQLConvertible?] = []
            if let c = cursor, c.shard == shard {
                clauses.append(forward ? "(p.text_id, p.media_id) > (?, ?)" : "(p.text_id, p.media_id) < (?, ?)")
                args += [c.textID, c.mediaID]
            }
            if let o = f.origin { clauses.append("p.origin = ?"); args.append(o) }
            if let k = f.kept { clauses.append("p.kept = ?"); args.append(k) }
            if let v = f.itmMin { clauses.append("p.itm >= ?"); args.append(v) }
            if let v = f.itmMax { clauses.append("p.itm <= ?"); args.append(v) }
            if let v = f.clipMin { clauses.append("p.clip >= ?"); args.append(v) }
            if let v = f.clipMax { clauses.append("p.clip <= ?"); args.append(v) }
            if let v = f.sourceID { clauses.append("p.source_id = ?"); args.append(v) }
            if let s = f.search, !s.isEmpty {
                if hasTextIndex[shard], let q = PairFilter.ftsQuery(s) {
                    clauses.append("p.text_id IN (SELECT rowid FROM texts_fts WHERE texts_fts MATCH ?)"); args.append(q)
                } else {
                    // A shard written before the index existed: a scan, still correct.
                    clauses.append("instr(lower(p.text), lower(?)) > 0"); args.append(s)
                }
            }
            let sql = """
                SELECT p.text_id, p.media_id, p.source_id, p.uri, p.frame_idx, p.t, p.origin, p.text, p.kept, p.itm, p.clip
                FROM capfilt_result p \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "))
                ORDER BY p.text_id \(forward ? "" : "DESC"), p.media_id \(forward ? "" : "DESC") LIMIT ?
                """
            args.append(need)
            for r in try shards[shard].query(sql, args) {
                rows.append(.init(ref: PairRef(shard: shard, textID: r[0].int ?? 0, mediaID: r[1].int ?? 0), sourceID: r[2].int ?? 0,
                                  uri: r[3].text ?? "", frameIndex: Int(r[4].int ?? 0), t: r[5].double ?? 0, origin: r[6].text ?? "",
                                  text: r[7].text ?? "", kept: (r[8].int ?? 0) != 0, itm: r[9].double, clip: r[10].double))
            }
        }
        let hasMore = rows.count > limit
        rows = Array(rows.prefix(limit))
        if !forward { rows.reverse() }
        return PairListing(rows: rows, hasMore: hasMore)
    }
}
