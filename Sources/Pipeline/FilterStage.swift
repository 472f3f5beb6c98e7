import Foundation
@preconcurrency import Models
import Store

/// `stage: filter` — the CapFilt filter: BLIP's image-text matching head scores every text of a frame
/// (web, subtitle and synthetic alike) and a text is kept for that frame when P(match) reaches the
/// threshold (0.5 as in BLIP). With `top_k`, only the k best of those per frame are kept (BLIP-2 kept
/// two). Every probability is stored, kept or not, so a data engineer can re-threshold in SQL.
public struct FilterConfig: StageConfig {
    public static let typeName = "filter"
    public static let keys = ["model", "threshold", "origins", "top_k", "by", "itc", "batch", "precision"]
    public static let summary = "BLIP ITM filter of web, subtitle and synthetic texts per frame (CapFilt)"

    public let name: String
    public let model: ModelRef
    public let threshold: Double
    public let origins: Set<TextItem.Origin>
    public let topK: Int?
    public let rankBy: String
    public let storeITC: Bool

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
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
        model = try ModelRef(kind: .blipRetrieval, node: try config.required("model"),
                             batch: try config["batch"]?.int(min: 1, max: 256) ?? 8,
                             precision: try ModelRef.precision(config), context: context)
    }

    public var fingerprint: String {
        "filter(\(model.id);t=\(threshold);origins=\(origins.map(\.rawValue).sorted());top=\(topK.map(String.init) ?? "-");by=\(rankBy);itc=\(storeITC))"
    }
    public var models: [ModelRef] { [model] }
    public var readsWebTexts: Bool { origins.contains(.web) }

    public func makeStage(models: ModelCache) throws -> any Stage {
        FilterStage(config: self, model: models.retrieval(model))
    }
}

struct FilterStage: Stage {
    let config: FilterConfig
    let model: BLIPRetrieval
    var name: String { config.name }

    func process(_ input: InputView) throws -> StageOutput {
        var out = StageOutput()
        guard !input.frames.isEmpty else { return out }
        // The texts each frame is paired with, among the origins this filter judges.
        let judged = input.pairs.map { $0.filter { config.origins.contains(input.texts[$0].origin) } }
        let images = try input.frames.map { try $0.rgbImage(for: name) }
        let texts = judged.map { $0.map { input.texts[$0].text } }
        let (itm, itc): ([[Float]], [[Float]]?) = config.storeITC ? try model.itmAndITC(images, texts: texts)
                                                                   : (try model.itm(images, texts: texts), nil)
        for f in judged.indices where !judged[f].isEmpty {
            let passing = judged[f].indices.filter { Double(itm[f][$0]) >= config.threshold }
            var keep = Set(passing)
            if let k = config.topK, passing.count > k {
                let rank: (Int) -> Float = { config.rankBy == "itc" ? itc![f][$0] : itm[f][$0] }
                keep = Set(passing.sorted { rank($0) > rank($1) }.prefix(k))
            }
            for (j, ti) in judged[f].enumerated() {
                out.scores.append(ScoreItem(text: ti, frame: f, metric: "itm", model: model.modelID, value: Double(itm[f][j]),
                                            threshold: config.threshold, kept: nil, stage: name))
                if let itc {
                    out.scores.append(ScoreItem(text: ti, frame: f, metric: "itc", model: model.modelID, value: Double(itc[f][j]),
                                                threshold: nil, kept: nil, stage: name))
                }
                let kept = keep.contains(j)
                let reason = kept ? nil : Double(itm[f][j]) < config.threshold ? "itm < \(config.threshold)" : "not in the top \(config.topK!) by \(config.rankBy)"
                out.decisions.append(PairDecision(text: ti, frame: f, metric: "itm", kept: kept, reason: reason))
            }
        }
        out.models.append(ModelRow(id: model.modelID, kind: ModelRef.Kind.blipRetrieval.rawValue, path: config.model.directory.path,
                                   fingerprint: model.modelID))
        return out
    }
}
