import Foundation
import XCTest
@testable import Store

/// texts_fts: kept in step by triggers, upgraded into version 1 shards, and usable by the read side.
final class TextSearchTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-fts-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
    }

    func input(_ hash: String, _ texts: [String]) -> InputWrite {
        var w = InputWrite(source: SourceRow(contentHash: hash, uri: "/in/\(hash).jpg", status: "ok"))
        w.media = [MediaRow(kind: "frame", idx: 0, tStart: 0, format: "jpeg", data: [1, 2, 3])]
        w.texts = texts.map { TextRow(origin: "web", text: $0) }
        w.links = texts.indices.map { .init(text: $0, media: 0) }
        return w
    }

    func matches(_ db: Database, _ q: String) throws -> [String] {
        try db.query("SELECT t.text FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid WHERE texts_fts MATCH ? ORDER BY t.id", [q]).map { $0[0].text ?? "" }
    }

    func testIndexFollowsInsertsReplacesAndDeletes() throws {
        let store = try ShardStore(directory: dir)
        try store.write(input("a", ["A red Café by the sea", "<script>x</script> bicycle"]))
        try store.write(input("b", ["a blue boat", "red boats at night"]))
        let db = try Database(path: dir.appendingPathComponent("shard-00000.sqlite").path)
        XCTAssertEqual(try matches(db, "red"), ["A red Café by the sea", "red boats at night"])
        XCTAssertEqual(try matches(db, "cafe"), ["A red Café by the sea"], "diacritics folded")
        XCTAssertEqual(try matches(db, "boat*"), ["a blue boat", "red boats at night"])
        XCTAssertEqual(try matches(db, "script"), ["<script>x</script> bicycle"])
        // Replacing an input deletes its texts through the cascade; the index must forget them too.
        try store.write(input("a", ["green tree"]), replacing: try store.index()["a"])
        XCTAssertEqual(try matches(db, "red"), ["red boats at night"])
        XCTAssertEqual(try matches(db, "green"), ["green tree"])
        try store.deleteSource(hash: "b", shard: "shard-00000.sqlite")
        XCTAssertEqual(try matches(db, "red"), [])
        XCTAssertNoThrow(try db.execute("INSERT INTO texts_fts(texts_fts, rank) VALUES ('integrity-check', 1)"))
        try store.close()
    }

    func testVersion2ShardIsUpgradedInPlaceOnOpen() throws {
        do {
            let store = try ShardStore(directory: dir)
            try store.write(input("a", ["an old caption about a train"]))
            try store.close()
        }
        // Make it a version 2 shard, as written before texts_fts existed (version 1 shards go through the
        // same step after their own; StoreTests/Fixtures has one written by the version 1 binary).
        let path = dir.appendingPathComponent("shard-00000.sqlite").path
        do {
            let db = try Database(path: path)
            try db.execute("""
                DROP TRIGGER texts_fts_insert; DROP TRIGGER texts_fts_delete; DROP TRIGGER texts_fts_update; DROP TABLE texts_fts;
                PRAGMA user_version=2;
                """)
        }
        XCTAssertEqual(try DatasetReader(directory: dir).hasTextIndex, [false])
        let store = try ShardStore(directory: dir)
        try store.close()
        let db = try Database(path: path, readOnly: true)
        XCTAssertEqual(try db.scalar("PRAGMA user_version").int, Int64(ShardSchema.version))
        XCTAssertEqual(try matches(db, "train"), ["an old caption about a train"], "existing texts indexed by the upgrade")
        XCTAssertEqual(try DatasetReader(directory: dir).hasTextIndex, [true])
    }

    func testVersion1ShardFromTheVersion1BinaryGetsItsTextsIndexed() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/v1-shard.sqlite")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture, to: dir.appendingPathComponent("shard-00000.sqlite"))
        try ShardStore(directory: dir).close()
        let db = try Database(path: dir.appendingPathComponent("shard-00000.sqlite").path, readOnly: true)
        XCTAssertEqual(try db.scalar("PRAGMA user_version").int, Int64(ShardSchema.version))
        XCTAssertEqual(try matches(db, "white"), ["a white circle on a orange background", "three red squares on a white background",
                                                  "two white triangles moving down on a yellow background"])
        XCTAssertEqual(try matches(db, "triangle*"), ["two white triangles moving down on a yellow background"])
    }

    func testSearchWordsAreQuotedForFTS() throws {
        XCTAssertEqual(PairFilter.ftsQuery("red car"), "\"red\" \"car\"")
        XCTAssertEqual(PairFilter.ftsQuery("bo* \"x"), "\"bo\"* \"\"\"x\"")
        XCTAssertNil(PairFilter.ftsQuery("  * "))
        let store = try ShardStore(directory: dir)
        try store.write(input("a", ["say \"hi\" (now) - ok: AND"]))
        try store.close()
        let reader = try DatasetReader(directory: dir)
        for q in ["\"hi", "(now", "ok:", "AND", "- ok", "say*"] {
            var f = PairFilter()
            f.search = q
            XCTAssertEqual(try reader.pairs(matching: f, from: nil, limit: 10).rows.count, 1, "search \(q)")
        }
    }
}
