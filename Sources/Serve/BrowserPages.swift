import Foundation
import Store

/// The browser's pages as HTML strings, from a reader. No HTTP here: the server and the tests call these.
public struct BrowserPages {
    public let reader: DatasetReader
    public var pageSize = 48
    /// Histograms scan every score; they are computed once per server (shards are read-only to us).
    private var histogramCache: [ScoreHistogram]?
    private var countCache: [(origin: String, pairs: Int, kept: Int)]?

    /// Fills the caches with figures computed elsewhere (the server warms them on its own connections).
    public mutating func setCaches(histograms: [ScoreHistogram], counts: [(origin: String, pairs: Int, kept: Int)]) {
        if histogramCache == nil { histogramCache = histograms }
        if countCache == nil { countCache = counts }
    }

    public init(reader: DatasetReader) { self.reader = reader }

    /// Query parameters of the grid, as strings from the URL.
    public struct GridQuery: Sendable {
        public var origin: String?, kept: String?, itmMin: String?, itmMax: String?, clipMin: String?, clipMax: String?, q: String?
        public var after: String?, before: String?
        public init(_ get: (String) -> String?) {
            origin = get("origin"); kept = get("kept"); itmMin = get("itm_min"); itmMax = get("itm_max")
            clipMin = get("clip_min"); clipMax = get("clip_max"); q = get("q"); after = get("after"); before = get("before")
        }
        var filterPairs: [(String, String?)] {
            [("origin", origin), ("kept", kept), ("itm_min", itmMin), ("itm_max", itmMax), ("clip_min", clipMin), ("clip_max", clipMax), ("q", q)]
        }
        var filter: PairFilter {
            var f = PairFilter()
            if let o = origin, ["web", "subtitle", "synthetic"].contains(o) { f.origin = o }
            if kept == "1" { f.kept = true } else if kept == "0" { f.kept = false }
            f.itmMin = itmMin.flatMap(Double.init); f.itmMax = itmMax.flatMap(Double.init)
            f.clipMin = clipMin.flatMap(Double.init); f.clipMax = clipMax.flatMap(Double.init)
            f.search = q?.trimmingCharacters(in: .whitespaces)
            return f
        }
    }

    static func cursor(_ s: String?) -> DatasetReader.PairRef? {
        guard let p = s?.split(separator: "."), p.count == 3, let a = Int(p[0]), let b = Int64(p[1]), let c = Int64(p[2]) else { return nil }
        return .init(shard: a, textID: b, mediaID: c)
    }
    static func cursor(_ r: DatasetReader.PairRef) -> String { "\(r.shard).\(r.textID).\(r.mediaID)" }

