import Foundation
import Media
@preconcurrency import Models
import Store

/// A text attached to an input before or during the run.
public struct TextItem: Sendable {
    public enum Origin: String, Sendable { case web, subtitle, synthetic }
    public var origin: Origin
    public var text: String
    /// Synthetic captions belong to one frame.
    public var frame: Int?
    /// Subtitle cues: when they are on screen.
    public var start: Double?
    public var end: Double?
    public var externalID: String?
    public var producer: String?
    public var settings: String?
    /// The stage that made it (nil: ingest), so a rerun can keep the texts of the stages it does not redo.
    public var stage: String?
    /// How a subtitle cue finds its frames under sparse sampling (the decode stage's `subtitles: {pair:}`).
    public var pairing: SubtitlePairing = .overlap
    public init(origin: Origin, text: String, frame: Int? = nil, start: Double? = nil, end: Double? = nil,
                externalID: String? = nil, producer: String? = nil, settings: String? = nil) {
        self.origin = origin; self.text = text; self.frame = frame; self.start = start; self.end = end
        self.externalID = externalID; self.producer = producer; self.settings = settings
    }

    /// The frames this text describes, given the sampled frame times: the one rule for which texts
    /// pair with which frames (`WorkItem.links` applies it; stages see its result as `InputView.pairs`).
    func frames(times: [Double]) -> [Int] {
        switch origin {
        case .synthetic: return frame.map { [$0] } ?? []
        case .web:
            // A manifest text with a span describes only the frames sampled inside it.
            guard start != nil || end != nil else { return Array(times.indices) }
            return times.indices.filter { times[$0] >= (start ?? 0) - 1e-6 && times[$0] < (end ?? .infinity) }
        case .subtitle:
            guard let s = start, let e = end else { return [] }
            let on = times.indices.filter { times[$0] >= s - 1e-6 && times[$0] < e }
            guard on.isEmpty, pairing == .nearest, !times.isEmpty else { return on }
            // Off screen at every kept frame: the kept frame closest to the cue's span (the earlier on a tie).
            let gap = { (t: Double) in t < s ? s - t : t - e }
            return [times.indices.min { gap(times[$0]) < gap(times[$1]) }!]
        }
    }
}

/// Which kept frames a subtitle cue pairs with. `overlap`: those sampled while it is on screen (a cue
/// between two sparse samples pairs with none); `nearest`: the same, or else the one nearest kept frame.
public enum SubtitlePairing: String, Sendable, CaseIterable {
    case overlap, nearest

    /// What a cue's `settings` column holds: a rule other than the default (so a rerun that rebuilds the
    /// cue from its stored row pairs it as the run that read it did) and the stream's language; nil
    /// when there is neither.
    func settings(language: String? = nil) -> String? {
        var fields: [String: String] = [:]
        if self != .overlap { fields["pair"] = rawValue }
        if let language { fields["language"] = language }
        guard !fields.isEmpty, let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    init(settings: String?) {
        let fields = settings.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        self = (fields?["pair"] as? String).flatMap(SubtitlePairing.init(rawValue:)) ?? .overlap
    }
}

public struct FrameItem: Sendable {
    public var index: Int
    public var time: Double
    /// What model stages see: the stored bytes decoded back (nil when no stage looks at pictures).
    public var image: RGBFrame?
    public var encoded: [UInt8]
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    public var isKeyframe: Bool
    public var sceneScore: Double?
}

extension FrameItem {
    /// The frame as model stages take it.
    func rgbImage(for stage: String) throws -> RGBImage {
        guard let image else { throw ModelStageError(message: "frame \(index) has no picture for \(stage)") }
        return RGBImage(width: image.width, height: image.height, pixels: image.pixels)
    }
}

/// A model stage that cannot run on an input (the input becomes an error row).
struct ModelStageError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

public struct ScoreItem: Sendable {
    public var text: Int
    public var frame: Int
    public var metric: String
    public var model: String
    public var value: Double
    public var threshold: Double?
    public var kept: Bool?
    public var stage: String
    public init(text: Int, frame: Int, metric: String, model: String, value: Double, threshold: Double?, kept: Bool?, stage: String) {
        self.text = text; self.frame = frame; self.metric = metric; self.model = model; self.value = value
        self.threshold = threshold; self.kept = kept; self.stage = stage
    }
}

/// One input on its way through the reader and the stages: the executor applies each stage's output
/// to it, then writes it as one transaction.
struct WorkItem: Sendable {
    let input: InputItem
    var contentHash: String
    var sizeBytes: Int?
    var probe: MediaProbe?
    var frames: [FrameItem] = []
    var audio: [AudioSegment] = []
    var texts: [TextItem]
    /// Every score, with `kept` set from the stages' pair decisions.
    var scores: [ScoreItem] = []
    var models: [ModelRow] = []
    var status = "ok"
    var error: String?
    var decodeStats: DecodeStats?
    /// One key per stage (see `Planner.stageKeys`).
    var stageKeys: [String]
    /// Set when a rerun reuses a stored input: its source row as it was.
    var storedSource: SourceRow?

