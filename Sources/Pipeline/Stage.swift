import Foundation
import Store

/// A stage's settings as the pipeline file gives them: plain values, with each model named by its
/// fingerprint (config.json and the safetensors header), never its weights. `capfilt validate` stops
/// here; a run turns each config into a `Stage` with the models its `ModelCache` loaded once.
public protocol StageConfig: Sendable {
    static var typeName: String { get }
    static var keys: [String] { get }
    static var summary: String { get }
    /// This instance's name in the pipeline file (defaults to the type name).
    var name: String { get }
    /// Everything that decides this stage's output; part of each input's work key, so changing a
    /// setting redoes the work on a rerun.
    var fingerprint: String { get }
    /// The checkpoints the stage needs.
    var models: [ModelRef] { get }
    /// Whether the stage looks at the manifests' web texts: from the first such stage on, the work
    /// keys cover those texts, so an edited manifest row reruns the text stages of its input only.
    var readsWebTexts: Bool { get }
    func makeStage(models: ModelCache) throws -> any Stage
}

/// A model stage at run time: one entry point over one input at a time. It looks at a read-only view
/// of the input and returns what it produced; the executor applies that to the input's record. A throw
/// turns the input into an error row while the run goes on.
public protocol Stage: Sendable {
    var name: String { get }
    func process(_ input: InputView) throws -> StageOutput
    /// Frames worth gathering from several inputs into one `process(batch:)` call (a model's
    /// batch); nil, the default, takes inputs one at a time.
    var framesPerBatch: Int? { get }
    /// Several inputs at once, each with its own outcome: one input's error must not fail the others,
    /// and each output must be what `process(_:)` gives that input alone.
    func process(batch inputs: [InputView]) -> [Result<StageOutput, any Error>]
}

extension Stage {
    public var framesPerBatch: Int? { nil }

    public func process(batch inputs: [InputView]) -> [Result<StageOutput, any Error>] {
        inputs.map { input in Result { try process(input) } }
    }
}

/// One input as a stage sees it: the stored frames (decoded back from their bytes), every text so far,
/// and which texts each frame is paired with.
public struct InputView: Sendable {
    public let uri: String
    public let frames: [FrameItem]
    public let texts: [TextItem]
    /// pairs[f]: the indices of the texts frame f is paired with, in text order.
    public let pairs: [[Int]]
}

/// A stage's verdict on one candidate pair. The verdict is stored on that stage's score of the pair
/// (`scores.kept`), and the `pairs` view keeps a pair no verdict dropped: that is the one record of
/// what is kept, and every per-text figure is derived from it.
public struct PairDecision: Sendable, Equatable {
    public var text: Int
    public var frame: Int
    /// The metric of the score the decision rests on.
    public var metric: String
    public var kept: Bool
    /// Why a dropped pair was dropped (for the ledger's counts).
    public var reason: String?
    public init(text: Int, frame: Int, metric: String, kept: Bool, reason: String? = nil) {
        self.text = text; self.frame = frame; self.metric = metric; self.kept = kept; self.reason = reason
    }
}

/// What a stage made of one input.
public struct StageOutput: Sendable {
    /// New texts (synthetic captions); their `frame` is an index into the view's frames.
    public var texts: [TextItem] = []
    /// Scores of pairs, by text and frame index in the view.
    public var scores: [ScoreItem] = []
    public var decisions: [PairDecision] = []
    public var models: [ModelRow] = []
    /// Stage-specific counts (captions made, ...), added to the run's summary.
    public var counters: [String: Double] = [:]
    public init() {}
}

/// Maps the stage names a pipeline file may use to their config types. `decode` is not among them:
/// it configures the reader every input passes through first (see `DecodeConfig`).
public struct StageRegistry: Sendable {
    public typealias Factory = @Sendable (_ name: String, _ config: SpecMapping, _ context: StageBuildContext) throws -> any StageConfig

    public struct Entry: Sendable {
        public let keys: [String]
        public let summary: String
        public let make: Factory
    }

    public private(set) var entries: [String: Entry] = [:]

    public init() {}

    public mutating func register<C: StageConfig>(_ type: C.Type, make: @escaping @Sendable (String, SpecMapping, StageBuildContext) throws -> C) {
        entries[C.typeName] = Entry(keys: C.keys, summary: C.summary, make: { try make($0, $1, $2) })
    }

    /// Every name a `stage:` key may hold, the reader's `decode` included.
    public var names: [String] { ([DecodeConfig.typeName] + entries.keys).sorted() }

    public static var standard: StageRegistry {
        var r = StageRegistry()
        r.register(CaptionConfig.self) { try CaptionConfig(name: $0, config: $1, context: $2) }
        r.register(FilterConfig.self) { try FilterConfig(name: $0, config: $1, context: $2) }
        r.register(ScoreConfig.self) { try ScoreConfig(name: $0, config: $1, context: $2) }
        return r
    }

    /// The `stage:` value of a stage node, checked against the known names.
    func typeName(of node: SpecNode) throws -> String {
        guard case let .mapping(m) = node.node else {
            throw node.error("each stage must be a mapping with a 'stage' key naming one of: \(names.joined(separator: ", "))")
        }
        guard let typeNode = m.first(where: { $0.key.string == "stage" }) else {
            throw node.error("\(node.path) has no 'stage' key; it names the stage type, one of: \(names.joined(separator: ", "))")
        }
        let typeSpec = SpecNode(node: typeNode.value, file: node.file, path: "\(node.path).stage")
        let type = try typeSpec.string()
        guard type == DecodeConfig.typeName || entries[type] != nil else {
            throw typeSpec.error("unknown stage '\(type)'; known stages: \(names.joined(separator: ", "))")
        }
        return type
    }

    func build(_ node: SpecNode, context: StageBuildContext) throws -> any StageConfig {
        let type = try typeName(of: node)
        guard let entry = entries[type] else {
            throw node.error("'\(type)' reads the inputs and must be the first stage, once")
        }
        // The allowed keys are those of the named type.
        let config = try node.mapping(allowed: ["stage", "name"] + entry.keys)
        let name = try config["name"]?.string() ?? type
        return try entry.make(name, config, context)
    }
}

/// What a stage config may need while being read: where relative paths start.
public struct StageBuildContext: Sendable {
    public let baseDirectory: URL
    public init(baseDirectory: URL) { self.baseDirectory = baseDirectory }
}
