import Foundation
import Store

/// HTML building for the browser and the static report. Every value from the data goes through
/// `HTML.escape` (text and attribute values alike, quotes included): alt-texts are hostile web text.
public enum HTML {
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A query-string value: everything but unreserved characters percent-encoded.
    public static func query(_ pairs: [(String, String?)]) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        let parts = pairs.compactMap { k, v -> String? in
            guard let v, !v.isEmpty else { return nil }
            return "\(k)=\(v.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    public static func number(_ v: Double?, digits: Int = 3) -> String {
        guard let v else { return "–" }
        return String(format: "%.\(digits)f", v)
    }

    static let style = """
    body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
    header{background:#23395d;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:center}
    header a{color:#fff;text-decoration:none}header b{font-size:16px}
    main{padding:12px 16px}
    form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:12px}
    form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
    form.filters input{width:7em}form.filters input[name=q]{width:16em}
    .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
    .card{background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px;font-size:12px}
    .card.dropped{border-color:#e0a0a0;background:#fff6f6}
    .card img{width:100%;aspect-ratio:3/2;object-fit:cover;background:#eee;display:block}
    .card p{margin:4px 0;overflow-wrap:anywhere}
    .tag{display:inline-block;padding:0 5px;border-radius:3px;background:#e4e9f2;margin-right:4px}
    .kept{color:#17702f}.drop{color:#a52020}
    table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
    .timeline{position:relative;height:110px;background:#fff;border:1px solid #ccc;margin:10px 0 24px}
    .timeline .frame{position:absolute;top:6px;width:120px;text-align:center;font-size:11px}
    .timeline .frame img{width:120px;height:80px;object-fit:cover;border:1px solid #888}
    .pager{margin:12px 0;display:flex;gap:12px}
    .hists{display:flex;flex-wrap:wrap;gap:16px}
    .note{color:#666;font-size:12px}
    """

    public static func page(title: String, body: String, nav: Bool = true) -> String {
        let links = nav ? """
            <a href="/"><b>capfilt</b></a><a href="/">pairs</a><a href="/histograms">histograms</a>\
            <a href="/runs">runs</a><a href="/errors">errors</a>
            """ : "<b>capfilt</b>"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>\(style)</style></head>
        <body><header>\(links)</header><main>
        \(body)
        </main></body></html>
        """
    }
}
