import Foundation
import Store

/// What an exported sample says about itself: the `KEY.json` of a WebDataset sample and one line of an
/// image folder's `metadata.jsonl`. Flat columns and lists of records (never maps keyed by data)
/// keep the shape the same on every line, which Arrow-based loaders need to infer one schema.
public struct SampleMetadata: Codable, Equatable, Sendable {
    public struct Score: Codable, Equatable, Sendable {
        public var metric: String
        public var model: String
        public var value: Double
        public var threshold: Double?
        public var kept: Bool?
        public var stage: String?
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(metric, forKey: .metric); try c.encode(model, forKey: .model); try c.encode(value, forKey: .value)
            try c.encode(threshold, forKey: .threshold); try c.encode(kept, forKey: .kept); try c.encode(stage, forKey: .stage)
        }
    }
    public struct Model: Codable, Equatable, Sendable {
        public var id: String
        public var kind: String
        public var fingerprint: String?
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id); try c.encode(kind, forKey: .kind); try c.encode(fingerprint, forKey: .fingerprint)
        }
    }

    /// Only in `metadata.jsonl`: the image's path relative to that file.
    public var file_name: String?
    public var key: String
    public var text: String
    public var origin: String
    public var producer: String?
    public var kept: Bool
    public var itm: Double?
    public var itc: Double?
    public var clip: Double?
    public var uri: String
    public var content_hash: String
    public var external_id: String?
    public var source_kind: String?
    public var frame_index: Int
    public var t: Double
    public var width: Int?
    public var height: Int?
    public var image_format: String
    public var shard: String
    public var scores: [Score]
    public var models: [Model]

    public init(key: String, detail d: DatasetReader.PairDetail) {
        self.key = key
        text = d.text; origin = d.origin; producer = d.producer; kept = d.kept
        // Like capfilt_result: the highest value per metric when several models scored the pair.
        func best(_ metric: String) -> Double? { d.scores.filter { $0.metric == metric }.map(\.value).max() }
        itm = best("itm"); itc = best("itc"); clip = best("clip")
        uri = d.uri; content_hash = d.contentHash; external_id = d.externalID; source_kind = d.sourceKind
        frame_index = d.frameIndex; t = d.t; width = d.width; height = d.height; image_format = d.format
        shard = d.shardName
        scores = d.scores.map { Score(metric: $0.metric, model: $0.model, value: $0.value, threshold: $0.threshold, kept: $0.kept, stage: $0.stage) }
        models = d.models.map { Model(id: $0.id, kind: $0.kind, fingerprint: $0.fingerprint) }
    }

    enum CodingKeys: String, CodingKey {
        case file_name, key, text, origin, producer, kept, itm, itc, clip, uri, content_hash, external_id, source_kind
        case frame_index, t, width, height, image_format, shard, scores, models
    }

    /// Absent values are written as null, not left out: every line has every column (only file_name
    /// is left out of WebDataset's KEY.json, where it has no meaning).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(file_name, forKey: .file_name)
        try c.encode(key, forKey: .key); try c.encode(text, forKey: .text); try c.encode(origin, forKey: .origin)
        try c.encode(producer, forKey: .producer); try c.encode(kept, forKey: .kept)
        try c.encode(itm, forKey: .itm); try c.encode(itc, forKey: .itc); try c.encode(clip, forKey: .clip)
        try c.encode(uri, forKey: .uri); try c.encode(content_hash, forKey: .content_hash); try c.encode(external_id, forKey: .external_id)
        try c.encode(source_kind, forKey: .source_kind); try c.encode(frame_index, forKey: .frame_index); try c.encode(t, forKey: .t)
        try c.encode(width, forKey: .width); try c.encode(height, forKey: .height); try c.encode(image_format, forKey: .image_format)
        try c.encode(shard, forKey: .shard); try c.encode(scores, forKey: .scores); try c.encode(models, forKey: .models)
    }

    /// Sorted keys and no pretty-printing: the same sample always serialises to the same bytes.
    public func json() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }
}

/// Sample keys that depend on content, not on row ids: the source's content hash, the frame's index and
/// a hash of the text. Re-running the pipeline (new row ids) or exporting a different selection keeps
/// a sample's key. No dots, as WebDataset splits a member name at the first dot.
public enum SampleKey {
    public static func make(contentHash: String, frameIndex: Int, origin: String, text: String) -> String {
        let hash = contentHash.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(16)
        return "\(hash)-\(String(format: "%05d", frameIndex))-\(fnv1a("\(origin)\u{0}\(text)"))"
    }

    /// 64-bit FNV-1a: stable across runs and platforms (Swift's Hasher is seeded per process).
    static func fnv1a(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(format: "%016llx", h)
    }

    public static func fileExtension(format: String) -> String {
        switch format.lowercased() {
        case "jpeg", "jpg", "mjpeg": return "jpg"
        case "": return "bin"
        default: return format.lowercased().filter { $0.isLetter || $0.isNumber }
        }
    }
}
