// Port of transformers' CLIPTokenizer (tokenization_clip.py), which in transformers 5 is a
// `tokenizers` pipeline:
//   added special tokens split out of the raw text  ->  NFC, \s+ -> " ", lowercase
//   -> Split on CLIP's regex (matches kept, whitespace dropped) -> ByteLevel (GPT-2 regex split,
//   byte->char mapping)
//   -> BPE with end_of_word_suffix "</w>" -> <|startoftext|> … <|endoftext|> (RobertaProcessing)
// with truncation of the content to max_length − 2 tokens.
import Foundation

public final class CLIPTokenizer: @unchecked Sendable {
    // @unchecked: everything is immutable after init except `cache`, which `lock` guards.
    public static let bosToken = "<|startoftext|>"
    public static let eosToken = "<|endoftext|>"

    public let vocab: [String: Int]
    private let ranks: [Pair: Int]
    private let decoder: [Int: String]
    private let byteEncoder: [String]   // byte value -> its printable stand-in character
    public let bosID: Int
    public let eosID: Int
    /// Padding uses the end token, as OpenAI's CLIP does (pad_token "<|endoftext|>").
    public var padID: Int { eosID }
    public let maxLength: Int
    private var cache: [String: [Int]] = [:]
    private let lock = NSLock()

    struct Pair: Hashable {
        let a: String
        let b: String
    }

    public init(vocabJSON: Data, merges: String, maxLength: Int = 77) throws {
        guard let v = try? JSONDecoder().decode([String: Int].self, from: vocabJSON) else {
            throw CLIPError.invalidTokenizer(file: "vocab.json", detail: "not a JSON object of token -> id")
        }
        vocab = v
        decoder = Dictionary(v.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var r: [Pair: Int] = [:]
        // Line 1 is the "#version" header; OpenAI's loader also caps the merges at 49152-256-2.
        let lines = merges.split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        for line in lines where !line.isEmpty {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw CLIPError.invalidTokenizer(file: "merges.txt", detail: "malformed merge line \"\(line)\"")
            }
            let p = Pair(a: String(parts[0]), b: String(parts[1]))
            if r[p] == nil { r[p] = r.count }
        }
        ranks = r
        byteEncoder = CLIPTokenizer.bytesToUnicode()
        guard let bos = v[CLIPTokenizer.bosToken], let eos = v[CLIPTokenizer.eosToken] else {
            throw CLIPError.invalidTokenizer(file: "vocab.json", detail: "lacks \(CLIPTokenizer.bosToken) or \(CLIPTokenizer.eosToken)")
        }
        bosID = bos
        eosID = eos
        precondition(maxLength >= 2)
        self.maxLength = maxLength
    }

    /// Loads vocab.json and merges.txt from a checkpoint folder.
    public convenience init(directory: URL, maxLength: Int = 77) throws {
        let vURL = directory.appendingPathComponent("vocab.json")
        let mURL = directory.appendingPathComponent("merges.txt")
        guard let vData = try? Data(contentsOf: vURL) else { throw CLIPError.missingFile(vURL.path) }
        guard let mData = try? Data(contentsOf: mURL), let m = String(data: mData, encoding: .utf8) else {
            throw CLIPError.missingFile(mURL.path)
        }
        try self.init(vocabJSON: vData, merges: m, maxLength: maxLength)
    }

    /// The vocabulary entry of an id (byte-level characters, "</w>" marking a word end).
    public func token(for id: Int) -> String? { decoder[id] }

    /// Token ids with start/end tokens, the content truncated so the total is at most maxLength.
    public func encode(_ text: String) -> [Int] {
        let content = tokenize(text)
        return [bosID] + content.prefix(maxLength - 2) + [eosID]
    }

    /// Token ids without start/end tokens and without truncation.
    public func tokenize(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in CLIPTokenizer.splitSpecialTokens(text) {
            switch segment {
            case .special(let token):
                ids.append(vocab[token]!)
            case .text(let raw):
                for piece in CLIPTokenizer.preTokenize(CLIPTokenizer.normalize(raw)) {
                    ids.append(contentsOf: bpe(piece))
                }
            }
        }
        return ids
    }

    // MARK: - Normalisation and pre-tokenisation

    enum Segment: Equatable {
        case text(String)
        case special(String)
    }

