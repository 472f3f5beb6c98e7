import Foundation
import Models
import XCTest

final class CLIPTokenizerTests: XCTestCase {
    /// Every case in tokenizer/cases.json (≥200 strings: unicode, accents, emoji, punctuation runs,
    /// numbers, over-long inputs) must give exactly transformers' CLIPTokenizer ids.
    func testIdsMatchTransformers() throws {
        let tok = try CLIPTokenizer(directory: Fixtures.url("tokenizer"))
        let cases = try Fixtures.json("tokenizer/cases.json")
        let texts = cases["texts"] as! [String]
        let expected = (cases["input_ids"] as! [[Int]])
        XCTAssertGreaterThanOrEqual(texts.count, 200)
        var mismatches = 0
        for (text, ids) in zip(texts, expected) {
            let got = tok.encode(text)
            if got != ids {
                mismatches += 1
                XCTFail("\(text.debugDescription): got \(got), expected \(ids)")
            }
        }
        print("tokenizer: \(texts.count - mismatches)/\(texts.count) strings identical to transformers, "
              + "\(expected.filter { $0.count == 77 }.count) truncated to 77")
    }

    func testTruncationKeepsStartAndEnd() throws {
        let tok = try CLIPTokenizer(directory: Fixtures.url("tokenizer"))
        let ids = tok.encode(String(repeating: "word ", count: 200))
        XCTAssertEqual(ids.count, 77)
        XCTAssertEqual(ids.first, tok.bosID)
        XCTAssertEqual(ids.last, tok.eosID)
    }
}
