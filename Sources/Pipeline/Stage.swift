import Foundation

/// A pipeline stage: one entry point over the stream of inputs. The executor hands every input to
/// every stage in order; a stage fills the item in (frames, texts, scores) or throws, which turns the
/// input into an error row while the run goes on. Filters mark texts dropped with a reason.
public protocol Stage: AnyObject, Sendable {
    /// The registry name (`decode`, `score`, ...).
    static var typeName: String { get }
    /// This instance's name in the pipeline file (defaults to the type name).
    var name: String { get }
    /// Everything that decides this stage's output; part of each input's work key, so changing a
    /// setting redoes the work on a rerun.
    var fingerprint: String { get }
    var counters: StageCounters { get }
    /// Whether the stage looks at frame pictures (model stages do); decode keeps them only then.
    var usesFrameImages: Bool { get }
    func process(_ item: WorkItem) throws
}

extension Stage {
    public var usesFrameImages: Bool { false }
}

/// Per-stage counters, shared by the worker threads.
public final class StageCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Double] = [:]
    public init() {}

    public func add(_ key: String, _ amount: Double = 1) {
        lock.lock(); values[key, default: 0] += amount; lock.unlock()
    }

    public var snapshot: [String: Double] {
        lock.lock(); defer { lock.unlock() }; return values
    }

    /// Times `body` into `seconds` and counts it as one item in, or an error.
    public func measure<T>(_ body: () throws -> T) throws -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add("seconds", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        add("in")
        do { return try body() } catch { add("errors"); throw error }
    }
}

/// Maps the stage names a pipeline file may use to the stage types, and builds them from their node.
public struct StageRegistry: Sendable {
    public typealias Factory = @Sendable (_ name: String, _ config: SpecMapping, _ context: StageBuildContext) throws -> Stage

    public struct Entry: Sendable {
        public let keys: [String]
        public let summary: String
        public let make: Factory
    }

    public private(set) var entries: [String: Entry] = [:]

    public init() {}

    public mutating func register(_ type: String, keys: [String], summary: String, make: @escaping Factory) {
        entries[type] = Entry(keys: keys, summary: summary, make: make)
    }

    public var names: [String] { entries.keys.sorted() }

    /// The stages capfilt ships. Model stages register here as they land.
    public static var standard: StageRegistry {
        var r = StageRegistry()
        r.register(DecodeStage.typeName, keys: DecodeStage.keys, summary: DecodeStage.summary) { name, config, ctx in
            try DecodeStage(name: name, config: config, context: ctx)
        }
        r.register(CaptionStage.typeName, keys: CaptionStage.keys, summary: CaptionStage.summary) { name, config, ctx in
            try CaptionStage(name: name, config: config, context: ctx)
        }
        r.register(FilterStage.typeName, keys: FilterStage.keys, summary: FilterStage.summary) { name, config, ctx in
            try FilterStage(name: name, config: config, context: ctx)
        }
        r.register(ScoreStage.typeName, keys: ScoreStage.keys, summary: ScoreStage.summary) { name, config, ctx in
            try ScoreStage(name: name, config: config, context: ctx)
        }
        return r
    }

    func build(_ node: SpecNode, context: StageBuildContext) throws -> Stage {
        // Read `stage:` first so the allowed keys can be those of the named type.
        guard case let .mapping(m) = node.node else {
            throw node.error("each stage must be a mapping with a 'stage' key naming one of: \(names.joined(separator: ", "))")
        }
        guard let typeNode = m.first(where: { $0.key.string == "stage" }) else {
            throw node.error("\(node.path) has no 'stage' key; it names the stage type, one of: \(names.joined(separator: ", "))")
        }
        let typeSpec = SpecNode(node: typeNode.value, file: node.file, path: "\(node.path).stage")
        let type = try typeSpec.string()
        guard let entry = entries[type] else {
            throw typeSpec.error("unknown stage '\(type)'; known stages: \(names.joined(separator: ", "))")
        }
        let config = try node.mapping(allowed: ["stage", "name"] + entry.keys)
        let name = try config["name"]?.string() ?? type
        return try entry.make(name, config, context)
    }
}

/// What a stage may need while being built: where relative paths start.
public struct StageBuildContext: Sendable {
    public let baseDirectory: URL
    public init(baseDirectory: URL) { self.baseDirectory = baseDirectory }
}