    init(_ order: WorkOrder) {
        input = order.input
        contentHash = order.contentHash
        sizeBytes = order.sizeBytes
        stageKeys = order.stageKeys
        texts = order.input.webTexts.map {
            TextItem(origin: .web, text: $0.text, start: $0.start, end: $0.end, externalID: $0.id, producer: $0.manifest)
        }
    }

    /// Rebuilds an input from what a shard holds, keeping the texts and scores of `keptStages`; frames
    /// are decoded back from their bytes when `pictures` is set.
    init(reusing stored: InputWrite, order: WorkOrder, keptStages: Set<String>, pictures: Bool) throws {
        self.init(order)
        contentHash = stored.source.contentHash
        sizeBytes = stored.source.sizeBytes
        storedSource = stored.source
        status = stored.source.status
        error = stored.source.error
        let decoder = pictures ? try ImageDecoder() : nil
        var framePosition: [Int: Int] = [:]
        for (position, m) in stored.media.enumerated() {
            if m.kind == "frame" {
                let format = ImageFormat(rawValue: m.format) ?? .jpeg
                framePosition[position] = frames.count
                frames.append(FrameItem(index: m.idx, time: m.tStart, image: try decoder?.decode(m.data, format: format), encoded: m.data,
                                        format: format, width: m.width ?? 0, height: m.height ?? 0, isKeyframe: m.isKeyframe ?? false,
                                        sceneScore: m.sceneScore))
            } else {
                let samples: [Float] = m.data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                audio.append(AudioSegment(index: m.idx, start: m.tStart, end: m.tEnd ?? m.tStart, sampleRate: m.sampleRate ?? 16_000, samples: samples,
                                          language: m.language))
            }
        }
        // Web texts come from the manifests as they are now (an edited row replaces its text); the
        // stored ones are matched to them only so that kept stages' scores stay attached.
        var textPosition: [Int: Int] = [:]
        for (position, t) in stored.texts.enumerated() where t.stage == nil {
            textPosition[position] = texts.firstIndex {
                $0.text == t.text && $0.externalID == t.externalID && $0.producer == t.producer && $0.start == t.tStart && $0.end == t.tEnd
            }
        }
        for (position, t) in stored.texts.enumerated() where t.stage.map(keptStages.contains) ?? false {
            textPosition[position] = texts.count
            var item = TextItem(origin: TextItem.Origin(rawValue: t.origin) ?? .web, text: t.text, frame: t.mediaIndex.flatMap { framePosition[$0] },
                                start: t.tStart, end: t.tEnd, externalID: t.externalID, producer: t.producer, settings: t.settings)
            item.stage = t.stage
            if item.origin == .subtitle { item.pairing = SubtitlePairing(settings: t.settings) }
            texts.append(item)
        }
        for sc in stored.scores {
            guard let stage = sc.stage, keptStages.contains(stage), let tp = textPosition[sc.text], let fp = framePosition[sc.media] else { continue }
            scores.append(ScoreItem(text: tp, frame: fp, metric: sc.metric, model: sc.model, value: sc.value, threshold: sc.threshold,
                                    kept: sc.kept, stage: stage))
        }
    }

    /// The candidate pairs (text, frame), in text order.
    var links: [(text: Int, frame: Int)] {
        let times = frames.map(\.time)
        return texts.enumerated().flatMap { ti, t in t.frames(times: times).map { (ti, $0) } }
    }

    var view: InputView {
        var pairs = [[Int]](repeating: [], count: frames.count)
        for l in links { pairs[l.frame].append(l.text) }
        return InputView(uri: input.uri, frames: frames, texts: texts, pairs: pairs)
    }

    mutating func apply(_ read: MediaReader.Output) {
        probe = read.probe
        frames = read.frames
        audio = read.audio
        decodeStats = read.stats
        texts += read.cues
        if read.stats.corruptPackets > 0 {
            status = "partial"
            error = "\(read.stats.corruptPackets) corrupt packet(s) skipped; first: \(read.stats.firstCorruption ?? "?")"
        }
    }

