import Foundation

/// One subtitle cue: its text shown from `start` to `end` seconds (stream start already subtracted by the caller).
public struct SubtitleCue: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var text: String
    /// The subtitle stream's language tag, when the container has one.
    public var language: String?
    public init(start: Double, end: Double, text: String, language: String? = nil) {
        self.start = start; self.end = end; self.text = text; self.language = language
    }
}

/// Text decoders in FFmpeg 5.1 return every cue as an ASS event line
/// (`ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text`), whatever the source format.
enum SubtitleText {
    static func plainText(fromASS line: String) -> String {
        var body = Substring(line)
        if body.hasPrefix("Dialogue:") { body = body.dropFirst("Dialogue:".count) }
        // The text field is the ninth; it may itself contain commas.
        var commas = 0
        var index = body.startIndex
        while index < body.endIndex && commas < 8 {
            if body[index] == "," { commas += 1 }
            index = body.index(after: index)
        }
        let text = commas == 8 ? body[index...] : body
        var out = ""
        var inOverride = false
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "{" { inOverride = true }
            else if c == "}" && inOverride { inOverride = false }
            else if !inOverride {
                if c == "\\", text.index(after: i) < text.endIndex {
                    let n = text[text.index(after: i)]
                    if n == "N" || n == "n" { out.append("\n"); i = text.index(i, offsetBy: 2); continue }
                    if n == "h" { out.append(" "); i = text.index(i, offsetBy: 2); continue }
                }
                out.append(c)
            }
            i = text.index(after: i)
        }
        return out
    }
}