    public func grid(_ q: GridQuery) throws -> String {
        let before = Self.cursor(q.before)
        let listing = try before.map { try reader.pairs(matching: q.filter, from: $0, direction: .before, limit: pageSize) }
            ?? reader.pairs(matching: q.filter, from: Self.cursor(q.after), direction: .after, limit: pageSize)
        func sel(_ v: String?, _ x: String) -> String { v == x ? " selected" : "" }
        func input(_ name: String, _ label: String, _ v: String?) -> String {
            "<label>\(label)<input name=\"\(name)\" value=\"\(HTML.escape(v ?? ""))\" inputmode=\"decimal\"></label>"
        }
        var body = """
        <form class="filters" method="get" action="/">
        <label>text<input name="q" value="\(HTML.escape(q.q ?? ""))" placeholder="words, prefix*"></label>
        <label>origin<select name="origin"><option value="">any</option>\
        <option value="web"\(sel(q.origin, "web"))>web</option><option value="subtitle"\(sel(q.origin, "subtitle"))>subtitle</option>\
        <option value="synthetic"\(sel(q.origin, "synthetic"))>synthetic</option></select></label>
        <label>kept<select name="kept"><option value="">any</option><option value="1"\(sel(q.kept, "1"))>kept</option>\
        <option value="0"\(sel(q.kept, "0"))>dropped</option></select></label>
        \(input("itm_min", "ITM ≥", q.itmMin))\(input("itm_max", "ITM ≤", q.itmMax))\(input("clip_min", "CLIP ≥", q.clipMin))\(input("clip_max", "CLIP ≤", q.clipMax))
        <button type="submit">filter</button> <a href="/">clear</a>
        </form>
        """
        if listing.rows.isEmpty { body += "<p id=\"empty\">No pairs match.</p>" }
        body += "<div class=\"grid\" id=\"pairs\">"
        for r in listing.rows {
            let src = "/source/\(r.ref.shard)/\(r.sourceID)"
            body += """
            <div class="card\(r.kept ? "" : " dropped")" data-text-id="\(r.ref.textID)">\
            <a href="\(src)"><img loading="lazy" src="/media/\(r.ref.shard)/\(r.ref.mediaID)" alt="\(HTML.escape(r.text))"></a>\
            <p class="text">\(HTML.escape(r.text))</p>\
            <p><span class="tag">\(HTML.escape(r.origin))</span><span class="\(r.kept ? "kept" : "drop")">\(r.kept ? "kept" : "dropped")</span> \
            ITM \(HTML.number(r.itm)) · CLIP \(HTML.number(r.clip))</p>\
            <p class="note"><a href="\(src)">\(HTML.escape((r.uri as NSString).lastPathComponent))</a> @ \(HTML.number(r.t, digits: 1)) s</p></div>
            """
        }
        body += "</div><div class=\"pager\">"
        let filters = q.filterPairs
        if let first = listing.rows.first, before != nil ? listing.hasMore : q.after != nil {
            body += "<a id=\"prev\" href=\"/\(HTML.escape(HTML.query(filters + [("before", Self.cursor(first.ref))])))\">← previous</a>"
        }
        if let last = listing.rows.last, before != nil || listing.hasMore {
            body += "<a id=\"next\" href=\"/\(HTML.escape(HTML.query(filters + [("after", Self.cursor(last.ref))])))\">next →</a>"
        }
        body += "</div>"
        return HTML.page(title: "capfilt · pairs", body: body)
    }

    public func source(shard: Int, id: Int64) throws -> String? {
        guard let d = try reader.source(shard: shard, id: id) else { return nil }
        let span = max(d.duration ?? 0, (d.frames.map(\.t).max() ?? 0) + 1)
        var body = "<h2>\(HTML.escape((d.uri as NSString).lastPathComponent))</h2><table>"
        for (k, v) in [("uri", d.uri), ("content hash", d.contentHash), ("kind", d.kind ?? ""), ("container", d.container ?? ""),
                       ("duration", d.duration.map { HTML.number($0, digits: 2) + " s" } ?? ""),
                       ("size", d.width.map { "\($0)×\(d.height ?? 0)" } ?? ""), ("status", d.status), ("error", d.error ?? ""),
                       ("shard", reader.shardNames[shard])] where !v.isEmpty {
            body += "<tr><th>\(k)</th><td>\(HTML.escape(v))</td></tr>"
        }
        body += "</table><h3>Frames (\(d.frames.count))</h3><div class=\"timeline\" id=\"timeline\">"
        for (i, f) in d.frames.enumerated() {
            // Spread by time; a second row for frames that would overlap their neighbour.
            let pct = span > 0 ? f.t / span * 85 : 0
            body += """
            <div class="frame" style="left:\(String(format: "%.2f", pct))%;\(i % 2 == 1 && d.frames.count > 6 ? "top:20px" : "")">\
            <img src="/media/\(shard)/\(f.mediaID)" alt="frame \(f.index)"><br>#\(f.index) · \(HTML.number(f.t, digits: 2)) s</div>
            """
        }
        body += "</div><h3>Texts (\(d.texts.count))</h3><table id=\"texts\"><tr><th>origin</th><th>text</th><th>producer</th><th>frames</th></tr>"
        let frameIndex = Dictionary(uniqueKeysWithValues: d.frames.map { ($0.mediaID, $0.index) })
        for t in d.texts {
            let frames = (d.links[t.id] ?? []).compactMap { frameIndex[$0] }.map(String.init).joined(separator: ", ")
            body += "<tr><td>\(HTML.escape(t.origin))</td><td class=\"text\">\(HTML.escape(t.text))</td><td>\(HTML.escape(t.producer ?? ""))</td><td>\(frames)</td></tr>"
        }
        body += "</table><h3>Scores (\(d.scores.count))</h3><table id=\"scores\"><tr><th>text</th><th>frame</th><th>metric</th><th>model</th><th>value</th><th>threshold</th><th>decision</th><th>stage</th></tr>"
        let textByID = Dictionary(uniqueKeysWithValues: d.texts.map { ($0.id, $0.text) })
        for s in d.scores {
            let decision = s.kept.map { $0 ? "<span class=\"kept\">kept</span>" : "<span class=\"drop\">dropped</span>" } ?? ""
            body += """
            <tr><td>\(HTML.escape(String((textByID[s.textID] ?? "").prefix(60))))</td><td>\(frameIndex[s.mediaID].map(String.init) ?? "")</td>\
            <td>\(HTML.escape(s.metric))</td><td>\(HTML.escape(s.model))</td><td>\(HTML.number(s.value, digits: 4))</td>\
            <td>\(HTML.number(s.threshold))</td><td>\(decision)</td><td>\(HTML.escape(s.stage ?? ""))</td></tr>
            """
        }
        body += "</table>"
        return HTML.page(title: "capfilt · \((d.uri as NSString).lastPathComponent)", body: body)
    }

