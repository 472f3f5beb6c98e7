import Foundation
import XCTest
@testable import Export
import Store

/// Exports real shards (written by ShardStore) and reads the tars back with libarchive.
final class ExportTests: XCTestCase {
    var dir: URL!
    var shards: URL { dir.appendingPathComponent("out") }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-export-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        var d = SyntheticDataset(sources: 60)
        d.shardBudget = ShardBudget(maxMediaRows: 60)   // several shards, so export must merge them
        d.errorEvery = 10
        // Distinct bytes per frame picture, so a mixed-up image shows.
        let frames = (0..<5).map { k in [0xFF, 0xD8] + [UInt8](repeating: UInt8(k + 1), count: 40 + k) }
        try d.write(to: shards, frames: frames, format: "jpeg", width: 96, height: 64)
        XCTAssertGreaterThan(ShardStore.shardFiles(in: shards).count, 1)
    }

    /// The expected selection, straight from the shards with the sqlite API, in export order.
    func expected(_ condition: String) throws -> [(text: String, image: [UInt8], itm: Double?)] {
        var rows: [(String, [UInt8], Double?)] = []
        for url in ShardStore.shardFiles(in: shards) {
            let db = try Database(path: url.path, readOnly: true)
            for r in try db.query("""
                SELECT r.text, m.data, r.itm FROM capfilt_result r JOIN media m ON m.id = r.media_id
                WHERE \(condition) ORDER BY r.source_id, r.frame_idx, r.text_id
                """) { rows.append((r[0].text!, r[1].blob!, r[2].double)) }
        }
        return rows
    }

    func tars(_ out: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".tar") }.sorted().map { out.appendingPathComponent($0) }
    }

    func testWebDatasetTarsReadBackInOrder() throws {
        let out = dir.appendingPathComponent("wds")
        let result = try DatasetExporter(format: .webDataset, shardSize: 7).export(from: try DatasetReader(directory: shards), to: out)
        let want = try expected("r.kept")
        XCTAssertGreaterThan(want.count, 50)
        XCTAssertEqual(result.samples, want.count)
        let files = try tars(out)
        XCTAssertEqual(files.map(\.lastPathComponent), (0..<(want.count + 6) / 7).map { String(format: "capfilt-%05d.tar", $0) })
        var members: [ArchiveReader.Member] = []
        for (i, f) in files.enumerated() {
            let m = try ArchiveReader(path: f.path).readAll()
            XCTAssertEqual(m.count, i < files.count - 1 ? 21 : 3 * (want.count - 7 * i), f.lastPathComponent)
            members += m
        }
        XCTAssertEqual(members.count, 3 * want.count)
        var keys = Set<String>()
        for (i, w) in want.enumerated() {
            let (img, txt, js) = (members[3 * i], members[3 * i + 1], members[3 * i + 2])
            let key = String(img.name.dropLast(4))
            XCTAssertTrue(img.name.hasSuffix(".jpg") && txt.name == key + ".txt" && js.name == key + ".json", "\(img.name) \(txt.name) \(js.name)")
            XCTAssertFalse(key.contains("."), "WebDataset splits at the first dot")
            XCTAssertTrue(keys.insert(key).inserted, "duplicate key \(key)")
            XCTAssertEqual(img.data, w.image)
            XCTAssertEqual(String(decoding: txt.data, as: UTF8.self), w.text)
            let meta = try JSONDecoder().decode(SampleMetadata.self, from: Data(js.data))
            XCTAssertEqual(meta.key, key)
            XCTAssertEqual(meta.text, w.text)
            XCTAssertEqual(meta.itm, w.itm)
            XCTAssertTrue(meta.kept)
            XCTAssertEqual(Set(meta.scores.map(\.metric)), ["itm", "clip"])
            XCTAssertFalse(meta.models.isEmpty)
            XCTAssertTrue(meta.uri.hasPrefix("/corpus/"))
            XCTAssertTrue(meta.shard.hasPrefix("shard-"))
            XCTAssertEqual(img.mode, 0o644)
            XCTAssertEqual(img.mtime, 0)
        }
    }

    func testRerunWritesTheSameBytesAndANarrowerSelectionRemovesStaleTars() throws {
        let out = dir.appendingPathComponent("wds")
        let reader = try DatasetReader(directory: shards)
        _ = try DatasetExporter(format: .webDataset, shardSize: 10).export(from: reader, to: out)
        let first = try tars(out).map { try Data(contentsOf: $0) }
        _ = try DatasetExporter(format: .webDataset, shardSize: 10).export(from: try DatasetReader(directory: shards), to: out)
        XCTAssertEqual(try tars(out).map { try Data(contentsOf: $0) }, first, "same selection, same bytes")

        let narrow = "itm >= 0.7 AND clip >= 0.28"
        let r = try DatasetExporter(format: .webDataset, condition: narrow, shardSize: 10).export(from: reader, to: out)
        XCTAssertEqual(r.samples, try expected("r.itm >= 0.7 AND r.clip >= 0.28").count)
        XCTAssertLessThan(r.files.count, first.count)
        XCTAssertEqual(try tars(out).count, r.files.count, "tars from the larger export are gone")
        XCTAssertFalse(r.removed.isEmpty)
        let names = try tars(out).flatMap { try ArchiveReader(path: $0.path).readAll() }.filter { $0.name.hasSuffix(".json") }
        for m in names {
            let meta = try JSONDecoder().decode(SampleMetadata.self, from: Data(m.data))
            XCTAssertGreaterThanOrEqual(meta.itm ?? 0, 0.7)
            XCTAssertGreaterThanOrEqual(meta.clip ?? 0, 0.28)
        }
    }

    func testWhereCannotWriteAndBadSQLIsAnError() throws {
        let reader = try DatasetReader(directory: shards)
        let before = try expected("1").count
        for hostile in ["1); DELETE FROM texts; --", "kept; DELETE FROM texts", "(SELECT COUNT(*) FROM texts) > 0; DROP TABLE texts"] {
            XCTAssertThrowsError(try reader.select(where: hostile), hostile)
        }
        // A well-formed condition that tries to write through a function is refused by query_only.
        XCTAssertThrowsError(try reader.shards[0].execute("DELETE FROM texts")) { XCTAssertTrue("\($0)".contains("readonly"), "\($0)") }
        XCTAssertEqual(try expected("1").count, before)
    }

    func testImageFolderLayoutForHuggingFace() throws {
        let out = dir.appendingPathComponent("hf")
        let result = try DatasetExporter(format: .imageFolder, shardSize: 20).export(from: try DatasetReader(directory: shards), to: out)
        let want = try expected("r.kept")
        let lines = try String(contentsOf: out.appendingPathComponent("metadata.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, want.count)
        XCTAssertEqual(result.samples, want.count)
        var columns: Set<String>? = nil
        for (line, w) in zip(lines, want) {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            // Arrow infers one schema: every line must have the same columns.
            if columns == nil { columns = Set(obj.keys) } else { XCTAssertEqual(Set(obj.keys), columns) }
            let name = try XCTUnwrap(obj["file_name"] as? String)
            XCTAssertTrue(name.hasPrefix("images/000") && name.hasSuffix(".jpg"), name)
            XCTAssertEqual(obj["text"] as? String, w.text)
            XCTAssertEqual([UInt8](try Data(contentsOf: out.appendingPathComponent(name))), w.image)
        }
        XCTAssertTrue(columns!.isSuperset(of: ["file_name", "text", "origin", "itm", "clip", "kept", "uri", "t", "scores"]))
        let folders = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("images").path).sorted()
        XCTAssertEqual(folders, (0..<(want.count + 19) / 20).map { String(format: "%05d", $0) })

        let metadata = try Data(contentsOf: out.appendingPathComponent("metadata.jsonl"))
        let r2 = try DatasetExporter(format: .imageFolder, condition: "kept AND origin = 'web'").export(from: try DatasetReader(directory: shards), to: out)
        XCTAssertEqual(r2.samples, try expected("r.kept AND r.origin = 'web'").count)
        let files = FileManager.default.enumerator(atPath: out.appendingPathComponent("images").path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".jpg") }
        XCTAssertEqual(files.count, r2.samples, "images of the earlier selection removed")
        XCTAssertNotEqual(try Data(contentsOf: out.appendingPathComponent("metadata.jsonl")), metadata)
    }

    func testRefusesAFolderThatIsNotAnExport() throws {
        let out = dir.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: out.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try DatasetExporter(format: .webDataset).export(from: try DatasetReader(directory: shards), to: out)) {
            XCTAssertTrue("\($0)".contains("not empty"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("notes.txt"), encoding: .utf8), "keep me")
    }

    func testTarWriterErrorsCarryLibarchivesMessage() throws {
        XCTAssertThrowsError(try TarWriter(path: "/nonexistent/dir/x.tar")) { e in
            let a = e as? ArchiveError
            XCTAssertNotNil(a)
            XCTAssertTrue("\(e)".contains("Failed to open '/nonexistent/dir/x.tar'"), "\(e)")
        }
        XCTAssertThrowsError(try ArchiveReader(path: dir.appendingPathComponent("missing.tar").path)) { XCTAssertTrue($0 is ArchiveError) }
    }
}
