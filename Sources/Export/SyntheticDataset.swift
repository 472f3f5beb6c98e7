import Foundation
import Store
import Tensor

/// A generated dataset written through the real shard writer, for the read side's tests and for page
/// timings at a size no demo run reaches. Everything follows from the seed. Some alt-texts are hostile
/// on purpose (markup, attribute breakers, quotes), as web alt-texts are.
public struct SyntheticDataset {
    public var sources: Int
    public var framesPerSource = 3
    public var webTextsPerSource = 2
    /// One in this many sources is an unreadable input (no media, an error message).
    public var errorEvery = 40
    public var seed: UInt64 = 1
    public var shardBudget = ShardBudget()

    public init(sources: Int) { self.sources = sources }

    /// Candidate pairs written: each web text on every frame, plus one synthetic caption per frame.
    public var pairs: Int {
        (0..<sources).reduce(0) { n, i in
            i % errorEvery == 0 ? n : n + (i % 4 == 3 ? 1 : framesPerSource) * (webTextsPerSource + 1)
        }
    }

    public static let hostileTexts = [
        "<script>document.title='pwned'</script> a red car",
        "\" onerror=\"document.title='pwned'\" x=\" a blue boat",
        "'><img src=x onerror=alert(1)> a green tree",
        "</textarea></title><svg onload=alert(2)> a dog & a cat",
    ]

    static let subjects = ["car", "boat", "tree", "dog", "cat", "house", "bicycle", "mountain", "river", "bird", "train", "flower"]
    static let colours = ["red", "blue", "green", "yellow", "white", "black", "orange", "purple"]
    static let places = ["on a street", "by the sea", "in a park", "at night", "in the snow", "under a bridge", "in a field"]

    /// `frames` are encoded images to cycle through (the caller picks the codec); `format` names them.
    public func write(to dir: URL, frames: [[UInt8]], format: String, width: Int, height: Int, progress: ((Int) -> Void)? = nil) throws {
        precondition(!frames.isEmpty)
        var rng = SplitMix64(seed: seed)
        let store = try ShardStore(directory: dir, budget: shardBudget)
        try store.beginRun(RunRecord(id: "synthetic-\(seed)", pipelineName: "synthetic", pipelineHash: "synthetic-\(seed)",
                                     pipelineYAML: "name: synthetic\n", capfiltVersion: "synthetic", host: "localhost",
                                     startedAt: "2026-01-01T00:00:00Z"))
        let models = [ModelRow(id: "blip-itm", kind: "blip-itm", fingerprint: "synthetic-itm"),
                      ModelRow(id: "clip-b32", kind: "clip", fingerprint: "synthetic-clip"),
                      ModelRow(id: "blip-caption", kind: "blip-caption", fingerprint: "synthetic-caption")]
        var failed = 0
        for i in 0..<sources {
            let hash = String(format: "%016llx%016llx", rng.next(), UInt64(i))
            let isImage = i % 4 == 3
            let uri = "/corpus/\(isImage ? "images" : "videos")/item-\(String(format: "%07d", i)).\(isImage ? "jpg" : "mp4")"
            if i % errorEvery == 0 {
                var s = SourceRow(contentHash: hash, uri: uri, status: "error")
                s.error = i % (2 * errorEvery) == 0 ? "Invalid data found when processing input (\(uri))" : "moov atom not found (\(uri))"
                try store.write(InputWrite(source: s))
                failed += 1
                continue
            }
            var s = SourceRow(contentHash: hash, uri: uri, status: "ok")
            s.kind = isImage ? "image" : "video"; s.width = width; s.height = height
            s.duration = isImage ? nil : Double(framesPerSource) * 2
            var w = InputWrite(source: s)
            let frameCount = isImage ? 1 : framesPerSource
            for f in 0..<frameCount {
                var m = MediaRow(kind: "frame", idx: f, tStart: Double(f) * 2, format: format, data: frames[Int(rng.next() % UInt64(frames.count))])
                m.width = width; m.height = height
                w.media.append(m)
            }
            for k in 0..<webTextsPerSource {
                let text = i % 13 == 5 && k == 0 ? Self.hostileTexts[(i / 13) % Self.hostileTexts.count] : phrase(&rng)
                w.texts.append(TextRow(origin: "web", text: text))
                for f in 0..<frameCount { w.links.append(.init(text: w.texts.count - 1, media: f)) }
            }
            for f in 0..<frameCount {
                var t = TextRow(origin: "synthetic", text: phrase(&rng), mediaIndex: f)
                t.producer = "blip-caption"
                w.texts.append(t)
                w.links.append(.init(text: w.texts.count - 1, media: f))
            }
            for l in w.links {
                let synthetic = w.texts[l.text].origin == "synthetic"
                // Synthetic captions match their frame more often than web alt-texts, as in CapFilt.
                let itm = min(1, max(0, rng.nextDouble() * 0.8 + (synthetic ? 0.35 : 0.05)))
                let clip = 0.12 + 0.25 * rng.nextDouble() + (synthetic ? 0.04 : 0)
                w.scores.append(ScoreRow(text: l.text, media: l.media, metric: "itm", model: "blip-itm", value: itm, threshold: 0.5, kept: itm >= 0.5, stage: "filter"))
                w.scores.append(ScoreRow(text: l.text, media: l.media, metric: "clip", model: "clip-b32", value: clip, threshold: nil, kept: nil, stage: "score"))
            }
            w.models = models
            try store.write(w)
            if i % 1000 == 999 { progress?(i + 1) }
        }
        try store.finishRun(status: failed > 0 ? "errors" : "ok", exitCode: failed > 0 ? 1 : 0,
                            stats: "{\"inputs\":\(sources),\"failed\":\(failed)}")
        try store.close()
    }

    func phrase(_ rng: inout SplitMix64) -> String {
        func pick(_ a: [String]) -> String { a[Int(rng.next() % UInt64(a.count))] }
        return "a \(pick(Self.colours)) \(pick(Self.subjects)) \(pick(Self.places))"
    }
}
