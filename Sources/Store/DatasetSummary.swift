import Foundation

/// What an output folder holds, summed over its shards (opened read-only).
public struct DatasetSummary: Sendable {
    public struct Shard: Sendable { public var name: String; public var bytes: Int; public var sources: Int; public var media: Int }
    public struct Run: Sendable {
        public var id: String; public var pipeline: String; public var startedAt: String; public var finishedAt: String?
        public var status: String; public var exitCode: Int?; public var stats: String?
    }
    public var shards: [Shard] = []
    public var sourcesByStatus: [String: Int] = [:]
    public var sourcesByKind: [String: Int] = [:]
    public var mediaByKind: [String: Int] = [:]
    public var textsByOrigin: [String: Int] = [:]
    public var pairs = 0
    public var pairsKept = 0
    public var scoresByMetric: [String: Int] = [:]
    /// The most frequent error messages with how many inputs had each, and one example.
    public var errors: [(message: String, count: Int, example: String)] = []
    public var runs: [Run] = []

    public static func read(directory: URL) throws -> DatasetSummary {
        let files = ShardStore.shardFiles(in: directory)
        guard !files.isEmpty else {
            throw SQLiteError(code: 14, message: "no shard-*.sqlite files in \(directory.path)", sql: nil)
        }
        var s = DatasetSummary()
        var errorCounts: [String: (Int, String)] = [:]
        var runs: [String: Run] = [:]
        for url in files {
            let db = try Database(path: url.path, readOnly: true)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            let sources = Int(try db.scalar("SELECT COUNT(*) FROM sources").int ?? 0)
            let media = Int(try db.scalar("SELECT COUNT(*) FROM media").int ?? 0)
            s.shards.append(Shard(name: url.lastPathComponent, bytes: bytes, sources: sources, media: media))
            func tally(_ sql: String, into dict: inout [String: Int]) throws {
                for r in try db.query(sql) { dict[r[0].text ?? "null", default: 0] += Int(r[1].int ?? 0) }
            }
            try tally("SELECT status, COUNT(*) FROM sources GROUP BY status", into: &s.sourcesByStatus)
            try tally("SELECT kind, COUNT(*) FROM sources GROUP BY kind", into: &s.sourcesByKind)
            try tally("SELECT kind, COUNT(*) FROM media GROUP BY kind", into: &s.mediaByKind)
            try tally("SELECT origin, COUNT(*) FROM texts GROUP BY origin", into: &s.textsByOrigin)
            try tally("SELECT metric || ' (' || model || ')', COUNT(*) FROM scores GROUP BY metric, model", into: &s.scoresByMetric)
            let p = try db.query("SELECT COUNT(*), COALESCE(SUM(kept), 0) FROM pairs")
            s.pairs += Int(p.first?[0].int ?? 0)
            s.pairsKept += Int(p.first?[1].int ?? 0)
            for r in try db.query("SELECT error, COUNT(*), MIN(uri) FROM sources WHERE status <> 'ok' GROUP BY error") {
                let message = ErrorText.generalise(r[0].text ?? "")
                let old = errorCounts[message] ?? (0, r[2].text ?? "")
                errorCounts[message] = (old.0 + Int(r[1].int ?? 0), old.1)
            }
            for r in try db.query("SELECT id, COALESCE(pipeline_name, ''), started_at, finished_at, status, exit_code, stats FROM runs") {
                runs[r[0].text ?? ""] = Run(id: r[0].text ?? "", pipeline: r[1].text ?? "", startedAt: r[2].text ?? "", finishedAt: r[3].text,
                                            status: r[4].text ?? "", exitCode: r[5].int.map(Int.init), stats: r[6].text)
            }
        }
        s.errors = errorCounts.map { ($0.key, $0.value.0, $0.value.1) }.sorted { ($1.count, $0.message) < ($0.count, $1.message) }
        s.runs = runs.values.sorted { $0.startedAt < $1.startedAt }
        return s
    }
}

enum ErrorText {
    /// Groups messages that differ only by the file named in them.
    static func generalise(_ message: String) -> String {
        message.replacingOccurrences(of: #"\([^()]*/[^()]*\)"#, with: "(…)", options: .regularExpression)
    }
}
