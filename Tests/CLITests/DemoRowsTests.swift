import Foundation
import XCTest

/// The rows `make demo` writes, against a dump taken before the pipeline was reshaped (issue 9):
/// the same sources (MKV bytes carry a random segment id, so not by hash), frames (SHA-3 of their bytes), texts, pairs and kept flags exactly, and every
/// score within 1e-5 (the kernels may reorder float sums; a wrong pairing or model moves a score far
/// more). `CAPFILT_WRITE_DEMO_ROWS=1` rewrites the expected file after a deliberate change.
final class DemoRowsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let expected = root.appendingPathComponent("Tests/CLITests/Fixtures/demo-rows.txt")

    func testDemoRunWritesTheRowsItWroteBeforeTheRefactor() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "capfilt not built")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 not installed")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-demo-rows-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let synth = try runCapfilt(["synth", dir.appendingPathComponent("demo-media").path, "--videos", "8", "--images", "4", "--seed", "7"])
        XCTAssertEqual(synth.code, 0, synth.err)
        var yaml = try String(contentsOf: DemoRowsTests.root.appendingPathComponent("pipelines/demo.yaml"), encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "../out/", with: "").replacingOccurrences(of: "../models/", with: DemoRowsTests.root.path + "/models/")
        let pipeline = dir.appendingPathComponent("demo.yaml")
        try Data(yaml.utf8).write(to: pipeline)
        let run = try runCapfilt(["run", pipeline.path, "--quiet"])
        XCTAssertEqual(run.code, 1, "the demo's hostile files fail\n\(run.err)")
        let got = try dump(shard: dir.appendingPathComponent("demo/shard-00000.sqlite").path, prefix: dir.path + "/")

        if ProcessInfo.processInfo.environment["CAPFILT_WRITE_DEMO_ROWS"] == "1" {
            try FileManager.default.createDirectory(at: DemoRowsTests.expected.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(got.joined(separator: "\n").utf8).write(to: DemoRowsTests.expected)
        }
        let want = try String(contentsOf: DemoRowsTests.expected, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(got.count, want.count, "row count")
        var maxDiff = 0.0, mismatches = 0
        for (g, w) in zip(got, want) where g != w {
            // Score lines end in a value: compare those numerically, everything else exactly.
            let gp = g.split(separator: "|", omittingEmptySubsequences: false), wp = w.split(separator: "|", omittingEmptySubsequences: false)
            if gp.first == "score", gp.count == wp.count, gp.dropLast() == wp.dropLast(), let a = Double(gp.last!), let b = Double(wp.last!) {
                maxDiff = max(maxDiff, abs(a - b))
                continue
            }
            mismatches += 1
            if mismatches <= 10 { XCTFail("row differs\n got: \(g)\nwant: \(w)") }
        }
        print("demo rows: \(got.count) rows, \(mismatches) differ, scores max |Δ| \(maxDiff)")
        XCTAssertEqual(mismatches, 0)
        XCTAssertLessThan(maxDiff, 1e-5)
    }

    /// Every user-visible row in a stable order, paths relative to the corpus, no run ids or times.
    func dump(shard: String, prefix: String) throws -> [String] {
        let p = "'\(prefix)'"
        let queries = [
            "SELECT 'source', replace(uri, \(p), ''), status, coalesce(replace(error, \(p), ''), ''), coalesce(kind, ''), coalesce(width, ''), coalesce(height, '') FROM sources ORDER BY 2",
            "SELECT 'media', replace(s.uri, \(p), ''), m.kind, m.idx, m.t_start, coalesce(m.t_end, ''), coalesce(m.width, ''), coalesce(m.height, ''), m.format, hex(sha3(m.data)) FROM media m JOIN sources s ON s.id = m.source_id ORDER BY 2, 3, 4",
            "SELECT 'text', replace(s.uri, \(p), ''), t.origin, coalesce(m.idx, ''), t.text, coalesce(t.t_start, ''), coalesce(t.t_end, ''), coalesce(t.external_id, ''), coalesce(t.producer, ''), coalesce(json_remove(t.settings, '$.score'), '') FROM texts t JOIN sources s ON s.id = t.source_id LEFT JOIN media m ON m.id = t.media_id ORDER BY 2, 3, 4, 5, 10",
            "SELECT 'pair', replace(uri, \(p), ''), t, origin, text, kept FROM capfilt_result ORDER BY 2, 3, 4, 5",
            "SELECT 'score', replace(s.uri, \(p), ''), m.idx, t.origin, t.text, sc.metric, sc.model, coalesce(sc.threshold, ''), coalesce(sc.kept, ''), sc.value FROM scores sc JOIN texts t ON t.id = sc.text_id JOIN media m ON m.id = sc.media_id JOIN sources s ON s.id = m.source_id ORDER BY 2, 3, 4, 5, 6",
            "SELECT 'score', replace(s.uri, \(p), ''), m.idx, t.origin, t.text, 'caption', t.producer, '', '', json_extract(t.settings, '$.score') FROM texts t JOIN sources s ON s.id = t.source_id JOIN media m ON m.id = t.media_id WHERE t.origin = 'synthetic' ORDER BY 2, 3, 5",
            "SELECT 'model', id, kind FROM models ORDER BY 2",
        ]
        var lines: [String] = []
        for q in queries {
            let out = try XCTUnwrap(try runCapfiltSQL(shard, q))
            lines += out.split(separator: "\n").map(String.init)
        }
        return lines
    }
}
