import Foundation
import XCTest
@testable import Store

/// A shard written by the version-1 capfilt (filter with ITC and a CLIP score over three inputs; made
/// with the release binary of commit a036fdf) opens under version 2 in place, with every row kept.
final class ShardMigrationTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/v1-shard.sqlite")

    func testVersion1ShardIsUpgradedInPlace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-migrate-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let shard = dir.appendingPathComponent("shard-00000.sqlite")
        try FileManager.default.copyItem(at: ShardMigrationTests.fixture, to: shard)
        let before = try Database(path: shard.path, readOnly: true)
        XCTAssertEqual(try before.scalar("PRAGMA user_version").int, 1)
        let scores = try before.query("SELECT text_id, media_id, metric, model, value, kept FROM scores ORDER BY 1, 2, 3")
        let pairs = try before.query("SELECT uri, frame_idx, text, kept FROM pairs ORDER BY 1, 2, 3")
        XCTAssertEqual(scores.count, 9)

        let store = try ShardStore(directory: dir)
        let index = try store.index()
        XCTAssertEqual(index.count, 3)
        try store.close()
        let after = try Database(path: shard.path, readOnly: true)
        XCTAssertEqual(try after.scalar("PRAGMA user_version").int, Int64(ShardSchema.version))
        XCTAssertTrue(try after.query("SELECT text_id, media_id, metric, model, value, kept FROM scores ORDER BY 1, 2, 3") == scores)
        XCTAssertTrue(try after.query("SELECT uri, frame_idx, text, kept FROM pairs ORDER BY 1, 2, 3") == pairs)
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM scores WHERE stage IN ('filter', 'score')").int, 9)
        XCTAssertEqual(try after.scalar("PRAGMA integrity_check").text, "ok")
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM live_sources").int, 3)
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM pragma_table_info('media') WHERE name = 'language'").int, 1)

        // Retiring takes an input out of every view; prune deletes it.
        let hash = try XCTUnwrap(index.keys.sorted().first)
        let reopened = try ShardStore(directory: dir)
        try reopened.retire(hashes: [hash], shard: "shard-00000.sqlite", run: "r-test")
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM live_sources").int, 2)
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM sources").int, 3)
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM pairs WHERE source_id = (SELECT id FROM sources WHERE content_hash = ?)", [hash]).int, 0)
        XCTAssertEqual(try reopened.prune(), 1)
        XCTAssertEqual(try after.scalar("SELECT COUNT(*) FROM sources").int, 2)

        // An audio row's language is written and read back.
        var input = InputWrite(source: SourceRow(contentHash: "audio-language", uri: "/x.mka", status: "ok"))
        var audio = MediaRow(kind: "audio", idx: 0, tStart: 0, tEnd: 1, format: "f32le", data: [0, 0, 0, 0])
        audio.language = "fra"
        input.media = [audio]
        try reopened.write(input)
        XCTAssertEqual(try reopened.load(hash: "audio-language", shard: "shard-00000.sqlite")?.media.first?.language, "fra")
        try reopened.close()
    }
}
