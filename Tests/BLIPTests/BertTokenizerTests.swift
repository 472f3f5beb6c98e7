import Foundation
import Models
import XCTest

/// WordPiece ids against transformers' BertTokenizer (what BlipProcessor uses) on >200 strings:
/// unicode, accents, CJK, punctuation runs, numbers, control and odd whitespace, words past
/// max_input_chars_per_word, special tokens written in the text.
final class BertTokenizerTests: XCTestCase {
    func testIdsMatchTransformers() throws {
        let tok = try BertTokenizer(directory: BLIPFixtures.url("tokenizer"))
        let cases = try BLIPFixtures.json("tokenizer/cases.json")
        let texts = cases["texts"] as! [String]
        let expected = cases["input_ids"] as! [[Int]]
        XCTAssertGreaterThanOrEqual(texts.count, 200)
        var mismatches = 0
        for (text, ids) in zip(texts, expected) {
            let mine = tok.encode(text)
            if mine != ids {
                mismatches += 1
                XCTFail("\(text.debugDescription): \(mine) != \(ids)")
            }
        }
        print("BertTokenizer: \(texts.count - mismatches)/\(texts.count) strings identical to transformers, "
              + "\(expected.filter { $0.contains(tok.unkID) }.count) with [UNK]")
    }

    func testDecodeMatchesTransformers() throws {
        let tok = try BertTokenizer(directory: BLIPFixtures.url("tokenizer"))
        let cases = try BLIPFixtures.json("tokenizer/cases.json")
        let ids = cases["decode_ids"] as! [[Int]]
        let decoded = cases["decoded"] as! [String]
        for (i, d) in zip(ids, decoded) { XCTAssertEqual(tok.decode(i, skipSpecialTokens: true), d, "\(i)") }
        print("BertTokenizer.decode: \(ids.count) sequences identical")
    }

    func testSpecialTokenIdsComeFromTheFiles() throws {
        let tok = try BertTokenizer(directory: BLIPFixtures.url("tokenizer"))
        // The tiny vocabulary puts [CLS]/[SEP] at 2/3 and appends [DEC] after it (bert-base: 101/102/30522).
        XCTAssertEqual(tok.clsID, 2)
        XCTAssertEqual(tok.sepID, 3)
        XCTAssertEqual(tok.padID, 0)
        XCTAssertEqual(tok.bosID, tok.vocab.count)
        XCTAssertEqual(tok.addedTokens["[ENC]"], tok.vocab.count + 1)
    }
}