    /// Adds a stage's texts and scores and records its decisions on its scores.
    mutating func apply(_ output: StageOutput, stage: String) throws {
        let first = scores.count
        texts += output.texts
        scores += output.scores
        var position: [String: Int] = [:]
        for i in first..<scores.count { position["\(scores[i].text) \(scores[i].frame) \(scores[i].metric)"] = i }
        for d in output.decisions {
            guard let i = position["\(d.text) \(d.frame) \(d.metric)"] else {
                throw ModelStageError(message: "\(stage) decided on text \(d.text) × frame \(d.frame) without a \(d.metric) score for it")
            }
            scores[i].kept = d.kept
        }
        for m in output.models where !models.contains(m) { models.append(m) }
    }

    mutating func fail(_ message: String) {
        status = "error"
        error = message
        frames = []
        audio = []
        scores = []
        texts.removeAll { $0.origin != .web }
    }

    /// Texts with a pair no decision dropped, texts whose every pair was dropped, and texts paired with
    /// no frame: the `pairs` view's rule, applied to this input.
    var textFigures: (kept: Int, dropped: Int, unpaired: Int) {
        let droppedPairs = Set(scores.filter { $0.kept == false }.map { "\($0.text) \($0.frame)" })
        var paired = Set<Int>(), keptTexts = Set<Int>()
        for l in links {
            paired.insert(l.text)
            if !droppedPairs.contains("\(l.text) \(l.frame)") { keptTexts.insert(l.text) }
        }
        return (keptTexts.count, paired.count - keptTexts.count, texts.count - paired.count)
    }

    /// The rows this input becomes.
    func rows() -> InputWrite {
        var w = InputWrite(source: sourceRow())
        for f in frames {
            var m = MediaRow(kind: "frame", idx: f.index, tStart: f.time, format: f.format.rawValue, data: f.encoded)
            m.width = f.width; m.height = f.height; m.isKeyframe = f.isKeyframe; m.sceneScore = f.sceneScore
            w.media.append(m)
        }
        for a in audio {
            var bytes = [UInt8](repeating: 0, count: a.samples.count * 4)
            a.samples.withUnsafeBytes { raw in bytes.withUnsafeMutableBytes { $0.copyMemory(from: raw) } }
            var m = MediaRow(kind: "audio", idx: a.index, tStart: a.start, tEnd: a.end, format: "f32le", data: bytes)
            m.sampleRate = a.sampleRate; m.samples = a.samples.count; m.language = a.language
            w.media.append(m)
        }
        for t in texts {
            var row = TextRow(origin: t.origin.rawValue, text: t.text, mediaIndex: t.frame)
            row.tStart = t.start; row.tEnd = t.end; row.externalID = t.externalID; row.producer = t.producer; row.settings = t.settings
            row.stage = t.stage
            w.texts.append(row)
        }
        w.links = links.map { InputWrite.Link(text: $0.text, media: $0.frame) }
        w.scores = scores.map { ScoreRow(text: $0.text, media: $0.frame, metric: $0.metric, model: $0.model, value: $0.value,
                                         threshold: $0.threshold, kept: $0.kept, stage: $0.stage) }
        w.models = models
        return w
    }

    private func sourceRow() -> SourceRow {
        var s = storedSource ?? SourceRow(contentHash: contentHash, uri: input.uri, status: status)
        s.uri = input.uri
        s.status = status
        s.externalID = input.externalID
        s.error = error
        s.sizeBytes = sizeBytes
        s.workKey = stageKeys.last
        s.stageKeys = String(decoding: (try? JSONEncoder().encode(stageKeys)) ?? Data("[]".utf8), as: UTF8.self)
        if let p = probe {
            s.kind = p.kind.rawValue; s.container = p.container; s.videoCodec = p.videoCodec; s.audioCodec = p.audioCodec
            s.duration = p.duration; s.width = p.width; s.height = p.height; s.fps = p.frameRate > 0 ? p.frameRate : nil
            s.rotation = p.rotation
        }
        if let d = decodeStats {
            s.stats = #"{"packets_read":\#(d.packetsRead),"frames_decoded":\#(d.framesDecoded),"frames_converted":\#(d.framesConverted),"seeks":\#(d.seeks),"corrupt_packets":\#(d.corruptPackets)}"#
        }
        return s
    }
}
