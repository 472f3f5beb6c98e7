import Foundation
import Store

/// Draws a score histogram as inline SVG on the server: no script, no client library. Kept, dropped
/// and undecided counts are stacked; the stage's threshold is a dashed line.
public enum HistogramSVG {
    public static func render(_ h: ScoreHistogram, width: Int = 420, height: Int = 180) -> String {
        let bins = h.kept.count
        let left = 44.0, bottom = 22.0, top = 22.0
        let plotW = Double(width) - left - 8, plotH = Double(height) - bottom - top
        let totals = (0..<bins).map { h.kept[$0] + h.dropped[$0] + h.undecided[$0] }
        let peak = max(1, totals.max() ?? 1)
        let bw = plotW / Double(bins)
        var bars = ""
        for i in 0..<bins {
            var y = Double(height) - bottom
            for (n, colour) in [(h.kept[i], "#3a8f4f"), (h.dropped[i], "#c44e4e"), (h.undecided[i], "#6b7fa8")] where n > 0 {
                let bh = plotH * Double(n) / Double(peak)
                y -= bh
                bars += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%d</title></rect>",
                               left + Double(i) * bw, y, max(1, bw - 1), bh, colour, n)
            }
        }
        var threshold = ""
        if let t = h.threshold, t >= h.lower, t <= h.upper {
            let x = left + plotW * (t - h.lower) / (h.upper - h.lower)
            threshold = String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-dasharray=\"4 3\"/>", x, x, top, Double(height) - bottom)
                + String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">threshold %@</text>", x + 3, top + 10, HTML.number(t, digits: 2))
        }
        let axis = String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", left, left + plotW, Double(height) - bottom, Double(height) - bottom)
        let labels = [(h.lower, left, "start"), ((h.lower + h.upper) / 2, left + plotW / 2, "middle"), (h.upper, left + plotW, "end")].map {
            String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"%@\">%@</text>", $0.1, Double(height) - 6, $0.2, HTML.number($0.0, digits: 2))
        }.joined()
        let title = "\(HTML.escape(h.metric)) · \(HTML.escape(h.model)) · \(h.total) scores"
        return """
        <svg xmlns="http://www.w3.org/2000/svg" class="histogram" data-metric="\(HTML.escape(h.metric))" width="\(width)" height="\(height)" \
        viewBox="0 0 \(width) \(height)" role="img" aria-label="\(title)"><rect width="100%" height="100%" fill="#fff"/>\
        <text x="\(Int(left))" y="14" font-size="12">\(title)</text>\
        <text x="4" y="\(Int(top) + 10)" font-size="10">\(peak)</text>\(bars)\(axis)\(labels)\(threshold)</svg>
        """
    }
}
