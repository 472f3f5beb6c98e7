import Foundation
import XCTest
import Demo
import Media
@testable import Pipeline

final class IngestTests: XCTestCase {
    func testGlobs() {
        XCTAssertTrue(Glob("**/*.mp4").matches("a.mp4"))
        XCTAssertTrue(Glob("**/*.mp4").matches("x/y/a.MP4"))
        XCTAssertFalse(Glob("*.mp4").matches("x/a.mp4"))
        XCTAssertTrue(Glob("clips/??.mkv").matches("clips/ab.mkv"))
        XCTAssertFalse(Glob("clips/??.mkv").matches("clips/abc.mkv"))
        // `**/*.ext` takes a suffix test instead of the regular expression: the same answers.
        for path in ["a.mp4", "x/y/a.Mp4", "a.mp4x", "a_mp4", ".mp4", "x.mp4/y", "mp4", "x/y.MP4"] {
            XCTAssertEqual(Glob("**/*.mp4").matches(path), Glob("**/*.mp4").regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil, path)
        }
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

final class IngestFolderTests: XCTestCase {
    private func scratch(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A folder input that is a symlink (a mount point linked in) lists the files behind it, symlinked
    /// subfolders too, and a link back up the tree is walked once.
    func testSymlinkedFoldersAreFollowedWithoutLoops() throws {
        let dir = try scratch("ingest-links")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("disk/sub"), withIntermediateDirectories: true)
        try fm.createDirectory(at: dir.appendingPathComponent("other"), withIntermediateDirectories: true)
        for f in ["disk/a.mp4", "disk/sub/b.png", "other/c.jpg"] { try Data().write(to: dir.appendingPathComponent(f)) }
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("data").path, withDestinationPath: dir.appendingPathComponent("disk").path)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("disk/linked").path, withDestinationPath: "../other")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("disk/sub/loop").path, withDestinationPath: "..")
        let items = try Ingest.collect([.folder(path: dir.appendingPathComponent("data"), include: InputSpec.defaultInclude, exclude: [])])
        let data = dir.appendingPathComponent("data").path
        XCTAssertEqual(items.map(\.path), ["\(data)/a.mp4", "\(data)/linked/c.jpg", "\(data)/sub/b.png"])
    }

    /// At validate, a folder input that lists no file is a usage error saying so; a run allows it.
    func testFolderMatchingNothingIsAnErrorAtValidate() throws {
        let dir = try scratch("ingest-empty")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data().write(to: dir.appendingPathComponent("notes.txt"))
        let spec = InputSpec.folder(path: dir, include: InputSpec.defaultInclude, exclude: [])
        XCTAssertThrowsError(try Ingest.survey([spec], requireMatches: true)) {
            XCTAssertTrue($0 is IngestError)
            XCTAssertTrue("\($0)".contains("input folder \(dir.path) has no file matching include **/*.mp4"), "\($0)")
            XCTAssertEqual(ExitCode.for(error: $0), ExitCode.usage)
        }
        XCTAssertEqual(try Ingest.collect([spec]).count, 0)
    }
}

/// The default include covers the containers this FFmpeg reads: files written by its muxers (and a
/// BMP by hand) in a folder give as many inputs as files, and each decodes to frames or audio.
final class DefaultIncludeTests: XCTestCase {
    func testDefaultIncludeListsEveryFormatTheDecoderReads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-formats-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = { (codec: MediaSpec.VideoCodec) in MediaSpec.Video(codec: codec, width: 64, height: 48, fps: 10, frames: 10, gop: 5) }
        let files: [(String, MediaSpec)] = [
            ("a.ts", MediaSpec(video: video(.h264), audio: .init(codec: .aac, duration: 1))),
            ("b.m2ts", MediaSpec(video: video(.h264))),
            ("c.mts", MediaSpec(video: video(.h264))),
            ("d.mpg", MediaSpec(video: video(.mpeg4))),
            ("e.flv", MediaSpec(video: video(.h264))),
            ("f.3gp", MediaSpec(video: video(.h264))),
            ("g.wmv", MediaSpec(video: video(.mpeg4))),
            ("h.asf", MediaSpec(video: video(.mpeg4))),
            ("i.oga", MediaSpec(audio: .init(codec: .flac, duration: 1))),
            ("j.aac", MediaSpec(audio: .init(codec: .aac, duration: 1))),
            ("k.caf", MediaSpec(audio: .init(codec: .pcm, duration: 1))),
        ]
        for (name, spec) in files {
            try SyntheticMedia.write(to: dir.appendingPathComponent(name).path, spec: spec) { _ in
                RGBFrame(width: 64, height: 48) { x, _ in (UInt8(x * 4), 100, 200) }
            }
        }
        try bmp(width: 5, height: 3).write(to: dir.appendingPathComponent("l.bmp"))
        try Data("not media".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        let items = try Ingest.collect([.folder(path: dir, include: InputSpec.defaultInclude, exclude: [])])
        XCTAssertEqual(items.map { URL(fileURLWithPath: $0.path).lastPathComponent }, files.map(\.0) + ["l.bmp"])
        for item in items {
            var frames = 0
            let result = try MediaDecoder.decode(path: item.path, options: DecodeOptions(sampling: .every(seconds: 0.5))) { _ in frames += 1 }
            XCTAssertTrue(frames > 0 || !result.audio.isEmpty, "\(item.path): \(result.probe.container) gave no frame and no audio")
        }
    }

    /// A 24-bit bottom-up BMP (rows padded to 4 bytes).
    private func bmp(width: Int, height: Int) -> Data {
        let row = (width * 3 + 3) / 4 * 4
        func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * $0)) & 0xff) } }
        var d: [UInt8] = Array("BM".utf8) + le(54 + row * height, 4) + le(0, 4) + le(54, 4)
        d += le(40, 4) + le(width, 4) + le(height, 4) + le(1, 2) + le(24, 2) + le(0, 4) + le(row * height, 4) + le(2835, 4) + le(2835, 4) + le(0, 8)
        for _ in 0..<height { d += [UInt8](repeating: 128, count: width * 3) + [UInt8](repeating: 0, count: row - width * 3) }
        return Data(d)
    }
}
