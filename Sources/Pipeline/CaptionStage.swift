import Foundation
import Models
import Store

/// `stage: caption` — the CapFilt captioner: a BLIP image-grounded decoder writes N synthetic captions
/// per frame, stored as texts with origin `synthetic`, the model's id and every decoding setting.
public final class CaptionStage: Stage {
    public static let typeName = "caption"
    public static let keys = ["model", "strategy", "num_captions", "num_beams", "length_penalty", "early_stopping", "top_p", "top_k",
                              "temperature", "repetition_penalty", "min_new_tokens", "max_new_tokens", "prompt", "seed", "batch"]
    public static let summary = "BLIP captions per frame (greedy, beam search, nucleus sampling)"

    public let name: String
    public let model: BLIPCaptioner
    public let modelPath: String
    public let settings: CaptionSettings
    public let counters = StageCounters()
    public var usesFrameImages: Bool { true }
    private let settingsJSON: String

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
        let modelNode = try config.required("model")
        let path = PipelineSpec.resolve(try modelNode.string(), base: context.baseDirectory)
        let strategyName = try config["strategy"]?.oneOf(["greedy", "beam", "nucleus"]) ?? "nucleus"
        var s = CaptionSettings()
        switch strategyName {
        case "greedy":
            s.strategy = .greedy
        case "beam":
            let early = try config["early_stopping"]?.oneOf(["heuristic", "whenFull", "never"]) ?? "heuristic"
            s.strategy = .beam(numBeams: try config["num_beams"]?.int(min: 1, max: 64) ?? 3,
                               lengthPenalty: Float(try config["length_penalty"]?.double() ?? 1),
                               earlyStopping: CaptionSettings.EarlyStopping(rawValue: early)!)
        default:
            // The BLIP paper's CapFilt captioner samples with top-p 0.9.
            s.strategy = .nucleus(topP: Float(try config["top_p"]?.double(min: 0.0001, max: 1) ?? 0.9),
                                  topK: try config["top_k"]?.int(min: 0) ?? 0,
                                  temperature: Float(try config["temperature"]?.double(min: 0.0001) ?? 1))
        }
        for key in ["num_beams", "length_penalty", "early_stopping"] where strategyName != "beam" && config[key] != nil {
            throw config[key]!.error("\(key) applies to strategy: beam")
        }
        for key in ["top_p", "top_k", "temperature"] where strategyName != "nucleus" && config[key] != nil {
            throw config[key]!.error("\(key) applies to strategy: nucleus")
        }
        s.numCaptions = try config["num_captions"]?.int(min: 1, max: 64) ?? 1
        s.repetitionPenalty = Float(try config["repetition_penalty"]?.double(min: 0.0001) ?? 1)
        s.minNewTokens = try config["min_new_tokens"]?.int(min: 0) ?? 0
        s.maxNewTokens = try config["max_new_tokens"]?.int(min: 1, max: 512) ?? 20
        s.prompt = try config["prompt"]?.string()
        s.seed = UInt64(try config["seed"]?.int(min: 0) ?? 0)
        do { try s.validate() } catch { throw config.owner.error("\(config.owner.path): \(error)") }
        settings = s
        let batch = try config["batch"]?.int(min: 1, max: 256) ?? 8
        do {
            model = try BLIPCaptioner.load(directory: path, batchSize: batch)
        } catch {
            throw modelNode.error("cannot load the BLIP captioning model in \(path.path): \(error)")
        }
        modelPath = path.path
        settingsJSON = String(decoding: (try? JSONEncoder.sorted.encode(s)) ?? Data(), as: UTF8.self)
    }

    public var fingerprint: String { "caption(\(model.modelID);\(settingsJSON))" }

    public func process(_ item: WorkItem) throws {
        guard !item.frames.isEmpty else { return }
        try counters.measure {
            let captions = try model.caption(try item.frames.map { try $0.rgbImage(for: name) }, settings: settings)
            for (f, list) in captions.enumerated() {
                var seen: Set<String> = []
                for c in list where seen.insert(c.text).inserted {
                    // Samples can repeat; one text per distinct caption keeps the dataset free of duplicates.
                    var text = TextItem(origin: .synthetic, text: c.text, frame: f, producer: model.modelID,
                                        settings: settingsJSON.dropLast() + #","score":\#(c.score)}"#)
                    text.stage = name
                    item.texts.append(text)
                    counters.add("captions")
                }
            }
            item.models.append(ModelRow(id: model.modelID, kind: "blip-caption", path: modelPath, fingerprint: model.modelID))
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
