import Foundation
import Pipeline

/// The one-screen summary a person sees at the end of a run (JSON logs carry the same figures).
enum SummaryText {
    static func render(_ s: RunSummary) -> String {
        var lines: [String] = []
        lines.append("run \(s.runID): \(s.outcome.rawValue) in \(String(format: "%.1f", s.wallSeconds)) s → \(s.outputDirectory)")
        lines.append("  inputs   seen \(s.inputsSeen) (\(s.hashed) hashed, \(s.inputsSeen - s.hashed) from the hash cache), unique \(s.unique), duplicates \(s.duplicates)")
        lines.append("           new \(s.new), changed \(s.changed) (\(s.reused) reusing stored frames), retried \(s.retried), skipped \(s.skipped)")
        lines.append("           renamed \(s.renamed), restored \(s.restored), retired \(s.retired) (gone from the corpus)")
        lines.append("           processed \(s.processed), failed \(s.failed), partial \(s.partial)")
        lines.append("  media    frames \(s.frames), audio segments \(s.audioSegments)")
        let texts = s.texts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("  texts    \(texts.isEmpty ? "none" : texts); kept \(s.textsKept), dropped \(s.textsDropped), paired with no frame \(s.textsUnpaired)")
        if !s.modelsLoaded.isEmpty {
            lines.append(String(format: "  models   %d loaded in %.2f s", s.modelsLoaded.count, s.modelLoadSeconds))
        }
        for stage in s.stages {
            let c = stage.counters
            let secs = c["seconds"] ?? 0
            let n = c["in"] ?? 0
            lines.append(String(format: "  stage %-10@ %4.0f in, %3.0f errors, %7.2f s%@", stage.name as NSString, n, c["errors"] ?? 0, secs,
                                (c["frames"]).map { String(format: ", %.0f frames (%.1f/s)", $0, secs > 0 ? $0 / secs : 0) } ?? ""))
        }
        if !s.errorSamples.isEmpty {
            lines.append("  errors:")
            for e in s.errorSamples.prefix(10) { lines.append("    \(e.uri): \(e.message)") }
        }
        if let f = s.fatal { lines.append("  FATAL: \(f)") }
        lines.append("  shards   \(s.shards.joined(separator: ", "))")
        return lines.joined(separator: "\n")
    }
}
