/// What one input adds to a shard. Texts, links and scores refer to media and texts by their
/// position in these arrays; the store turns positions into row ids inside one transaction.
public struct InputWrite: Sendable {
    public var source: SourceRow
    public var media: [MediaRow] = []
    public var texts: [TextRow] = []
    public var links: [Link] = []
    public var scores: [ScoreRow] = []
    public var models: [ModelRow] = []
    public init(source: SourceRow) { self.source = source }

    public struct Link: Sendable, Hashable {
        public var text: Int
        public var media: Int
        public init(text: Int, media: Int) { self.text = text; self.media = media }
    }
}

public struct SourceRow: Sendable {
    public var contentHash: String
    public var uri: String
    public var externalID: String?
    public var kind: String?
    public var container: String?
    public var videoCodec: String?
    public var audioCodec: String?
    public var duration: Double?
    public var width: Int?
    public var height: Int?
    public var fps: Double?
    public var rotation: Int?
    public var sizeBytes: Int?
    /// ok, partial (some packets were corrupt) or error.
    public var status: String
    public var error: String?
    public var workKey: String?
    /// JSON list of per-stage keys.
    public var stageKeys: String?
    public var stats: String?
    public init(contentHash: String, uri: String, status: String) {
        self.contentHash = contentHash; self.uri = uri; self.status = status
    }
}

public struct MediaRow: Sendable {
    public var kind: String
    public var idx: Int
    public var tStart: Double
    public var tEnd: Double?
    public var width: Int?
    public var height: Int?
    public var sampleRate: Int?
    public var samples: Int?
    public var format: String
    public var isKeyframe: Bool?
    public var sceneScore: Double?
    public var data: [UInt8]
    /// Audio: the stream's language tag, when the pipeline chose the stream.
    public var language: String?
    public init(kind: String, idx: Int, tStart: Double, tEnd: Double? = nil, format: String, data: [UInt8]) {
        self.kind = kind; self.idx = idx; self.tStart = tStart; self.tEnd = tEnd; self.format = format; self.data = data
    }
}

public struct TextRow: Sendable {
    public var mediaIndex: Int?
    public var origin: String
    public var text: String
    public var tStart: Double?
    public var tEnd: Double?
    public var externalID: String?
    public var producer: String?
    public var settings: String?
    public var stage: String?
    public init(origin: String, text: String, mediaIndex: Int? = nil) {
        self.origin = origin; self.text = text; self.mediaIndex = mediaIndex
    }
}

public struct ScoreRow: Sendable {
    public var text: Int
    public var media: Int
    public var metric: String
    public var model: String
    public var value: Double
    public var threshold: Double?
    public var kept: Bool?
    public var stage: String?
    public init(text: Int, media: Int, metric: String, model: String, value: Double, threshold: Double? = nil, kept: Bool? = nil,
                stage: String? = nil) {
        self.text = text; self.media = media; self.metric = metric; self.model = model; self.value = value
        self.threshold = threshold; self.kept = kept; self.stage = stage
    }
}

public struct ModelRow: Sendable, Hashable {
    public var id: String
    public var kind: String
    public var path: String?
    public var fingerprint: String?
    public var config: String?
    public init(id: String, kind: String, path: String? = nil, fingerprint: String? = nil, config: String? = nil) {
        self.id = id; self.kind = kind; self.path = path; self.fingerprint = fingerprint; self.config = config
    }
}

/// A run's ledger row.
public struct RunRecord: Sendable {
    public var id: String
    public var pipelineName: String?
    public var pipelineHash: String
    public var pipelineYAML: String?
    public var capfiltVersion: String
    public var host: String
    public var startedAt: String
    /// For a task of an array job: the array's run group, this task's index and the task count.
    public var runGroup: String? = nil
    public var taskIndex: Int? = nil
    public var taskCount: Int? = nil
    public init(id: String, pipelineName: String?, pipelineHash: String, pipelineYAML: String?, capfiltVersion: String, host: String, startedAt: String) {
        self.id = id; self.pipelineName = pipelineName; self.pipelineHash = pipelineHash; self.pipelineYAML = pipelineYAML
        self.capfiltVersion = capfiltVersion; self.host = host; self.startedAt = startedAt
    }
}

/// What the output already holds for an input, for incremental runs.
public struct IndexedSource: Sendable {
    public var shard: String
    public var status: String
    public var workKey: String?
    public var stageKeys: [String] = []
    public var uri = ""
    public var externalID: String?
    /// A run found its file gone; it is out of the views until it comes back.
    public var retired = false
    public init(shard: String, status: String, workKey: String?, stageKeys: [String] = []) {
        self.shard = shard; self.status = status; self.workKey = workKey; self.stageKeys = stageKeys
    }
}
