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
        var ranges: [String: (String, String, Double, Double, Double?)] = [:]
        for db in shards {
            for r in try db.query("SELECT metric, model, MIN(value), MAX(value), MAX(threshold) FROM scores GROUP BY metric, model") {
                let key = "\(r[0].text ?? "")\u{0}\(r[1].text ?? "")"
                let lo = r[2].double ?? 0, hi = r[3].double ?? 0
                if let old = ranges[key] {
                    ranges[key] = (old.0, old.1, min(old.2, lo), max(old.3, hi), old.4 ?? r[4].double)
                } else {
                    ranges[key] = (r[0].text ?? "", r[1].text ?? "", lo, hi, r[4].double)
                }
            }
        }
        var result: [ScoreHistogram] = []
        for (_, v) in ranges.sorted(by: { $0.key < $1.key }) {
            let (metric, model, lo, hi, threshold) = v
            let lower = lo >= 0 && hi <= 1 ? 0 : lo
            let upper = lo >= 0 && hi <= 1 ? 1 : (hi > lo ? hi : lo + 1)
            var h = ScoreHistogram(metric: metric, model: model, lower: lower, upper: upper, threshold: threshold,
                                   kept: Array(repeating: 0, count: bins), dropped: Array(repeating: 0, count: bins),
                                   undecided: Array(repeating: 0, count: bins))
            for db in shards {
                for r in try db.query("""
                    SELECT MIN(?4 - 1, MAX(0, CAST((value - ?1) / (?2 - ?1) * ?4 AS INTEGER))) AS bin, kept, COUNT(*)
                    FROM scores WHERE metric = ?3 AND model = ?5 GROUP BY bin, kept
                    """, [lower, upper, metric, bins, model]) {
                    let bin = Int(r[0].int ?? 0), n = Int(r[2].int ?? 0)
                    switch r[1].int {
                    case .some(1): h.kept[bin] += n
                    case .some(0): h.dropped[bin] += n
                    default: h.undecided[bin] += n
                    }
                }
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
