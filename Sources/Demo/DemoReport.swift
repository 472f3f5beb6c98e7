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
            let db = try Database(path: shard.path, readOnly: true)
            for t in truths {
                guard let source = try db.query("SELECT id FROM sources WHERE uri LIKE ? AND status <> 'error'", ["%/" + t.path]).first?[0].int else { continue }
                // Web text: dropped when no frame kept it.
                for w in try db.query("""
                    SELECT t.id, (SELECT COUNT(*) FROM pairs p WHERE p.text_id = t.id AND p.kept) FROM texts t
                    WHERE t.source_id = ? AND t.origin = 'web' AND t.external_id = ?
                    """, [source, t.web_text_id]) {
                    report.webTexts += 1
                    if t.web_text_noisy { report.noisy += 1 }
                    if (w[1].int ?? 0) == 0 {
                        report.dropped += 1
                        if t.web_text_noisy { report.droppedNoisy += 1 }
                    }
                }
                for c in try db.query("""
                    SELECT t.text, (SELECT COUNT(*) FROM pairs p WHERE p.text_id = t.id AND p.kept) FROM texts t
                    WHERE t.source_id = ? AND t.origin = 'synthetic'
                    """, [source]) {
                    let text = c[0].text ?? ""
                    let parsed = SceneCaption.parse(text)
                    let checks: [(String, Bool)] = [
                        ("count", parsed?.count == t.count), ("color", parsed?.color == t.color),
                        ("shape", parsed?.shape == t.shape), ("background", parsed?.background == t.background),
                    ]
                    for (name, ok) in checks {
                        var a = report.perAttribute[name] ?? (0, 0)
                        a.total += 1
                        if ok { a.right += 1 }
                        report.perAttribute[name] = a
                    }
                    let correct = checks.allSatisfy(\.1)
                    report.captions += 1
                    if correct { report.captionsCorrect += 1 }
                    if (c[1].int ?? 0) > 0 {
                        report.captionsKept += 1
                        if correct { report.captionsKeptCorrect += 1 }
                    }
                    if report.examples.count < 6 || (!correct && report.examples.filter { !$0.correct }.count < 4) {
                        let truthText = "\(["", "a", "two", "three"][min(3, t.count)]) \(t.color) \(t.shape)\(t.count > 1 ? "s" : "") on a \(t.background) background"
                        report.examples.append((t.path, truthText, text, correct))
                    }
                }
            }
        }
        return report
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
