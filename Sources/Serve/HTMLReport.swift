import Foundation
import Store

/// A one-page, self-contained report of an output folder (frames inlined as data: URIs, histograms as
/// SVG), for a nightly job to mail or publish: counts, the latest run against the one before it,
/// score distributions, and the borderline examples on each side of the filter.
public enum HTMLReport {
    public static func render(directory: URL, examples: Int = 8) throws -> String {
        let summary = try DatasetSummary.read(directory: directory)
        let reader = try DatasetReader(directory: directory)
        var body = "<h2>\(HTML.escape(directory.lastPathComponent))</h2>"

        body += "<h3>Latest run</h3>"
        let runs = summary.runs
        if let last = runs.last {
            body += "<table id=\"latest\"><tr><th>run</th><td>\(HTML.escape(last.id))</td></tr><tr><th>pipeline</th><td>\(HTML.escape(last.pipeline))</td></tr>"
            body += "<tr><th>started</th><td>\(HTML.escape(last.startedAt))</td></tr><tr><th>finished</th><td>\(HTML.escape(last.finishedAt ?? "not finished"))</td></tr>"
            body += "<tr><th>status</th><td>\(HTML.escape(last.status)) (exit \(last.exitCode.map(String.init) ?? "–"))</td></tr></table>"
            body += statsTable(latest: last, previous: runs.dropLast().last)
        } else {
            body += "<p>No runs recorded.</p>"
        }

        body += "<h3>Counts</h3><table id=\"counts\">"
        func row(_ k: String, _ d: [String: Int]) -> String {
            "<tr><th>\(k)</th><td>\(HTML.escape(d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))</td></tr>"
        }
        body += row("sources", summary.sourcesByStatus) + row("kinds", summary.sourcesByKind) + row("media", summary.mediaByKind)
        body += row("texts", summary.textsByOrigin)
        body += "<tr><th>pairs</th><td>\(summary.pairs) candidate, \(summary.pairsKept) kept</td></tr>"
        body += "<tr><th>shards</th><td>\(summary.shards.count), \(String(format: "%.1f", Double(summary.shards.map(\.bytes).reduce(0, +)) / 1_048_576)) MiB</td></tr></table>"

        body += "<h3>Score distributions</h3><div class=\"hists\">"
        for h in try reader.histograms() { body += HistogramSVG.render(h) }
        body += "</div>"

        body += "<h3>Kept with the lowest ITM</h3>" + cards(reader, condition: "kept AND itm IS NOT NULL ORDER BY itm ASC", limit: examples, id: "kept-examples")
        body += "<h3>Dropped with the highest ITM</h3>" + cards(reader, condition: "NOT kept AND itm IS NOT NULL ORDER BY itm DESC", limit: examples, id: "dropped-examples")

        if !summary.errors.isEmpty {
            body += "<h3>Errors</h3><table id=\"errors\"><tr><th>inputs</th><th>message</th><th>example</th></tr>"
            for e in summary.errors.prefix(20) {
                body += "<tr><td>\(e.count)</td><td>\(HTML.escape(e.message))</td><td>\(HTML.escape(e.example))</td></tr>"
            }
            body += "</table>"
        }
        return HTML.page(title: "capfilt report · \(directory.lastPathComponent)", body: body, nav: false)
    }

    /// Each counter of the latest run's stats next to the previous run's: what changed overnight.
    static func statsTable(latest: DatasetSummary.Run, previous: DatasetSummary.Run?) -> String {
        func numbers(_ json: String?) -> [String: Double] {
            guard let data = json?.data(using: .utf8), let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return obj.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
        let now = numbers(latest.stats), before = numbers(previous?.stats)
        guard !now.isEmpty else { return "" }
        var s = "<table id=\"changes\"><tr><th>counter</th><th>this run</th><th>previous run</th><th>change</th></tr>"
        for key in Set(now.keys).union(before.keys).sorted() {
            let a = now[key], b = before[key]
            let change = (a != nil && b != nil) ? String(format: "%+g", a! - b!) : ""
            s += "<tr><td>\(HTML.escape(key))</td><td>\(a.map { String(format: "%g", $0) } ?? "")</td><td>\(b.map { String(format: "%g", $0) } ?? "")</td><td>\(change)</td></tr>"
        }
        return s + "</table>"
    }

    static func cards(_ reader: DatasetReader, condition: String, limit: Int, id: String) -> String {
        var rows: [(DatasetReader.PairDetail)] = []
        for shard in reader.shards.indices {
            guard let found = try? reader.shards[shard].query("SELECT text_id, media_id FROM capfilt_result WHERE \(condition) LIMIT ?", [limit]) else { continue }
            for r in found {
                if let d = try? reader.detail(.init(shard: shard, textID: r[0].int ?? 0, mediaID: r[1].int ?? 0)) { rows.append(d) }
            }
        }
        // Across shards, the same order the condition asked for within each.
        let itm = { (d: DatasetReader.PairDetail) in d.scores.filter { $0.metric == "itm" }.map(\.value).max() ?? 0 }
        rows.sort { id == "kept-examples" ? itm($0) < itm($1) : itm($0) > itm($1) }
        var s = "<div class=\"grid\" id=\"\(id)\">"
        for d in rows.prefix(limit) {
            let mime = d.format == "png" ? "image/png" : d.format == "webp" ? "image/webp" : "image/jpeg"
            let clip = d.scores.filter { $0.metric == "clip" }.map(\.value).max()
            s += """
            <div class="card\(d.kept ? "" : " dropped")"><img src="data:\(mime);base64,\(Data(d.image).base64EncodedString())" alt="\(HTML.escape(d.text))">\
            <p class="text">\(HTML.escape(d.text))</p><p><span class="tag">\(HTML.escape(d.origin))</span>ITM \(HTML.number(itm(d))) · CLIP \(HTML.number(clip))</p>\
            <p class="note">\(HTML.escape((d.uri as NSString).lastPathComponent)) @ \(HTML.number(d.t, digits: 1)) s</p></div>
            """
        }
        return s + "</div>"
    }
}
