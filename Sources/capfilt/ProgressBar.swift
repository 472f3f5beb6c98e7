import Foundation
import Pipeline

/// A one-line progress bar with rate and ETA on a terminal; silent when stderr is not one (cron).
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let start = Date()
    private let lock = NSLock()
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(done: Int, total: Int) {
        guard enabled, total > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "\r[%@] %d/%d  %.2f inputs/s  ETA %@ ", bar, done, total, rate, Self.duration(eta))
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func finish() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}

/// The one-screen summary printed at the end of a run.
enum SummaryText {
    static func render(_ s: RunSummary) -> String {
        var lines: [String] = []
        lines.append("run \(s.runID): \(s.outcome.rawValue) in \(String(format: "%.1f", s.wallSeconds)) s → \(s.outputDirectory)")
        lines.append("  inputs   seen \(s.inputsSeen) (\(s.hashed) hashed, \(s.inputsSeen - s.hashed) from the hash cache), unique \(s.unique), duplicates \(s.duplicates)")
        lines.append("           new \(s.new), changed \(s.changed) (\(s.reused) reusing stored frames), retried \(s.retried), skipped \(s.skipped)")
        lines.append("           processed \(s.processed), failed \(s.failed), partial \(s.partial)")
        lines.append("  media    frames \(s.frames), audio segments \(s.audioSegments)")
        let texts = s.texts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("  texts    \(texts.isEmpty ? "none" : texts); kept \(s.textsKept), dropped \(s.textsDropped)")
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
