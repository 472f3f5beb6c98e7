import Foundation
import Models
import Store

/// `stage: filter` — the CapFilt filter: BLIP's image-text matching head scores every text of a frame
/// (web, subtitle and synthetic alike) and a text is kept for that frame when P(match) reaches the
/// threshold (0.5 as in BLIP). With `top_k`, only the k best of those per frame are kept (BLIP-2 kept
/// two). Every probability is stored, kept or not, so a data engineer can re-threshold in SQL.
public final class FilterStage: Stage {
    public static let typeName = "filter"
    public static let keys = ["model", "threshold", "origins", "top_k", "by", "itc", "batch"]
    public static let summary = "BLIP ITM filter of web, subtitle and synthetic texts per frame (CapFilt)"

    public let name: String
    public let model: BLIPRetrieval
    public let modelPath: String
    public let threshold: Double
    public let origins: Set<TextItem.Origin>
    public let topK: Int?
    public let rankBy: String
    public let storeITC: Bool
    public let counters = StageCounters()
    public var usesFrameImages: Bool { true }

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
        let modelNode = try config.required("model")
        let path = PipelineSpec.resolve(try modelNode.string(), base: context.baseDirectory)
        threshold = try config["threshold"]?.double(min: 0, max: 1) ?? 0.5
        if let o = config["origins"] {
            origins = Set(try o.list().map { TextItem.Origin(rawValue: try $0.oneOf(["web", "subtitle", "synthetic"]))! })
        } else {
            origins = [.web, .subtitle, .synthetic]
        }
        topK = try config["top_k"]?.int(min: 1)
        rankBy = try config["by"]?.oneOf(["itm", "itc"]) ?? "itm"
        if config["by"] != nil && topK == nil { throw config["by"]!.error("'by' ranks texts for top_k; set top_k too") }
        storeITC = try config["itc"]?.bool() ?? (rankBy == "itc")
        let batch = try config["batch"]?.int(min: 1, max: 256) ?? 8
        do {
            model = try BLIPRetrieval.load(directory: path, batchSize: batch)
        } catch {
            throw modelNode.error("cannot load the BLIP retrieval (ITM) model in \(path.path): \(error)")
        }
        modelPath = path.path
    }

    public var fingerprint: String {
        "filter(\(model.modelID);t=\(threshold);origins=\(origins.map(\.rawValue).sorted());top=\(topK.map(String.init) ?? "-");by=\(rankBy);itc=\(storeITC))"
    }

    public func process(_ item: WorkItem) throws {
        guard !item.frames.isEmpty else { return }
        try counters.measure {
            let times = item.frames.map(\.time)
            // The texts each frame is paired with, among the origins this filter judges.
            var perFrame = [[Int]](repeating: [], count: item.frames.count)
            for (ti, t) in item.texts.enumerated() where origins.contains(t.origin) {
                for f in t.frames(times: times) { perFrame[f].append(ti) }
            }
            let images = try item.frames.map { try $0.rgbImage(for: name) }
            let texts = perFrame.map { $0.map { item.texts[$0].text } }
            let (itm, itc): ([[Float]], [[Float]]?) = storeITC ? try model.itmAndITC(images, texts: texts)
                                                                : (try model.itm(images, texts: texts), nil)
            var keptPairs: [Int: Int] = [:], judgedPairs: [Int: Int] = [:]
            for f in 0..<item.frames.count where !perFrame[f].isEmpty {
                let passing = perFrame[f].indices.filter { Double(itm[f][$0]) >= threshold }
                var keep = Set(passing)
                if let k = topK, passing.count > k {
                    let rank: (Int) -> Float = { self.rankBy == "itc" ? itc![f][$0] : itm[f][$0] }
                    keep = Set(passing.sorted { rank($0) > rank($1) }.prefix(k))
                }
                for (j, ti) in perFrame[f].enumerated() {
                    let kept = keep.contains(j)
                    item.scores.append(ScoreItem(text: ti, frame: f, metric: "itm", model: model.modelID, value: Double(itm[f][j]),
                                                 threshold: threshold, kept: kept, stage: name))
                    if let itc {
                        item.scores.append(ScoreItem(text: ti, frame: f, metric: "itc", model: model.modelID, value: Double(itc[f][j]),
                                                     threshold: nil, kept: nil, stage: name))
                    }
                    judgedPairs[ti, default: 0] += 1
                    if kept { keptPairs[ti, default: 0] += 1 }
                    counters.add(kept ? "pairs_kept" : "pairs_dropped")
                }
            }
            for (ti, n) in judgedPairs where keptPairs[ti, default: 0] == 0 {
                item.texts[ti].dropReasons.append("\(name): itm < \(threshold) on all \(n) frame(s)")
                counters.add("dropped_\(item.texts[ti].origin.rawValue)")
            }
            item.models.append(ModelRow(id: model.modelID, kind: "blip-itm", path: modelPath, fingerprint: model.modelID))
        }
    }
}
