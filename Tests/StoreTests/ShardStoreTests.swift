import Foundation
import XCTest
@testable import Store

final class ShardStoreTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-store-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
    }

    func input(_ hash: String, frames: Int = 2, bytes: Int = 100) -> InputWrite {
        var w = InputWrite(source: SourceRow(contentHash: hash, uri: "/in/\(hash).mp4", status: "ok"))
        for i in 0..<frames { w.media.append(MediaRow(kind: "frame", idx: i, tStart: Double(i), format: "jpeg", data: [UInt8](repeating: UInt8(i), count: bytes))) }
        w.texts = [TextRow(origin: "web", text: "alt \(hash)"), TextRow(origin: "synthetic", text: "cap", mediaIndex: 0)]
        w.links = (0..<frames).map { .init(text: 0, media: $0) } + [.init(text: 1, media: 0)]
        w.scores = [ScoreRow(text: 0, media: 0, metric: "clip", model: "m", value: 0.2, threshold: 0.25, kept: false),
                    ScoreRow(text: 1, media: 0, metric: "clip", model: "m", value: 0.31, threshold: 0.25, kept: true)]
        return w
    }

    func testSchemaFileMatchesTheSchemaCapfiltCreates() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("schemas/shard.sql"), encoding: .utf8)
        XCTAssertEqual(file.trimmingCharacters(in: .whitespacesAndNewlines), ShardSchema.sql.trimmingCharacters(in: .whitespacesAndNewlines),
                       "regenerate with: capfilt inspect --schema > schemas/shard.sql")
    }

    func testWriteViewsAndReplace() throws {
        var store: ShardStore! = try ShardStore(directory: dir)
        try store.beginRun(RunRecord(id: "r1", pipelineName: "t", pipelineHash: "h", pipelineYAML: nil, capfiltVersion: "x", host: "h", startedAt: "2026-01-01T00:00:00Z"))
        try store.write(input("a"))
        try store.write(input("b", frames: 3))
        var db: Database! = try Database(path: dir.appendingPathComponent("shard-00000.sqlite").path)
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM pairs").int, 2 + 1 + 3 + 1)
        // The web text on frame 0 was dropped by its score: one pair fewer per input.
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM curated_pairs").int, 7 - 2)
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM pairs WHERE NOT kept AND text LIKE 'alt%' AND frame_idx = 0").int, 2)
        // Re-thresholding in SQL, no recompute:
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM scores WHERE metric = 'clip' AND value >= 0.15").int, 4)
        // Replacing an input removes all its old rows (cascade).
        let index = try store.index()
        try store.write(input("a", frames: 1), replacing: index["a"])
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM sources").int, 2)
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM media WHERE source_id = (SELECT id FROM sources WHERE content_hash = 'a')").int, 1)
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM scores").int, 4)
        try store.finishRun(status: "ok", exitCode: 0, stats: "{}")
        XCTAssertFalse(try store.close(), "an open reader keeps the shard in WAL mode")
        XCTAssertEqual(try db.scalar("SELECT status FROM runs").text, "ok")
        XCTAssertEqual(try db.scalar("PRAGMA integrity_check").text, "ok")
        db = nil
        store = nil
        let reopened = try ShardStore(directory: dir)
        XCTAssertTrue(try reopened.close(), "with the reader gone, closing finalizes")
        XCTAssertEqual(try Database(path: dir.appendingPathComponent("shard-00000.sqlite").path, readOnly: true).scalar("PRAGMA journal_mode").text, "delete")
    }

    func testPageLimitFailsCleanlyAndTheShardStaysValid() throws {
        let store = try ShardStore(directory: dir, pageLimit: 40)
        var written = 0
        var failure: SQLiteError? = nil
        for i in 0..<100 {
            do { try store.write(input("h\(i)", frames: 4, bytes: 4_000)); written += 1 } catch let e as SQLiteError { failure = e; break }
        }
        let e = try XCTUnwrap(failure, "a 40-page shard must fill up")
        XCTAssertTrue(e.isStorageFailure, "\(e)")
        XCTAssertTrue(e.description.contains("full"), "\(e)")
        try store.close()
        let db = try Database(path: dir.appendingPathComponent("shard-00000.sqlite").path)
        XCTAssertEqual(try db.scalar("PRAGMA integrity_check").text, "ok")
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM sources").int, Int64(written), "the failed input left no rows")
        XCTAssertEqual(try db.scalar("SELECT COUNT(*) FROM media").int, Int64(written * 4))
        // Without the limit the same shard takes the rest.
        let again = try ShardStore(directory: dir)
        XCTAssertEqual(try again.index().count, written)
        try again.write(input("h\(written)", frames: 4, bytes: 4_000))
        XCTAssertEqual(try again.index().count, written + 1)
    }

    func testDuplicateLeftByAnInterruptedCrossShardReplaceIsResolved() throws {
        let store = try ShardStore(directory: dir, budget: ShardBudget(maxMediaRows: 2))
        try store.write(input("x"))
        try store.write(input("y"))   // rotates: y goes to shard 1
        XCTAssertEqual(ShardStore.shardFiles(in: dir).count, 2)
        // Simulate a crash between the insert in shard 1 and the delete in shard 0.
        let s1 = try Database(path: dir.appendingPathComponent("shard-00001.sqlite").path)
        try s1.execute("UPDATE sources SET created_at = '9999' WHERE content_hash = 'y'")
        try store.write(input("x", frames: 1), replacing: nil)
        let index = try store.index()
        XCTAssertEqual(index.count, 2)
        let total = try ShardStore.shardFiles(in: dir).map { try Database(path: $0.path).scalar("SELECT COUNT(*) FROM sources WHERE content_hash = 'x'").int ?? 0 }.reduce(0, +)
        XCTAssertEqual(total, 1, "the older copy was deleted")
    }

    func testSQLErrorsCarrySQLitesMessage() throws {
        let db = try Database(path: ":memory:")
        XCTAssertThrowsError(try db.execute("SELEC 1")) { XCTAssertTrue("\($0)".contains("syntax error"), "\($0)") }
        XCTAssertThrowsError(try Database(path: "/nonexistent/dir/x.sqlite")) { XCTAssertTrue("\($0)".contains("unable to open"), "\($0)") }
    }
}
