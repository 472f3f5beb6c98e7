import Foundation
import Media
import Store

/// A pipeline file, decoded strictly into plain values: the reader's settings, one config per model
/// stage, models named by fingerprint. Reading it loads no weights (`ModelCache` does, at run start).
/// Relative paths are relative to the file's folder.
public struct PipelineConfig: Sendable {
    public static let keys = ["version", "name", "description", "inputs", "output", "workers", "stages"]

    public var file: String
    public var name: String
    public var inputs: [InputSpec]
    public var outputDirectory: URL
    public var budget: ShardBudget
    public var workers: Int
    /// The first `stage:` of the file: how every input is read.
    public var decode: DecodeConfig
    /// The model stages after it, in order.
    public var stages: [any StageConfig]
    public var yaml: String
    /// SHA-256 of the file's text: the ledger records which pipeline produced a run.
    public var hash: String

    public static func load(path: String, registry: StageRegistry = .standard) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, line: 0, column: 0, message: "cannot read the pipeline file")
        }
        let text = String(decoding: data, as: UTF8.self)
        return try parse(yaml: text, file: path, registry: registry)
    }

    public static func parse(yaml: String, file: String, registry: StageRegistry = .standard) throws -> PipelineConfig {
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        let root = try SpecParser.root(yaml: yaml, file: file)
        let top = try root.mapping(allowed: keys, required: ["inputs", "output", "stages"])
        if let v = top["version"] {
            let version = try v.int()
            guard version == 1 else { throw v.error("unsupported pipeline version \(version); this capfilt reads version 1") }
        }
        let name = try top["name"]?.string() ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        _ = try top["description"]?.string()

        let inputNodes = try top.required("inputs").list()
        guard !inputNodes.isEmpty else { throw try top.required("inputs").error("inputs must list at least one folder or manifest") }
        let inputs = try inputNodes.map { try input($0, base: base) }

        let out = try top.required("output").mapping(allowed: ["dir", "shard_max_media", "shard_max_mb"], required: ["dir"])
        let dir = resolve(try out.required("dir").string(), base: base)
        var budget = ShardBudget()
        if let m = out["shard_max_media"] { budget.maxMediaRows = try m.int(min: 1) }
        if let m = out["shard_max_mb"] { budget.maxBytes = Int64(try m.double(min: 0.01) * 1_048_576) }

        let workers = try top["workers"]?.int(min: 1, max: 256) ?? Cores.available
        let context = StageBuildContext(baseDirectory: base)
        let stageNodes = try top.required("stages").list()
        guard !stageNodes.isEmpty else { throw try top.required("stages").error("stages must list at least one stage") }
        guard try registry.typeName(of: stageNodes[0]) == DecodeConfig.typeName else {
            throw stageNodes[0].error("the first stage must be 'decode': later stages work on its frames")
        }
        let decode = try DecodeConfig(node: stageNodes[0])
        let stages = try stageNodes.dropFirst().map { try registry.build($0, context: context) }
        var seen: Set<String> = [decode.name]
        for (node, stage) in zip(stageNodes.dropFirst(), stages) where !seen.insert(stage.name).inserted {
            throw node.error("two stages are named '\(stage.name)'; give one a different 'name'")
        }
        return PipelineConfig(file: file, name: name, inputs: inputs, outputDirectory: dir, budget: budget, workers: workers,
                              decode: decode, stages: stages, yaml: yaml, hash: ContentHash.sha256(bytes: Array(yaml.utf8)))
    }

    /// (name, fingerprint) of every stage, the reader first: what the per-stage work keys cover.
    public var stageFingerprints: [(name: String, fingerprint: String)] {
        [(decode.name, decode.fingerprint)] + stages.map { ($0.name, $0.fingerprint) }
    }

    /// The index (among all stages, the reader being 0) of the first stage that reads web texts.
    var firstWebTextStage: Int? {
        stages.firstIndex(where: \.readsWebTexts).map { $0 + 1 }
    }

    /// Every model stage looks at pictures, so frames are decoded back from their bytes when any follows.
    var needsPictures: Bool { !stages.isEmpty }

    static func resolve(_ path: String, base: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path).standardizedFileURL
    }

    static func input(_ node: SpecNode, base: URL) throws -> InputSpec {
        guard case let .mapping(m) = node.node else { throw node.error("\(node.path) must be a mapping with 'folder' or 'manifest'") }
        let keys = Set(m.keys.compactMap(\.string))
        if keys.contains("folder") {
            let f = try node.mapping(allowed: ["folder", "include", "exclude"], required: ["folder"])
            return .folder(path: resolve(try f.required("folder").string(), base: base),
                           include: try f["include"]?.strings() ?? InputSpec.defaultInclude,
                           exclude: try f["exclude"]?.strings() ?? [])
        }
        if keys.contains("manifest") {
            let f = try node.mapping(allowed: ["manifest", "format", "path_field", "text_field", "id_field", "start_field", "end_field"],
                                     required: ["manifest"])
            let path = try f.required("manifest").string()
            let format: ManifestFormat
            if let fm = f["format"] {
                format = ManifestFormat(rawValue: try fm.oneOf(ManifestFormat.allCases.map(\.rawValue)))!
            } else {
                let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
                guard let guessed = ManifestFormat(rawValue: ext == "json" || ext == "ndjson" ? "jsonl" : ext) else {
                    throw try f.required("manifest").error("cannot tell the manifest format from '.\(ext)'; add format: jsonl, csv or tsv")
                }
                format = guessed
            }
            return .manifest(path: resolve(path, base: base), format: format,
                             pathField: try f["path_field"]?.string() ?? "path",
                             textField: try f["text_field"]?.string() ?? "text",
                             idField: try f["id_field"]?.string() ?? "id",
                             startField: try f["start_field"]?.string() ?? "start",
                             endField: try f["end_field"]?.string() ?? "end")
        }
        throw node.error("\(node.path) needs 'folder' (with include, exclude) or 'manifest' (with format, path_field, text_field, id_field, start_field, end_field)")
    }
}
