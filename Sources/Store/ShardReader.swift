import Foundation

/// A text of a source and how many of its pairs no stage dropped: what a report of filter decisions reads.
public struct KeptText: Sendable, Equatable {
    public var text: String
    public var keptPairs: Int
}

/// Read-only questions about what one shard holds, for reports that score a run. Owns its connection;
/// one owner at a time, like `Database`.
public final class ShardReader {
    private let db: Database

    public init(url: URL) throws {
        db = try Database(path: url.path, readOnly: true)
    }

    /// The source whose uri ends in `/relativePath`, when it was read (status ok or partial).
    public func readSource(endingWith relativePath: String) throws -> Int64? {
        try db.query("SELECT id FROM sources WHERE uri LIKE ? AND status <> 'error'", ["%/" + relativePath]).first?[0].int
    }

    /// The web texts of a source with this external id (the manifest's id field).
    public func webTexts(source: Int64, externalID: String) throws -> [KeptText] {
        try keptTexts("""
            SELECT t.text, (SELECT COUNT(*) FROM pairs p WHERE p.text_id = t.id AND p.kept) FROM texts t
            WHERE t.source_id = ? AND t.origin = 'web' AND t.external_id = ?
            """, [source, externalID])
    }

    /// The captions the caption stage wrote for a source.
    public func syntheticTexts(source: Int64) throws -> [KeptText] {
        try keptTexts("""
            SELECT t.text, (SELECT COUNT(*) FROM pairs p WHERE p.text_id = t.id AND p.kept) FROM texts t
            WHERE t.source_id = ? AND t.origin = 'synthetic'
            """, [source])
    }

    private func keptTexts(_ sql: String, _ args: [SQLConvertible?]) throws -> [KeptText] {
        try db.query(sql, args).map { KeptText(text: $0[0].text ?? "", keptPairs: Int($0[1].int ?? 0)) }
    }
}
