import Demo
import Foundation
import Logging
import Media
import Store
import XCTest
@testable import Pipeline

/// Optional `start`/`end` on manifest rows: a web text with a span pairs only with the frames sampled
/// inside it; the span is part of the text stages' keys, so editing it redoes that input's pairs.
final class ManifestSpanTests: XCTestCase {
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("spans-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("media"), withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func manifest(_ rows: [String]) throws {
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent("alt.jsonl"))
    }

    func testSpansAreReadCheckedAndNamedByConfigurableFields() throws {
        try Data("file,caption,from,to\na.mp4,opening,0,2.5\na.mp4,whole,,\n".utf8).write(to: dir.appendingPathComponent("m.csv"))
        let items = try Ingest.collect([.manifest(path: dir.appendingPathComponent("m.csv"), format: .csv, pathField: "file", textField: "caption",
                                                  idField: "id", startField: "from", endField: "to")])
        XCTAssertEqual(items[0].webTexts.map { "\($0.text) \($0.start.map { "\($0)" } ?? "-") \($0.end.map { "\($0)" } ?? "-")" },
                       ["opening 0.0 2.5", "whole - -"])
        XCTAssertEqual(items[0].webTexts[1].identity, "manifest:m.csv\t\twhole", "no span: the key material of before")
        try manifest([#"{"path": "a.mp4", "text": "t", "start": 3, "end": 1}"#])
        XCTAssertThrowsError(try Ingest.collect([.manifest(path: dir.appendingPathComponent("alt.jsonl"), format: .jsonl, pathField: "path",
                                                           textField: "text", idField: "id")])) {
            XCTAssertTrue("\($0)".hasSuffix("alt.jsonl:1: 'end' (1.0) must be after 'start' (3.0)"), "\($0)")
        }
        try manifest([#"{"path": "a.mp4", "text": "t", "start": "soon"}"#])
        XCTAssertThrowsError(try Ingest.collect([.manifest(path: dir.appendingPathComponent("alt.jsonl"), format: .jsonl, pathField: "path",
                                                           textField: "text", idField: "id")])) {
            XCTAssertTrue("\($0)".contains("'start' must be a number of seconds ≥ 0; found 'soon'"), "\($0)")
        }
        let yaml = "inputs:\n  - manifest: m.csv\n    start_field: from\n    end_field: to\noutput: {dir: o}\nstages: [{stage: decode}]\n"
        XCTAssertEqual(try PipelineConfig.parse(yaml: yaml, file: dir.appendingPathComponent("p.yaml").path).inputs,
                       [.manifest(path: dir.appendingPathComponent("m.csv"), format: .csv, pathField: "path", textField: "text", idField: "id",
                                  startField: "from", endField: "to")])
    }

    func pairs(_ out: String) throws -> [String] {
        let db = try Database(path: dir.appendingPathComponent("\(out)/shard-00000.sqlite").path, readOnly: true)
        return try db.query("SELECT text, t FROM pairs ORDER BY text, t").map { "\($0[0].text!) \($0[1].double!)" }
    }

    func scores(_ out: String) throws -> [String] {
        let db = try Database(path: dir.appendingPathComponent("\(out)/shard-00000.sqlite").path, readOnly: true)
        return try db.query("SELECT t.text, m.t_start, sc.value FROM scores sc JOIN texts t ON t.id = sc.text_id JOIN media m ON m.id = sc.media_id ORDER BY 1, 2")
            .map { "\($0[0].text!) \($0[1].double!) \($0[2].double!)" }
    }

    func run(_ out: String) throws -> RunSummary {
        // A text stage (score reads web texts): from it on, the keys cover the web texts and their spans.
        let clip = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/demo-clip").path
        let yaml = "inputs:\n  - manifest: alt.jsonl\noutput: {dir: \(out)}\nworkers: 1\nstages:\n  - {stage: decode, sample: every 1s, audio: false}\n"
            + "  - {stage: score, model: \(clip)}\n"
        let path = dir.appendingPathComponent("p.yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return try PipelineRunner(logger: quiet, config: try PipelineConfig.load(path: path)).run()
    }

    func testATextWithASpanPairsOnlyWithItsFramesAndAnEditedSpanIsRewritten() throws {
        try SyntheticMedia.write(to: dir.appendingPathComponent("media/clip.mp4").path,
                                 spec: MediaSpec(video: .init(codec: .h264, width: 32, height: 24, fps: 10, frames: 40, gop: 10))) { i in
            RGBFrame(width: 32, height: 24) { _, _ in (UInt8(i * 5), 80, 160) }
        }
        try manifest([#"{"path": "media/clip.mp4", "text": "opening", "start": 0, "end": 2}"#,
                      #"{"path": "media/clip.mp4", "text": "whole"}"#,
                      #"{"path": "media/clip.mp4", "text": "late", "start": "2.5"}"#])
        _ = try run("out")
        XCTAssertEqual(try pairs("out"), ["late 3.0", "opening 0.0", "opening 1.0", "whole 0.0", "whole 1.0", "whole 2.0", "whole 3.0"])
        try manifest([#"{"path": "media/clip.mp4", "text": "opening", "start": 0, "end": 3}"#,
                      #"{"path": "media/clip.mp4", "text": "whole"}"#,
                      #"{"path": "media/clip.mp4", "text": "late", "start": "2.5"}"#])
        let edited = try run("out")
        XCTAssertEqual(edited.changed, 1, "the edited span is seen")
        XCTAssertNil(edited.counters("decode")["in"], "only the text stage reruns: nothing is decoded")
        XCTAssertEqual(try pairs("out"), ["late 3.0", "opening 0.0", "opening 1.0", "opening 2.0", "whole 0.0", "whole 1.0", "whole 2.0", "whole 3.0"])
        _ = try run("fresh")
        XCTAssertEqual(try pairs("out"), try pairs("fresh"))
        XCTAssertEqual(try scores("out"), try scores("fresh"))
        XCTAssertEqual(try scores("out").count, 8, "one score per pair")
    }
}
