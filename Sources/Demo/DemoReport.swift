import Foundation
import Store

/// Scores a finished demo run against the corpus's ground truth (`truth.jsonl` from `capfilt synth`):
/// how well the filter found the noisy web texts, and how accurate the synthetic captions are.
public struct DemoReport: Sendable {
    public var webTexts = 0
    public var noisy = 0
    /// Web texts the filter dropped (on every frame of their source).
    public var dropped = 0
    public var droppedNoisy = 0
    public var captions = 0
    public var captionsCorrect = 0
    public var captionsKept = 0
    public var captionsKeptCorrect = 0
    public var perAttribute: [String: (right: Int, total: Int)] = [:]
    public var examples: [(file: String, truth: String, caption: String, correct: Bool)] = []

    public var precision: Double { dropped == 0 ? 1 : Double(droppedNoisy) / Double(dropped) }
    public var recall: Double { noisy == 0 ? 1 : Double(droppedNoisy) / Double(noisy) }
    public var captionAccuracy: Double { captions == 0 ? 0 : Double(captionsCorrect) / Double(captions) }

    struct Truth: Decodable {
        let path: String
        let shape: String
        let color: String
        let background: String
        let count: Int
        let web_text_id: String
        let web_text_noisy: Bool
    }

    public static func make(output: URL, truth: URL) throws -> DemoReport {
        let lines = try String(contentsOf: truth, encoding: .utf8).split(separator: "\n")
        let truths = try lines.map { try JSONDecoder().decode(Truth.self, from: Data($0.utf8)) }
        var report = DemoReport()
        for shard in ShardStore.shardFiles(in: output) {
            let reader = try ShardReader(url: shard)
            for t in truths {
                guard let source = try reader.readSource(endingWith: t.path) else { continue }
                for web in try reader.webTexts(source: source, externalID: t.web_text_id) {
                    report.countWebText(web, noisy: t.web_text_noisy)
                }
                for caption in try reader.syntheticTexts(source: source) {
                    report.countCaption(caption, truth: t)
                }
            }
        }
        return report
    }

    /// A web text is dropped when no frame kept it.
    mutating func countWebText(_ web: KeptText, noisy isNoisy: Bool) {
        webTexts += 1
        if isNoisy { noisy += 1 }
        if web.keptPairs == 0 {
            dropped += 1
            if isNoisy { droppedNoisy += 1 }
        }
    }

    /// A caption is right when every attribute it names matches the truth.
    mutating func countCaption(_ caption: KeptText, truth t: Truth) {
        let parsed = SceneCaption.parse(caption.text)
        let checks: [(String, Bool)] = [
            ("count", parsed?.count == t.count), ("color", parsed?.color == t.color),
            ("shape", parsed?.shape == t.shape), ("background", parsed?.background == t.background),
        ]
        for (name, ok) in checks {
            var a = perAttribute[name] ?? (0, 0)
            a.total += 1
            if ok { a.right += 1 }
            perAttribute[name] = a
        }
        let correct = checks.allSatisfy(\.1)
        captions += 1
        if correct { captionsCorrect += 1 }
        if caption.keptPairs > 0 {
            captionsKept += 1
            if correct { captionsKeptCorrect += 1 }
        }
        if examples.count < 6 || (!correct && examples.filter { !$0.correct }.count < 4) {
            let truthText = "\(["", "a", "two", "three"][min(3, t.count)]) \(t.color) \(t.shape)\(t.count > 1 ? "s" : "") on a \(t.background) background"
            examples.append((t.path, truthText, caption.text, correct))
        }
    }

    public var text: String {
        var lines: [String] = []
        lines.append(String(format: "filter   web texts %d, noisy %d; dropped %d (%d noisy)  precision %.3f  recall %.3f",
                            webTexts, noisy, dropped, droppedNoisy, precision, recall))
        lines.append(String(format: "captions %d synthetic, %d fully right: attribute accuracy %.3f; kept by the filter %d (%d right)",
                            captions, captionsCorrect, captionAccuracy, captionsKept, captionsKeptCorrect))
        let attrs = perAttribute.sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, Double($0.value.right) / Double(max(1, $0.value.total))) }
        if !attrs.isEmpty { lines.append("         per attribute: " + attrs.joined(separator: ", ")) }
        for e in examples.prefix(8) { lines.append("  \(e.correct ? "ok " : "BAD") \(e.file): \"\(e.caption)\"  (truth: \(e.truth))") }
        return lines.joined(separator: "\n")
    }
}
