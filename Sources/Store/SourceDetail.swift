import Foundation

/// One source as the browser shows it: its frames, its texts, and every score of every pair.
public struct SourceDetail: Sendable {
    public struct Frame: Sendable { public var mediaID: Int64; public var index: Int; public var t: Double; public var width: Int?; public var height: Int? }
    public struct Text: Sendable { public var id: Int64; public var origin: String; public var text: String; public var producer: String?; public var mediaID: Int64? }
    public struct Score: Sendable {
        public var textID: Int64; public var mediaID: Int64; public var metric: String; public var model: String
        public var value: Double; public var threshold: Double?; public var kept: Bool?; public var stage: String?
    }
    public var shard: Int
    public var id: Int64
    public var uri: String
    public var contentHash: String
    public var kind: String?
    public var container: String?
    public var duration: Double?
    public var width: Int?
    public var height: Int?
    public var status: String
    public var error: String?
    public var frames: [Frame] = []
    public var texts: [Text] = []
    /// Which frames each text is paired with.
    public var links: [Int64: [Int64]] = [:]
    public var scores: [Score] = []
}

/// A run ledger row, as read from every shard it wrote to (the same run appears once).
public struct RunEntry: Sendable {
    public var id: String; public var pipeline: String; public var startedAt: String; public var finishedAt: String?
    public var status: String; public var exitCode: Int?; public var stats: String?; public var host: String?; public var version: String?
    public var shards: [String]
}

public struct ErrorEntry: Sendable {
    public var shard: Int; public var sourceID: Int64; public var uri: String; public var status: String; public var error: String
}

extension DatasetReader {
    public func source(shard: Int, id: Int64) throws -> SourceDetail? {
        guard shards.indices.contains(shard) else { return nil }
        let db = shards[shard]
        guard let r = try db.query("""
            SELECT uri, content_hash, kind, container, duration_s, width, height, status, error FROM sources WHERE id = ?
            """, [id]).first else { return nil }
        var d = SourceDetail(shard: shard, id: id, uri: r[0].text ?? "", contentHash: r[1].text ?? "", kind: r[2].text, container: r[3].text,
                             duration: r[4].double, width: r[5].int.map(Int.init), height: r[6].int.map(Int.init), status: r[7].text ?? "",
                             error: r[8].text)
        for m in try db.query("SELECT id, idx, t_start, width, height FROM media WHERE source_id = ? AND kind = 'frame' ORDER BY idx", [id]) {
            d.frames.append(.init(mediaID: m[0].int ?? 0, index: Int(m[1].int ?? 0), t: m[2].double ?? 0, width: m[3].int.map(Int.init), height: m[4].int.map(Int.init)))
        }
        for t in try db.query("SELECT id, origin, text, producer, media_id FROM texts WHERE source_id = ? ORDER BY id", [id]) {
            d.texts.append(.init(id: t[0].int ?? 0, origin: t[1].text ?? "", text: t[2].text ?? "", producer: t[3].text, mediaID: t[4].int))
        }
        for l in try db.query("SELECT tm.text_id, tm.media_id FROM text_media tm JOIN texts t ON t.id = tm.text_id WHERE t.source_id = ? ORDER BY 1, 2", [id]) {
            d.links[l[0].int ?? 0, default: []].append(l[1].int ?? 0)
        }
        for s in try db.query("""
            SELECT sc.text_id, sc.media_id, metric, model, value, threshold, kept, sc.stage FROM scores sc
            JOIN texts t ON t.id = sc.text_id WHERE t.source_id = ? ORDER BY sc.text_id, sc.media_id, metric, model
            """, [id]) {
            d.scores.append(.init(textID: s[0].int ?? 0, mediaID: s[1].int ?? 0, metric: s[2].text ?? "", model: s[3].text ?? "",
                                  value: s[4].double ?? 0, threshold: s[5].double, kept: s[6].int.map { $0 != 0 }, stage: s[7].text))
        }
        return d
    }

    /// A frame's encoded image and its format; nil when the shard has no such frame.
    public func image(shard: Int, mediaID: Int64) throws -> (format: String, data: [UInt8])? {
        guard shards.indices.contains(shard) else { return nil }
        guard let r = try shards[shard].query("SELECT format, data FROM media WHERE id = ? AND kind = 'frame'", [mediaID]).first else { return nil }
        return (r[0].text ?? "", r[1].blob ?? [])
    }

    public func runs() throws -> [RunEntry] {
        var byID: [String: RunEntry] = [:]
        for (i, db) in shards.enumerated() {
            for r in try db.query("""
                SELECT id, COALESCE(pipeline_name, ''), started_at, finished_at, status, exit_code, stats, host, capfilt_version FROM runs
                """) {
                let id = r[0].text ?? ""
                if byID[id] == nil {
                    byID[id] = RunEntry(id: id, pipeline: r[1].text ?? "", startedAt: r[2].text ?? "", finishedAt: r[3].text, status: r[4].text ?? "",
                                        exitCode: r[5].int.map(Int.init), stats: r[6].text, host: r[7].text, version: r[8].text, shards: [])
                }
                byID[id]!.shards.append(shardNames[i])
            }
        }
        return byID.values.sorted { ($0.startedAt, $0.id) > ($1.startedAt, $1.id) }
    }

    public func errors(limit: Int, offset: Int) throws -> (entries: [ErrorEntry], total: Int) {
        var all: [ErrorEntry] = []
        var total = 0
        for (i, db) in shards.enumerated() {
            total += Int(try db.scalar("SELECT COUNT(*) FROM errors").int ?? 0)
            guard all.count < offset + limit else { continue }
            for r in try db.query("SELECT id, uri, status, COALESCE(error, '') FROM errors ORDER BY id LIMIT ?", [offset + limit - all.count]) {
                all.append(ErrorEntry(shard: i, sourceID: r[0].int ?? 0, uri: r[1].text ?? "", status: r[2].text ?? "", error: r[3].text ?? ""))
            }
        }
        return (Array(all.dropFirst(offset).prefix(limit)), total)
    }
}
