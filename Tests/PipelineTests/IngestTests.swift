import Foundation
import XCTest
@testable import Pipeline

final class IngestTests: XCTestCase {
    func testGlobs() {
        XCTAssertTrue(Glob("**/*.mp4").matches("a.mp4"))
        XCTAssertTrue(Glob("**/*.mp4").matches("x/y/a.MP4"))
        XCTAssertFalse(Glob("*.mp4").matches("x/a.mp4"))
        XCTAssertTrue(Glob("clips/??.mkv").matches("clips/ab.mkv"))
        XCTAssertFalse(Glob("clips/??.mkv").matches("clips/abc.mkv"))
    }

    func testCSVQuotingAndTSV() {
        let rows = DelimitedText.parse("path,text,id\n\"a,b.mp4\",\"she said \"\"hi\"\"\nnext line\",7\nc.mp4,plain,8\n", separator: ",")
        XCTAssertEqual(rows, [["path", "text", "id"], ["a,b.mp4", "she said \"hi\"\nnext line", "7"], ["c.mp4", "plain", "8"]])
        XCTAssertEqual(DelimitedText.parse("path\ttext\nx.png\ta cat\n", separator: "\t"), [["path", "text"], ["x.png", "a cat"]])
    }

    func testFoldersAndManifestsMerge() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("v/sub"), withIntermediateDirectories: true)
        for f in ["v/a.mp4", "v/sub/b.mkv", "v/c.txt", "v/skip.mp4"] { try Data().write(to: dir.appendingPathComponent(f)) }
        try Data("{\"path\": \"v/a.mp4\", \"text\": \"a dog\", \"id\": 1}\n\n{\"path\": \"v/a.mp4\", \"text\": \"a brown dog\", \"id\": \"2\"}\n".utf8)
            .write(to: dir.appendingPathComponent("m.jsonl"))
        try Data("path\ttext\nv/sub/b.mkv\ta cat\nother.png\t\n".utf8).write(to: dir.appendingPathComponent("m.tsv"))
        let items = try Ingest.collect([
            .folder(path: dir.appendingPathComponent("v"), include: InputSpec.defaultInclude, exclude: ["skip.*"]),
            .manifest(path: dir.appendingPathComponent("m.jsonl"), format: .jsonl, pathField: "path", textField: "text", idField: "id"),
            .manifest(path: dir.appendingPathComponent("m.tsv"), format: .tsv, pathField: "path", textField: "text", idField: "id"),
        ])
        XCTAssertEqual(items.map { URL(fileURLWithPath: $0.path).lastPathComponent }, ["other.png", "a.mp4", "b.mkv"])
        let a = try XCTUnwrap(items.first { $0.path.hasSuffix("a.mp4") })
        XCTAssertEqual(a.webTexts.map(\.text), ["a dog", "a brown dog"])
        XCTAssertEqual(a.webTexts.map(\.id), ["1", "2"])
        XCTAssertEqual(a.externalID, "1")
        XCTAssertEqual(items.first { $0.path.hasSuffix("b.mkv") }?.webTexts.map(\.text), ["a cat"])
        XCTAssertThrowsError(try Ingest.collect([.manifest(path: dir.appendingPathComponent("m.tsv"), format: .tsv, pathField: "file", textField: "text", idField: "id")])) {
            XCTAssertTrue("\($0)".contains("m.tsv: no row has the field 'file' (path_field); the rows have: path, text"), "\($0)")
        }
        // A wrong text_field would drop every alt-text silently: it is an error naming the fields seen.
        XCTAssertThrowsError(try Ingest.collect([.manifest(path: dir.appendingPathComponent("m.jsonl"), format: .jsonl, pathField: "path", textField: "caption", idField: "id")])) {
            XCTAssertTrue("\($0)".contains("m.jsonl: no row has the field 'caption' (text_field); the rows have: id, path, text"), "\($0)")
            XCTAssertEqual(ExitCode.for(error: $0), ExitCode.usage)
        }
        let (_, report) = try Ingest.survey([.manifest(path: dir.appendingPathComponent("m.tsv"), format: .tsv, pathField: "path", textField: "text", idField: "id")])
        XCTAssertEqual(report.manifestRows, 2)
        XCTAssertEqual(report.rowsWithoutFile, 1, "other.png does not exist")
    }
}
