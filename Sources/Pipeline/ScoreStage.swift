import Foundation
import Media
@preconcurrency import Models
import Store

/// `stage: score` — a contrastive model scores every candidate pair (frame × text that describes it):
/// CLIP's cosine (`metric: clip`) or BLIP's ITC cosine (`metric: itc`). Every score is stored with the
/// model's id; with `min`, pairs under it are marked dropped, and with `top_k` only the k best texts of
/// each frame stay (BLIP-2 kept the top two by CLIP similarity). Scores stay, so a data engineer can
/// re-threshold in SQL.
public struct ScoreConfig: StageConfig {
    public static let typeName = "score"
    public static let keys = ["model", "metric", "min", "top_k", "batch", "precision"]
    public static let summary = "contrastive similarity of every pair (CLIP or BLIP ITC cosine), optional minimum and top-k"

    public let name: String
    public let metric: String
    public let minimum: Double?
    public let topK: Int?
    public let model: ModelRef

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
        metric = try config["metric"]?.oneOf(["clip", "itc"]) ?? "clip"
        minimum = try config["min"]?.double(min: -1, max: 1)
        topK = try config["top_k"]?.int(min: 1)
        let batch = try config["batch"]?.int(min: 1, max: 1024) ?? 32
        let precision = try ModelRef.precision(config)
        model = metric == "clip" ? try ModelRef(kind: .clip, node: try config.required("model"), batch: batch, precision: precision, context: context)
                                 : try ModelRef(kind: .blipRetrieval, node: try config.required("model"), batch: min(batch, 64), precision: precision, context: context)
    }

    public var fingerprint: String {
        "score(\(metric);\(model.id);min=\(minimum.map { String($0) } ?? "-");top=\(topK.map(String.init) ?? "-"))"
    }
    public var models: [ModelRef] { [model] }
    public var readsWebTexts: Bool { true }

    public func makeStage(models: ModelCache) throws -> any Stage {
        ScoreStage(config: self, scorer: metric == "clip" ? .clip(models.clip(model)) : .itc(models.retrieval(model)))
    }
}

struct ScoreStage: Stage {
    enum Scorer: Sendable {
        case clip(CLIPModel)
        case itc(BLIPRetrieval)
        var modelID: String {
            switch self { case let .clip(m): return m.modelID; case let .itc(m): return m.modelID }
        }
    }

    let config: ScoreConfig
    let scorer: Scorer
    var name: String { config.name }

    /// values[f][j]: the score of frame f with its j-th text in `pairs[f]`.
    func values(_ images: [RGBImage], pairs: [[Int]], texts: [TextItem]) throws -> [[Double]] {
        switch scorer {
        case let .clip(model):
            var unique: [String: Int] = [:]
            var list: [String] = []
            for t in texts where unique[t.text] == nil { unique[t.text] = list.count; list.append(t.text) }
            let imageEmbeddings = try model.imageEmbeddings(images)
            let textEmbeddings = try model.textEmbeddings(list)
            return pairs.enumerated().map { f, tis in
                tis.map { Double(CLIPModel.cosine(imageEmbeddings[f], textEmbeddings[unique[texts[$0].text]!])) }
            }
        case let .itc(model):
            return try model.itc(images, texts: pairs.map { $0.map { texts[$0].text } }).map { $0.map(Double.init) }
        }
    }

    func process(_ input: InputView) throws -> StageOutput {
        var out = StageOutput()
        guard !input.frames.isEmpty, !input.texts.isEmpty else { return out }
        let images = try input.frames.map { try $0.rgbImage(for: name) }
        let values = try values(images, pairs: input.pairs, texts: input.texts)
        let decides = config.minimum != nil || config.topK != nil
        for (f, texts) in input.pairs.enumerated() {
            var keep = Set(texts.indices.filter { config.minimum == nil || values[f][$0] >= config.minimum! })
            if let k = config.topK, keep.count > k { keep = Set(keep.sorted { values[f][$0] > values[f][$1] }.prefix(k)) }
            for (j, ti) in texts.enumerated() {
                out.scores.append(ScoreItem(text: ti, frame: f, metric: config.metric, model: scorer.modelID, value: values[f][j],
                                            threshold: config.minimum, kept: nil, stage: name))
                guard decides else { continue }
                let kept = keep.contains(j)
                let reason = kept ? nil : config.minimum.map { values[f][j] < $0 ? "\(config.metric) < \($0)" : nil } ?? nil
                out.decisions.append(PairDecision(text: ti, frame: f, metric: config.metric, kept: kept,
                                                  reason: kept ? nil : reason ?? "not in the top \(config.topK!) by \(config.metric)"))
            }
        }
        out.models.append(ModelRow(id: scorer.modelID, kind: config.metric == "clip" ? ModelRef.Kind.clip.rawValue : ModelRef.Kind.blipRetrieval.rawValue,
                                   path: config.model.directory.path, fingerprint: scorer.modelID))
        return out
    }
}