    public func runs() throws -> String {
        var body = "<h2>Run ledger</h2><table id=\"runs\"><tr><th>started</th><th>finished</th><th>status</th><th>exit</th><th>pipeline</th><th>run</th><th>host</th><th>shards</th><th>stats</th></tr>"
        for r in try reader.runs() {
            body += """
            <tr><td>\(HTML.escape(r.startedAt))</td><td>\(HTML.escape(r.finishedAt ?? ""))</td><td>\(HTML.escape(r.status))</td>\
            <td>\(r.exitCode.map(String.init) ?? "")</td><td>\(HTML.escape(r.pipeline))</td><td>\(HTML.escape(r.id))</td>\
            <td>\(HTML.escape(r.host ?? ""))</td><td>\(r.shards.count)</td><td><code>\(HTML.escape(r.stats ?? ""))</code></td></tr>
            """
        }
        return HTML.page(title: "capfilt · runs", body: body + "</table>")
    }

    public func errors(page: Int) throws -> String {
        let per = 100
        let (entries, total) = try reader.errors(limit: per, offset: max(0, page) * per)
        var body = "<h2>Errors (\(total))</h2><table id=\"errors\"><tr><th>input</th><th>status</th><th>message</th></tr>"
        for e in entries {
            body += "<tr><td><a href=\"/source/\(e.shard)/\(e.sourceID)\">\(HTML.escape(e.uri))</a></td><td>\(HTML.escape(e.status))</td><td>\(HTML.escape(e.error))</td></tr>"
        }
        body += "</table><div class=\"pager\">"
        if page > 0 { body += "<a href=\"/errors?page=\(page - 1)\">← previous</a>" }
        if (page + 1) * per < total { body += "<a href=\"/errors?page=\(page + 1)\">next →</a>" }
        return HTML.page(title: "capfilt · errors", body: body + "</div>")
    }

    public mutating func histograms() throws -> [ScoreHistogram] {
        if let h = histogramCache { return h }
        let h = try reader.histograms()
        histogramCache = h
        return h
    }

    public mutating func histogramsPage() throws -> String {
        var body = "<h2>Score histograms</h2><p class=\"note\">Every score in every shard; green kept, red dropped by that stage, blue no decision.</p><div class=\"hists\">"
        for h in try histograms() { body += HistogramSVG.render(h) }
        body += "</div><h3>Pairs by origin</h3><table id=\"counts\"><tr><th>origin</th><th>pairs</th><th>kept</th></tr>"
        if countCache == nil { countCache = try reader.pairCounts() }
        for c in countCache ?? [] { body += "<tr><td>\(HTML.escape(c.origin))</td><td>\(c.pairs)</td><td>\(c.kept)</td></tr>" }
        return HTML.page(title: "capfilt · histograms", body: body + "</table>")
    }
}
