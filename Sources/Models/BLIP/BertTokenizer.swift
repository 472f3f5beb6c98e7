// Port of transformers' BertTokenizer as BlipProcessor loads it (tokenization_bert.py over the
// tokenizers library: BertNormalizer, BertPreTokenizer, WordPiece, the [CLS] $A [SEP] template and
// the WordPiece decoder). Reads vocab.txt, tokenizer_config.json and, when present, tokenizer.json
// for the ids of added tokens such as BLIP's [DEC] and [ENC].
import Foundation

public struct BertTokenizer: Sendable {
    public let vocab: [String: Int]
    public let idToToken: [Int: String]
    /// Added tokens (all special here): matched verbatim in the raw text before normalisation.
    public let addedTokens: [String: Int]
    public let specialIDs: Set<Int>
    public let clsID: Int
    public let sepID: Int
    public let padID: Int
    public let unkID: Int
    /// bos_token ([DEC] for BLIP), if the tokenizer has one.
    public let bosID: Int?
    public let lowercase: Bool
    public let stripAccents: Bool
    public let chineseChars: Bool
    public let maxInputCharsPerWord = 100

    public init(directory: URL) throws {
        let vocabURL = directory.appendingPathComponent("vocab.txt")
        guard let text = try? String(contentsOf: vocabURL, encoding: .utf8) else { throw BLIPError.missingFile(vocabURL.path) }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        var vocab: [String: Int] = [:]
        // Duplicate lines: the later index wins, as in load_vocab.
        for (i, t) in lines.enumerated() { vocab[t] = i }

        var config: [String: Any] = [:]
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if let d = try? Data(contentsOf: configURL) {
            guard let obj = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else {
                throw BLIPError.invalidTokenizer(file: "tokenizer_config.json", detail: "not a JSON object")
            }
            config = obj
        }
        func tokenName(_ key: String, _ fallback: String?) -> String? {
            if let s = config[key] as? String { return s }
            if let d = config[key] as? [String: Any], let s = d["content"] as? String { return s }
            return fallback
        }
        // Added tokens: tokenizer.json's list is authoritative; older folders carry
        // added_tokens_decoder in tokenizer_config.json; failing both, transformers appends the
        // special tokens missing from vocab.txt in declaration order.
        var added: [String: Int] = [:]
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        if let d = try? Data(contentsOf: jsonURL) {
            guard let obj = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else {
                throw BLIPError.invalidTokenizer(file: "tokenizer.json", detail: "not a JSON object")
            }
            for entry in obj["added_tokens"] as? [[String: Any]] ?? [] {
                if let id = entry["id"] as? Int, let content = entry["content"] as? String { added[content] = id }
            }
        } else if let dec = config["added_tokens_decoder"] as? [String: Any] {
            for (k, v) in dec {
                if let id = Int(k), let content = (v as? [String: Any])?["content"] as? String { added[content] = id }
            }
        }
        let names = ["unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                     "mask_token": "[MASK]"]
        var specialNames = names.keys.sorted().compactMap { tokenName($0, names[$0]) }
        let bosName = tokenName("bos_token", nil)
        if let bosName { specialNames.append(bosName) }
        for key in ["extra_special_tokens", "additional_special_tokens"] {
            for item in config[key] as? [Any] ?? [] {
                if let s = item as? String { specialNames.append(s) }
                if let d = item as? [String: Any], let s = d["content"] as? String { specialNames.append(s) }
            }
        }
        var next = max(lines.count, (added.values.max() ?? -1) + 1)
        for name in specialNames where added[name] == nil {
            if let id = vocab[name] { added[name] = id } else { added[name] = next; next += 1 }
        }
        func id(_ key: String) throws -> Int {
            let name = tokenName(key, names[key])!
            guard let v = added[name] ?? vocab[name] else {
                throw BLIPError.invalidTokenizer(file: "vocab.txt", detail: "\(key) \"\(name)\" is not in the vocabulary")
            }
            return v
        }
        self.vocab = vocab
        addedTokens = added
        var inverse: [Int: String] = [:]
        for (t, i) in vocab { inverse[i] = t }
        for (t, i) in added { inverse[i] = t }
        idToToken = inverse
        specialIDs = Set(added.values)
        clsID = try id("cls_token")
        sepID = try id("sep_token")
        padID = try id("pad_token")
        unkID = try id("unk_token")
        bosID = bosName.flatMap { added[$0] ?? vocab[$0] }
        lowercase = config["do_lower_case"] as? Bool ?? true
        // strip_accents None follows lowercase, as in BertNormalizer.
        stripAccents = config["strip_accents"] as? Bool ?? lowercase
        chineseChars = config["tokenize_chinese_chars"] as? Bool ?? true
    }

    public var count: Int { max(vocab.values.max() ?? -1, addedTokens.values.max() ?? -1) + 1 }

    /// input_ids as BertTokenizer.__call__ returns them: [CLS] tokens [SEP].
    public func encode(_ text: String) -> [Int] {
        [clsID] + tokenize(text) + [sepID]
    }

    /// Ids without the template's [CLS]/[SEP].
    public func tokenize(_ text: String) -> [Int] {
        var out: [Int] = []
        for piece in splitOnAddedTokens(text) {
            switch piece {
            case .added(let id): out.append(id)
            case .text(let t):
                for word in preTokenize(normalize(t)) { out += wordPiece(word) }
            }
        }
        return out
    }

    enum Piece { case text(String), added(Int) }

    /// Leftmost-longest verbatim matches of the added tokens (they are not normalised).
    func splitOnAddedTokens(_ text: String) -> [Piece] {
        guard !addedTokens.isEmpty else { return [.text(text)] }
        let scalars = Array(text.unicodeScalars)
        let tokens = addedTokens.map { (Array($0.key.unicodeScalars), $0.value) }.filter { !$0.0.isEmpty }
        var pieces: [Piece] = []
        var start = 0, i = 0
        while i < scalars.count {
            var best: (len: Int, id: Int)?
            for (t, id) in tokens where t.count > (best?.len ?? 0) && i + t.count <= scalars.count {
                if scalars[i..<(i + t.count)].elementsEqual(t) { best = (t.count, id) }
            }
            if let best {
                if start < i { pieces.append(.text(String(String.UnicodeScalarView(scalars[start..<i])))) }
                pieces.append(.added(best.id))
                i += best.len
                start = i
            } else {
                i += 1
            }
        }
        if start < scalars.count { pieces.append(.text(String(String.UnicodeScalarView(scalars[start...])))) }
        return pieces
    }

    /// BertNormalizer: clean text, space out CJK ideographs, strip accents, lowercase, in that order.
    func normalize(_ text: String) -> String {
        var s = String.UnicodeScalarView()
        for c in text.unicodeScalars {
            if c.value == 0 || c.value == 0xFFFD || Self.isControl(c) { continue }
            if Self.isWhitespace(c) { s.append(" "); continue }
            if chineseChars && Self.isChineseChar(c.value) {
                s.append(" "); s.append(c); s.append(" ")
            } else {
                s.append(c)
            }
        }
        var out = String(s)
        if stripAccents {
            var kept = String.UnicodeScalarView()
            for c in out.decomposedStringWithCanonicalMapping.unicodeScalars where c.properties.generalCategory != .nonspacingMark {
                kept.append(c)
            }
            out = String(kept)
        }
        if lowercase {
            // Per scalar and without context (no final-sigma rule), like Rust's char::to_lowercase.
            var lower = String.UnicodeScalarView()
            for c in out.unicodeScalars { lower.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars) }
            out = String(lower)
        }
        return out
    }

