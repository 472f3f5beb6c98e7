import Foundation
import XCTest

/// `capfilt tokenize` on a BLIP/BERT folder and `capfilt match` against transformers' numbers for the
/// tiny BLIP retrieval fixture (its expected.json, written by tools/make_fixtures.sh).
final class MatchCommandTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BLIPTests/Fixtures")

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "capfilt not built at \(CLITests.binary.path)")
    }

    func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("blip-itm-tiny/expected.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testTokenizeReadsAWordPieceFolder() throws {
        let e = try expected()
        let texts = try XCTUnwrap(e["texts"] as? [String]), ids = try XCTUnwrap(e["input_ids"] as? [[Int]])
        for (text, padded) in zip(texts, ids) {
            let r = try runCapfilt(["tokenize", "--model", fixtures.appendingPathComponent("blip-itm-tiny").path, text])
            XCTAssertEqual(r.code, 0, r.err)
            let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
            XCTAssertEqual(out["tokenizer"] as? String, "bert-wordpiece")
            // The fixture's ids are padded with [PAD] (0) to the longest text.
            var want = padded
            while want.last == 0 { want.removeLast() }
            XCTAssertEqual(out["ids"] as? [Int], want, text)
        }
        let none = try runCapfilt(["tokenize", "--model", fixtures.path, "x"])
        XCTAssertEqual(none.code, 64)
        XCTAssertTrue(none.err.contains("neither vocab.json + merges.txt (CLIP) nor vocab.txt (BLIP/BERT)"), none.err)
    }

    /// The fixture image's raw RGB, written as a PPM (lossless), scored by `match` as transformers did.
    func testMatchPrintsITMProbabilityAndITCCosine() throws {
        let e = try expected()
        let texts = try XCTUnwrap(e["texts"] as? [String])
        let itm = try XCTUnwrap(e["itm_probability"] as? [[Double]]), itc = try XCTUnwrap(e["itc_cosine"] as? [[Double]])
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("images/images.json"))) as? [[String: Any]])
        let (w, h) = (try XCTUnwrap(info[0]["width"] as? Int), try XCTUnwrap(info[0]["height"] as? Int))
        var ppm = Data("P6\n\(w) \(h)\n255\n".utf8)
        ppm.append(try Data(contentsOf: fixtures.appendingPathComponent("images/img0.bin")))
        let image = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-match-\(getpid()).ppm")
        try ppm.write(to: image)
        defer { try? FileManager.default.removeItem(at: image) }
        let r = try runCapfilt(["match", "--model", fixtures.appendingPathComponent("blip-itm-tiny").path, image.path] + texts)
        XCTAssertEqual(r.code, 0, r.err)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        let scores = try XCTUnwrap(out["scores"] as? [[String: Any]])
        XCTAssertEqual(scores.map { $0["text"] as? String }, texts)
        for (i, s) in scores.enumerated() {
            XCTAssertEqual(try XCTUnwrap(s["itm"] as? Double), itm[0][i], accuracy: 1e-4, texts[i])
            XCTAssertEqual(try XCTUnwrap(s["itc"] as? Double), itc[0][i], accuracy: 1e-4, texts[i])
        }
    }
}
