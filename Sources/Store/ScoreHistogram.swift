import Foundation

/// Counts of one metric's scores (per model) in equal bins, split by the stage's own decision.
public struct ScoreHistogram: Sendable {
    public var metric: String
    public var model: String
    public var lower: Double
    public var upper: Double
    public var threshold: Double?
    public var kept: [Int]
    public var dropped: [Int]
    /// Scores with no decision (a scoring stage that only measures, e.g. CLIP without a threshold).
    public var undecided: [Int]
    public var total: Int { kept.reduce(0, +) + dropped.reduce(0, +) + undecided.reduce(0, +) }
}

extension DatasetReader {
    /// One histogram per (metric, model), over every shard. Bins are fixed over [0, 1] when all values
    /// fall there (ITM probabilities, most cosines), so shards and runs stay comparable.
    public func histograms(bins: Int = 40) throws -> [ScoreHistogram] {
        // One pass over the scores: counts in fine steps of 1/1000, rebinned here once the range is
        // known. Two passes (range, then bins) cost twice the time on a million pairs.
        struct Fine { var counts: [Int64: [Int]] = [:]; var threshold: Double? }
        var fine: [String: Fine] = [:]
        for db in shards {
            // Retired inputs (schema 2 and later) are out of every view; their scores are out of here too.
            let retired = try db.scalar("SELECT COUNT(*) FROM pragma_table_info('sources') WHERE name = 'retired_by'").int == 1
                ? "WHERE text_id NOT IN (SELECT t.id FROM texts t JOIN sources s ON s.id = t.source_id WHERE s.retired_by IS NOT NULL)" : ""
            for r in try db.query("""
                SELECT metric, model, CAST(floor(value * 1000) AS INTEGER) AS step, kept, COUNT(*), MAX(threshold)
                FROM scores \(retired) GROUP BY metric, model, step, kept
                """) {
                let key = "\(r[0].text ?? "")\u{0}\(r[1].text ?? "")"
                let step = r[2].int ?? 0, n = Int(r[4].int ?? 0)
                let slot: Int
                switch r[3].int { case .some(1): slot = 0; case .some(0): slot = 1; default: slot = 2 }
                fine[key, default: Fine()].counts[step, default: [0, 0, 0]][slot] += n
                if let t = r[5].double { fine[key]!.threshold = max(fine[key]!.threshold ?? t, t) }
            }
        }
        var result: [ScoreHistogram] = []
        for (key, f) in fine.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            let lo = Double(f.counts.keys.min() ?? 0) / 1000, hi = Double((f.counts.keys.max() ?? 0) + 1) / 1000
            // Fixed over [0, 1] when all values fall there (ITM probabilities, most cosines), so
            // datasets and runs stay comparable.
            let lower = lo >= 0 && hi <= 1.001 ? 0 : lo
            let upper = lo >= 0 && hi <= 1.001 ? 1 : max(hi, lo + 0.001)
            var h = ScoreHistogram(metric: parts[0], model: parts.count > 1 ? parts[1] : "", lower: lower, upper: upper, threshold: f.threshold,
                                   kept: Array(repeating: 0, count: bins), dropped: Array(repeating: 0, count: bins),
                                   undecided: Array(repeating: 0, count: bins))
            for (step, c) in f.counts {
                let v = (Double(step) + 0.5) / 1000
                let bin = min(bins - 1, max(0, Int((v - lower) / (upper - lower) * Double(bins))))
                h.kept[bin] += c[0]; h.dropped[bin] += c[1]; h.undecided[bin] += c[2]
            }
            result.append(h)
        }
        return result
    }

    /// Pairs and kept pairs, per origin, over every shard.
    public func pairCounts() throws -> [(origin: String, pairs: Int, kept: Int)] {
        var counts: [String: (Int, Int)] = [:]
        for db in shards {
            for r in try db.query("SELECT origin, COUNT(*), COALESCE(SUM(kept), 0) FROM pairs GROUP BY origin") {
                let o = r[0].text ?? ""
                let old = counts[o] ?? (0, 0)
                counts[o] = (old.0 + Int(r[1].int ?? 0), old.1 + Int(r[2].int ?? 0))
            }
        }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value.0, $0.value.1) }
    }
}
