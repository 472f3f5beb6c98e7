import Foundation
@preconcurrency import Models
import Store

/// `stage: caption` — the CapFilt captioner: a BLIP image-grounded decoder writes N synthetic captions
/// per frame, stored as texts with origin `synthetic`, the model's id and every decoding setting.
public struct CaptionConfig: StageConfig {
    public static let typeName = "caption"
    public static let keys = ["model", "strategy", "num_captions", "num_beams", "length_penalty", "early_stopping", "top_p", "top_k",
                              "temperature", "repetition_penalty", "min_new_tokens", "max_new_tokens", "prompt", "seed", "batch", "precision"]
    public static let summary = "BLIP captions per frame (greedy, beam search, nucleus sampling)"

    public let name: String
    public let model: ModelRef
    public let settings: CaptionSettings
    let settingsJSON: String

    init(name: String, config: SpecMapping, context: StageBuildContext) throws {
        self.name = name
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
        model = try ModelRef(kind: .blipCaption, node: try config.required("model"),
                             batch: try config["batch"]?.int(min: 1, max: 256) ?? 8,
                             precision: try ModelRef.precision(config), context: context)
        settingsJSON = String(decoding: (try? JSONEncoder.sorted.encode(s)) ?? Data(), as: UTF8.self)
    }

    public var fingerprint: String { "caption(\(model.id);\(settingsJSON))" }
    public var models: [ModelRef] { [model] }
    public var readsWebTexts: Bool { false }

    public func makeStage(models: ModelCache) throws -> any Stage {
        CaptionStage(config: self, model: models.captioner(model))
    }
}

struct CaptionStage: Stage {
    let config: CaptionConfig
    let model: BLIPCaptioner
    var name: String { config.name }

    func process(_ input: InputView) throws -> StageOutput {
        guard !input.frames.isEmpty else { return StageOutput() }
        return output(try model.caption(try input.frames.map { try $0.rgbImage(for: name) }, settings: config.settings),
                      batches: batches(input.frames.count))
    }

    /// The model's forward batches for `frames` images (the ledger's `batches` count).
    private func batches(_ frames: Int) -> Double { Double((frames + model.batchSize - 1) / model.batchSize) }

    /// The model's batch: frames of consecutive inputs (a folder of stills, short clips) are
    /// captioned together.
    var framesPerBatch: Int? { model.batchSize }

    /// A frame's samples are seeded by its pixels and the decoding batch does not change a row, so
    /// each input gets the captions it gets alone. If the shared call fails, each input is redone on
    /// its own so that only the input at fault becomes an error.
    func process(batch inputs: [InputView]) -> [Result<StageOutput, any Error>] {
        guard inputs.count > 1 else { return inputs.map { input in Result { try process(input) } } }
        var results = [Result<StageOutput, any Error>?](repeating: nil, count: inputs.count)
        var images: [RGBImage] = [], spans: [(input: Int, frames: Range<Int>)] = []
        for (i, input) in inputs.enumerated() {
            do {
                let own = try input.frames.map { try $0.rgbImage(for: name) }
                spans.append((i, images.count..<(images.count + own.count)))
                images += own
            } catch {
                results[i] = .failure(error)
            }
        }
        do {
            let captions = images.isEmpty ? [] : try model.caption(images, settings: config.settings)
            // The shared call's forward batches are counted once, on the first input.
            for (n, span) in spans.enumerated() {
                results[span.input] = .success(output(Array(captions[span.frames]), batches: n == 0 ? batches(images.count) : 0))
            }
        } catch {
            for span in spans { results[span.input] = Result { try process(inputs[span.input]) } }
        }
        return results.map { $0! }
    }

    /// One input's texts from its frames' captions, in frame order.
    private func output(_ captions: [[Caption]], batches: Double) -> StageOutput {
        var out = StageOutput()
        out.counters["batches"] = batches
        guard !captions.isEmpty else { return out }
        for (f, list) in captions.enumerated() {
            var seen: Set<String> = []
            for c in list where seen.insert(c.text).inserted {
                // Samples can repeat; one text per distinct caption keeps the dataset free of duplicates.
                var text = TextItem(origin: .synthetic, text: c.text, frame: f, producer: model.modelID,
                                    settings: config.settingsJSON.dropLast() + #","score":\#(c.score)}"#)
                text.stage = name
                out.texts.append(text)
            }
        }
        out.counters["captions"] = Double(out.texts.count)
        out.models.append(ModelRow(id: model.modelID, kind: ModelRef.Kind.blipCaption.rawValue, path: config.model.directory.path,
                                   fingerprint: model.modelID))
        return out
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
