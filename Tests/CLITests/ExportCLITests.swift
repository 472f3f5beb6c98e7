import Foundation
import XCTest

/// `capfilt export` as a user runs it: arguments, exit codes, messages, and a rerun's bytes.
final class ExportCLITests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "capfilt not built at \(CLITests.binary.path)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-export-cli-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func testExportArgumentsExitCodesAndRerun() throws {
        let out = dir.appendingPathComponent("out").path, wds = dir.appendingPathComponent("wds").path
        XCTAssertEqual(try runCapfilt(["synth-shards", out, "--sources", "50"]).code, 0)
        let bad = try runCapfilt(["export", out, "--to", "parquet", wds])
        XCTAssertEqual(bad.code, 64, bad.err)
        XCTAssertTrue(bad.err.contains("--to takes webdataset or jsonl"), bad.err)
        let sql = try runCapfilt(["export", out, "--to", "webdataset", wds, "--where", "itm >>= 2"])
        XCTAssertEqual(sql.code, 2)
        XCTAssertTrue(sql.err.contains("syntax error"), sql.err)
        let more = try runCapfilt(["export", out, "--to", "webdataset", wds, "--where", "1); DELETE FROM texts; --"])
        XCTAssertEqual(more.code, 2)
        XCTAssertTrue(more.err.contains("one SQL expression"), more.err)

        let first = try runCapfilt(["export", out, "--to", "webdataset", wds, "--where", "itm >= 0.5", "--shard-size", "40"])
        XCTAssertEqual(first.code, 0, first.err)
        XCTAssertTrue(first.out.contains("samples in"), first.out)
        let tar = URL(fileURLWithPath: wds).appendingPathComponent("capfilt-00000.tar")
        let bytes = try Data(contentsOf: tar)
        XCTAssertEqual(try runCapfilt(["export", out, "--to", "webdataset", wds, "--where", "itm >= 0.5", "--shard-size", "40"]).code, 0)
        XCTAssertEqual(try Data(contentsOf: tar), bytes, "a rerun writes the same bytes")
        if let listing = try runCapfiltSQL(dir.appendingPathComponent("out/shard-00000.sqlite").path,
                                           "SELECT COUNT(*) FROM texts_fts WHERE texts_fts MATCH 'red'") {
            XCTAssertGreaterThan(Int(listing) ?? 0, 0, "the sqlite3 shell can search texts")
        }
    }
}
