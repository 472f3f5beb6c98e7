import Foundation
import Media
import Models
import Store

/// `stage: score` — a contrastive model scores every candidate pair (frame × text that describes it):
/// CLIP's cosine (`metric: clip`) or BLIP's ITC cosine (`metric: itc`). Every score is stored with the
/// model's id; with `min`, pairs under it are marked dropped, and with `top_k` only the k best texts of
/// each frame stay (BLIP-2 kept the top two by CLIP similarity). Scores stay, so a data engineer can
/// re-threshold in SQL.
public final class ScoreStage: Stage {
    public static let typeName = "score"
    public static let keys = ["model", "metric", "min", "top_k", "batch"]
    public static let summary = "contrastive similarity of every pair (CLIP or BLIP ITC cosine), optional minimum and top-k"

    enum Scorer {
        case clip(CLIPModel)
        case itc(BLIPRetrieval)
        var modelID: String {
            switch self { case let .clip(m): return m.modelID; case let .itc(m): return m.modelID }
        }
    }

    public let name: String
    public let metric: String
    public let minimum: Double?
    public let topK: Int?
    let scorer: Scorer
    public let modelPath: String
    public let counters = StageCounters()
    public var usesFrameImages: Bool { true }

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
        let modelNode = try config.required("model")
        let path = PipelineSpec.resolve(try modelNode.string(), base: context.baseDirectory)
        metric = try config["metric"]?.oneOf(["clip", "itc"]) ?? "clip"
        minimum = try config["min"]?.double(min: -1, max: 1)
        topK = try config["top_k"]?.int(min: 1)
        let batch = try config["batch"]?.int(min: 1, max: 1024) ?? 32
        do {
            scorer = metric == "clip" ? .clip(try CLIPModel.load(directory: path, batchSize: batch))
                                      : .itc(try BLIPRetrieval.load(directory: path, batchSize: min(batch, 64)))
        } catch {
            throw modelNode.error("cannot load the \(metric == "clip" ? "CLIP" : "BLIP retrieval") model in \(path.path): \(error)")
        }
        modelPath = path.path
    }

    public var fingerprint: String {
        "score(\(metric);\(scorer.modelID);min=\(minimum.map { String($0) } ?? "-");top=\(topK.map(String.init) ?? "-"))"
    }

    /// values[f][j]: the score of frame f with its j-th text in `perFrame[f]`.
    func values(_ images: [RGBImage], perFrame: [[Int]], texts: [TextItem]) throws -> [[Double]] {
        switch scorer {
        case let .clip(model):
            var unique: [String: Int] = [:]
            var list: [String] = []
            for t in texts where unique[t.text] == nil { unique[t.text] = list.count; list.append(t.text) }
            let imageEmbeddings = try model.imageEmbeddings(images)
            let textEmbeddings = try model.textEmbeddings(list)
            return perFrame.enumerated().map { f, tis in
                tis.map { Double(CLIPModel.cosine(imageEmbeddings[f], textEmbeddings[unique[texts[$0].text]!])) }
            }
        case let .itc(model):
            return try model.itc(images, texts: perFrame.map { $0.map { texts[$0].text } }).map { $0.map(Double.init) }
        }
    }

    public func process(_ item: WorkItem) throws {
        guard !item.frames.isEmpty, !item.texts.isEmpty else { return }
        try counters.measure {
            let times = item.frames.map(\.time)
            var perFrame = [[Int]](repeating: [], count: item.frames.count)
            for (ti, t) in item.texts.enumerated() { for f in t.frames(times: times) { perFrame[f].append(ti) } }
            let images = try item.frames.map { try $0.rgbImage(for: name) }
            let values = try values(images, perFrame: perFrame, texts: item.texts)
            var keptAny: Set<Int> = [], judged: Set<Int> = []
            for f in 0..<perFrame.count {
                var keep = Set(perFrame[f].indices.filter { minimum == nil || values[f][$0] >= minimum! })
                if let k = topK, keep.count > k { keep = Set(keep.sorted { values[f][$0] > values[f][$1] }.prefix(k)) }
                let decides = minimum != nil || topK != nil
                for (j, ti) in perFrame[f].enumerated() {
                    let kept = decides ? keep.contains(j) : nil
                    item.scores.append(ScoreItem(text: ti, frame: f, metric: metric, model: scorer.modelID, value: values[f][j],
                                                 threshold: minimum, kept: kept, stage: name))
                    counters.add("pairs")
                    judged.insert(ti)
                    if kept == false { counters.add("pairs_dropped") } else { keptAny.insert(ti) }
                }
            }
            for ti in judged.subtracting(keptAny) {
                item.texts[ti].dropReasons.append("\(name): \(metric) below \(minimum.map { "\($0)" } ?? "the top \(topK!)") on every frame")
            }
            item.models.append(ModelRow(id: scorer.modelID, kind: metric == "clip" ? "clip" : "blip-itm", path: modelPath, fingerprint: scorer.modelID))
        }
    }
}