    /// Special tokens are matched on the raw text before normalisation (added tokens with
    /// normalized=false), so "<|ENDOFTEXT|>" is ordinary text while "<|endoftext|>" is one id.
    static func splitSpecialTokens(_ text: String) -> [Segment] {
        let specials = [bosToken, eosToken]
        var out: [Segment] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            var best: (Range<Substring.Index>, String)?
            for s in specials {
                if let r = rest.range(of: s), best == nil || r.lowerBound < best!.0.lowerBound { best = (r, s) }
            }
            guard let (range, token) = best else { break }
            if range.lowerBound > rest.startIndex { out.append(.text(String(rest[..<range.lowerBound]))) }
            out.append(.special(token))
            rest = rest[range.upperBound...]
        }
        if !rest.isEmpty { out.append(.text(String(rest))) }
        return out
    }

    /// tokenizers' NFC → Replace(\s+, " ") → Lowercase (per-character full lowercase mapping,
    /// no context-sensitive final sigma).
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        let nfc = text.precomposedStringWithCanonicalMapping
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(nfc.unicodeScalars.count)
        var inSpace = false
        for s in nfc.unicodeScalars {
            if isSpace(s) {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            let lower = s.properties.lowercaseMapping
            if lower.unicodeScalars.count == 1, lower.unicodeScalars.first == s {
                out.append(s)
            } else {
                out.append(contentsOf: lower.unicodeScalars)
            }
        }
        return out
    }

    /// Oniguruma's Unicode \s: the White_Space property.
    @inline(__always) static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }
    private static let specialPieces: [[Unicode.Scalar]] = [bosToken, eosToken].map { Array($0.unicodeScalars) }

    /// The matches of
    ///   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
    /// scanned left to right, trying the alternatives in order at each position like a
    /// backtracking regex engine (so "!'s" is "!'" then "s", not "!" then "'s").
    static func preTokenize(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var pieces: [[Unicode.Scalar]] = []
        var i = 0
        let n = s.count
        func hasPrefix(_ p: [Unicode.Scalar], at i: Int) -> Bool {
            guard i + p.count <= n else { return false }
            for k in 0..<p.count where s[i + k] != p[k] { return false }
            return true
        }
        scan: while i < n {
            for p in specialPieces where hasPrefix(p, at: i) {
                // ByteLevel(use_regex=True) then re-splits each piece with GPT-2's pattern. For
                // every other alternative that is a no-op, but "<|endoftext|>" becomes
                // "<|", "endoftext", "|>" (punctuation run, letter run, punctuation run).
                pieces.append(Array(p[0..<2]))
                pieces.append(Array(p[2..<(p.count - 2)]))
                pieces.append(Array(p[(p.count - 2)...]))
                i += p.count
                continue scan
            }
            if s[i] == "'" {
                for c in contractions where hasPrefix(c, at: i + 1) {
                    pieces.append(Array(s[i...(i + c.count)]))
                    i += 1 + c.count
                    continue scan
                }
            }
            let c = s[i]
            if isSpace(c) {
                i += 1
            } else if isLetter(c) {
                var j = i + 1
                while j < n, isLetter(s[j]) { j += 1 }
                pieces.append(Array(s[i..<j]))
                i = j
            } else if isNumber(c) {
                pieces.append([c])
                i += 1
            } else {
                var j = i + 1
                while j < n, !isSpace(s[j]), !isLetter(s[j]), !isNumber(s[j]) { j += 1 }
                pieces.append(Array(s[i..<j]))
                i = j
            }
        }
        return pieces
    }

    /// GPT-2's reversible table mapping each byte to a printable character, so that BPE can work
    /// on strings: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
    static func bytesToUnicode() -> [String] {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var table = [String](repeating: "", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = String(Unicode.Scalar(UInt32(c))!) }
        return table
    }

    // MARK: - BPE

    /// Merges the lowest-ranked adjacent pair (every occurrence, left to right) until none is in
    /// merges.txt; the last symbol carries "</w>".
    func bpe(_ piece: [Unicode.Scalar]) -> [Int] {
        var bytesString = ""
        var word: [String] = []
        for b in String(String.UnicodeScalarView(piece)).utf8 {
            word.append(byteEncoder[Int(b)])
            bytesString += byteEncoder[Int(b)]
        }
        if let hit = lock.withLock({ cache[bytesString] }) { return hit }
        guard !word.isEmpty else { return [] }
        word[word.count - 1] += "</w>"
        while word.count > 1 {
            var best = Int.max
            var bestPair: Pair?
            for k in 0..<(word.count - 1) {
                let p = Pair(a: word[k], b: word[k + 1])
                if let r = ranks[p], r < best { best = r; bestPair = p }
            }
            guard let pair = bestPair else { break }
            var merged: [String] = []
            merged.reserveCapacity(word.count)
            var k = 0
            while k < word.count {
                if k + 1 < word.count, word[k] == pair.a, word[k + 1] == pair.b {
                    merged.append(pair.a + pair.b)
                    k += 2
                } else {
                    merged.append(word[k])
                    k += 1
                }
            }
            word = merged
        }
        // A symbol missing from vocab.json becomes the unknown token, which for CLIP is <|endoftext|>.
        let ids = word.map { vocab[$0] ?? eosID }
        lock.withLock {
            // Bounded so a long-running pipeline over free-form captions cannot grow it forever.
            if cache.count >= 100_000 { cache.removeAll(keepingCapacity: true) }
            cache[bytesString] = ids
        }
        return ids
    }
}
