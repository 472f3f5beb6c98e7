import Foundation
import Media
import Models
import Store

/// `stage: score` — a contrastive model scores every candidate pair (frame × text that describes it).
/// Every score is stored with the model's id; with `min`, pairs under it are marked dropped (the score
/// stays, so a data engineer can re-threshold in SQL).
public final class ScoreStage: Stage {
    public static let typeName = "score"
    public static let keys = ["model", "metric", "min", "batch"]
    public static let summary = "contrastive similarity of every pair (CLIP cosine), optional minimum"

    public let name: String
    public let metric: String
    public let minimum: Double?
    public let model: CLIPModel
    public let modelPath: String
    public let counters = StageCounters()
    public var usesFrameImages: Bool { true }

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
        let modelNode = try config.required("model")
        let path = PipelineSpec.resolve(try modelNode.string(), base: context.baseDirectory)
        metric = try config["metric"]?.oneOf(["clip"]) ?? "clip"
        minimum = try config["min"]?.double(min: -1, max: 1)
        let batch = try config["batch"]?.int(min: 1, max: 1024) ?? 32
        do {
            model = try CLIPModel.load(directory: path, batchSize: batch)
        } catch {
            throw modelNode.error("cannot load the CLIP model in \(path.path): \(error)")
        }
        modelPath = path.path
    }

    public var fingerprint: String {
        "score(\(metric);\(model.modelID);min=\(minimum.map { String($0) } ?? "-"))"
    }

    public func process(_ item: WorkItem) throws {
        guard !item.frames.isEmpty, !item.texts.isEmpty else { return }
        try counters.measure {
            let images = try item.frames.map { f -> RGBImage in
                guard let image = f.image else {
                    throw ModelStageError(message: "frame \(f.index) has no picture for \(name)")
                }
                return RGBImage(width: image.width, height: image.height, pixels: image.pixels)
            }
            let times = item.frames.map(\.time)
            var unique: [String: Int] = [:]
            var textList: [String] = []
            for t in item.texts where unique[t.text] == nil { unique[t.text] = textList.count; textList.append(t.text) }
            let imageEmbeddings = try model.imageEmbeddings(images)
            let textEmbeddings = try model.textEmbeddings(textList)
            for (ti, text) in item.texts.enumerated() {
                let frames = text.frames(times: times)
                var keptAny = false
                for f in frames {
                    let value = Double(CLIPModel.cosine(imageEmbeddings[f], textEmbeddings[unique[text.text]!]))
                    let kept = minimum.map { value >= $0 }
                    item.scores.append(ScoreItem(text: ti, frame: f, metric: metric, model: model.modelID, value: value,
                                                 threshold: minimum, kept: kept, stage: name))
                    counters.add("pairs")
                    if kept == false { counters.add("pairs_dropped") } else { keptAny = true }
                }
                if let minimum, !frames.isEmpty, !keptAny {
                    item.texts[ti].dropReasons.append("\(name): \(metric) < \(minimum) on every frame")
                }
            }
            item.models.append(ModelRow(id: model.modelID, kind: "clip", path: modelPath, fingerprint: model.modelID))
        }
    }
}

struct ModelStageError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
