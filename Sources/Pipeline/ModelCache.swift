import Foundation
@preconcurrency import Models
import Synchronization
import Tensor

/// A checkpoint a stage needs, as the pipeline file names it: what kind of model, which folder, its
/// fingerprint id, and where the file names it (a model that cannot load is reported there).
public struct ModelRef: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case clip
        case blipCaption = "blip-caption"
        case blipRetrieval = "blip-itm"

        var title: String {
            switch self {
            case .clip: return "CLIP"
            case .blipCaption: return "BLIP captioning"
            case .blipRetrieval: return "BLIP retrieval (ITM)"
            }
        }
    }

    public var kind: Kind
    public var directory: URL
    /// "<folder>-<12 hex>" from `ModelFingerprint`: computed without loading the weights.
    public var id: String
    /// Images per forward pass the stage asks for.
    public var batch: Int
    /// The stage's `precision:` (fp32 unless it says bf16).
    public var precision: Precision
    public var file: String
    public var line: Int
    public var column: Int

    /// Reads a stage's `model:` key and fingerprints the folder it names.
    init(kind: Kind, node: SpecNode, batch: Int, precision: Precision = .fp32, context: StageBuildContext) throws {
        self.kind = kind
        self.batch = batch
        self.precision = precision
        directory = PipelineConfig.resolve(try node.string(), base: context.baseDirectory)
        let at = node.error("")
        file = at.file; line = at.line; column = at.column
        try ModelRef.checkType(kind: kind, directory: directory, node: node)
        do {
            id = try ModelFingerprint.modelID(directory: directory) + precision.idSuffix
        } catch {
            throw node.error("cannot load the \(kind.title) model in \(directory.path): \(error)")
        }
    }

    /// The folder's config.json names its model: a CLIP folder given to `caption` is told as such, not
    /// as a tokenizer file it lacks. Folders without a readable config are left to the fingerprint.
    static func checkType(kind: Kind, directory: URL, node: SpecNode) throws {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("config.json").path),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let modelType = config["model_type"] as? String else { return }
        let architectures = config["architectures"] as? [String] ?? []
        let expected: (type: String, architecture: String) = switch kind {
        case .clip: ("clip", "CLIPModel")
        case .blipCaption: ("blip", "BlipForConditionalGeneration")
        case .blipRetrieval: ("blip", "BlipForImageTextRetrieval")
        }
        let found = "model_type '\(modelType)'" + (architectures.isEmpty ? "" : ", architectures \(architectures.joined(separator: ", "))")
        if modelType != expected.type || (!architectures.isEmpty && !architectures.contains(expected.architecture)) {
            throw node.error("\(directory.path) holds a \(found) model; this stage needs a \(kind.title) folder "
                             + "(model_type '\(expected.type)', \(expected.architecture))")
        }
    }

    func error(_ message: String) -> SpecError { SpecError(file: file, line: line, column: column, message: message) }

    /// Two stages on one folder share one loaded model.
    var cacheKey: String { "\(kind.rawValue) \(precision.rawValue) \(directory.standardizedFileURL.path)" }

    /// A model stage's `precision:` key: fp32 (the default, equal to transformers within the golden
    /// tolerances) or bf16 (linear layers through oneDNN; its cost in quality is in README).
    static func precision(_ config: SpecMapping) throws -> Precision {
        Precision(rawValue: try config["precision"]?.oneOf(Precision.allCases.map(\.rawValue)) ?? "fp32")!
    }
}

/// Loads each checkpoint folder the pipeline names once per run, before any input is read, so a model
/// that cannot load stops the run at its start (at the line that names it) and a `filter` and a
/// `score metric: itc` stage on the same BLIP folder share one copy of its weights.
public final class ModelCache: Sendable {
    private let clips: [String: CLIPModel]
    private let captioners: [String: BLIPCaptioner]
    private let retrievals: [String: BLIPRetrieval]
    /// The folders loaded, in order (one entry per load).
    public let loaded: [String]

    public init(_ refs: [ModelRef]) throws {
        // One load per folder; when stages ask for different batch sizes the largest is used (batching
        // only bounds memory: each image's result is the same).
        var order: [String] = [], byKey: [String: ModelRef] = [:]
        for r in refs {
            if let seen = byKey[r.cacheKey] { byKey[r.cacheKey]!.batch = max(seen.batch, r.batch); continue }
            byKey[r.cacheKey] = r
            order.append(r.cacheKey)
        }
        // Up to the runtime's thread count load side by side: a load is mostly copying tensors
        // out of the file into fresh pages, one thread's page faults at a time (full-size BLIP
        // caption + ITM and CLIP ViT-B/32, 2.4 GB: 9 s one after another on the 2-core hosts).
        enum Loaded: Sendable { case clip(CLIPModel), captioner(BLIPCaptioner), retrieval(BLIPRetrieval) }
        let refs = order.map { byKey[$0]! }
        let lanes = max(1, min(BLAS.threads, refs.count))
        let results = Mutex<[Int: Result<Loaded, any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for i in stride(from: lane, to: refs.count, by: lanes) {
                let r = refs[i]
                let result = Result<Loaded, any Error> {
                    switch r.kind {
                    case .clip: .clip(try CLIPModel.load(directory: r.directory, batchSize: r.batch, precision: r.precision))
                    case .blipCaption: .captioner(try BLIPCaptioner.load(directory: r.directory, batchSize: r.batch, precision: r.precision))
                    case .blipRetrieval: .retrieval(try BLIPRetrieval.load(directory: r.directory, batchSize: r.batch, precision: r.precision))
                    }
                }
                results.withLock { $0[i] = result }
            }
        }
        var clips: [String: CLIPModel] = [:], captioners: [String: BLIPCaptioner] = [:], retrievals: [String: BLIPRetrieval] = [:]
        let all = results.withLock { $0 }
        for (i, r) in refs.enumerated() {
            do {
                switch try all[i]!.get() {
                case let .clip(m): clips[order[i]] = m
                case let .captioner(m): captioners[order[i]] = m
                case let .retrieval(m): retrievals[order[i]] = m
                }
            } catch {
                throw r.error("cannot load the \(r.kind.title) model in \(r.directory.path): \(error)")
            }
        }
        self.clips = clips; self.captioners = captioners; self.retrievals = retrievals
        loaded = order.map { byKey[$0]!.directory.path }
    }

    public func clip(_ ref: ModelRef) -> CLIPModel { clips[ref.cacheKey]! }
    public func captioner(_ ref: ModelRef) -> BLIPCaptioner { captioners[ref.cacheKey]! }
    public func retrieval(_ ref: ModelRef) -> BLIPRetrieval { retrievals[ref.cacheKey]! }
}