    /// BertPreTokenizer: split on whitespace, then isolate every punctuation character.
    func preTokenize(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
        }
        for c in text.unicodeScalars {
            if c.properties.isWhitespace {
                flush()
            } else if Self.isPunctuation(c) {
                flush()
                words.append(String(c))
            } else {
                current.append(c)
            }
        }
        flush()
        return words
    }

    /// Greedy longest-match-first WordPiece; a word with any unmatchable part becomes one [UNK].
    func wordPiece(_ word: String) -> [Int] {
        let chars = Array(word.unicodeScalars)
        if chars.count > maxInputCharsPerWord { return [unkID] }
        var ids: [Int] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: Int?
            while start < end {
                var sub = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { sub = "##" + sub }
                if let id = vocab[sub] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unkID] }
            ids.append(id)
            start = end
        }
        return ids
    }

    /// tokenizer.decode(ids, skip_special_tokens=...): the WordPiece decoder with cleanup.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        var out = ""
        var first = true
        for id in ids {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            guard let token = idToToken[id] else { continue }
            var piece: String
            if first {
                piece = token
            } else if token.hasPrefix("##") {
                piece = String(token.dropFirst(2))
            } else {
                piece = " " + token
            }
            first = false
            for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
                piece = piece.replacingOccurrences(of: a, with: b)
            }
            out += piece
        }
        return out
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
    }

    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .closePunctuation, .finalPunctuation, .initialPunctuation,
             .otherPunctuation, .openPunctuation:
            return true
        default:
            return false
        }
    }

    static func isChineseChar(_ cp: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(cp) || (0x3400...0x4DBF).contains(cp) || (0x20000...0x2A6DF).contains(cp)
            || (0x2A700...0x2B73F).contains(cp) || (0x2B740...0x2B81F).contains(cp) || (0x2B820...0x2CEAF).contains(cp)
            || (0xF900...0xFAFF).contains(cp) || (0x2F800...0x2FA1F).contains(cp)
    }
}
