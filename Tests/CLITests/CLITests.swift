import Foundation
import XCTest

/// Runs the real binary and collects its exit code and output.
@discardableResult
func runCapfilt(_ args: [String], binary: URL = CLITests.binary) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = binary
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// One value from the sqlite3 shell, or nil when it is not installed.
func runCapfiltSQL(_ db: String, _ sql: String) throws -> String? {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = ["-readonly", db, sql]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Runs the real `capfilt` binary: exit codes and messages are part of its interface.
final class CLITests: XCTestCase {
    static let binary: URL = {
        var dir = Bundle(for: CLITests.self).bundleURL
        while dir.pathExtension == "xctest" || dir.lastPathComponent == "Contents" { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("capfilt")
    }()

    @discardableResult
    func capfilt(_ args: [String]) throws -> (code: Int32, out: String, err: String) { try runCapfilt(args) }

    var dir: URL!
    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "capfilt not built at \(CLITests.binary.path)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-cli-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func pipeline(_ extra: String = "") throws -> String {
        let yaml = """
        name: cli
        inputs:
          - folder: media/videos
          - manifest: media/alt.jsonl
        output:
          dir: out
        stages:
          - stage: decode
            sample: every 2s\(extra)
        """
        let path = dir.appendingPathComponent("p.yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testRunSynthInspectAndExitCodes() throws {
        let synth = try capfilt(["synth", dir.appendingPathComponent("media").path, "--videos", "3", "--images", "0", "--seconds", "3", "--size", "128x96"])
        XCTAssertEqual(synth.code, 0, synth.err)
        let p = try pipeline()
        XCTAssertEqual(try capfilt(["validate", p]).code, 0)
        let run = try capfilt(["run", p, "--workers", "2"])
        XCTAssertEqual(run.code, 1, "hostile files make the run finish with errors\n\(run.out)\n\(run.err)")
        XCTAssertTrue(run.out.contains("failed 3"), run.out)
        let inspect = try capfilt(["inspect", dir.appendingPathComponent("out").path])
        XCTAssertEqual(inspect.code, 0, inspect.err)
        XCTAssertTrue(inspect.out.contains("error 3"), inspect.out)
        XCTAssertTrue(inspect.out.contains("Invalid data found when processing input"), inspect.out)
        // The shard is a plain SQLite file: sqlite3 reads it read-only.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = ["-readonly", dir.appendingPathComponent("out/shard-00000.sqlite").path, "SELECT COUNT(*) FROM curated_pairs"]
        let pipe = Pipe(); sqlite.standardOutput = pipe
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") {
            try sqlite.run(); sqlite.waitUntilExit()
            XCTAssertEqual(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "7",
                           "3 web texts × 2 frames + 1 subtitle cue on screen at 2 s")
        }
        // Nothing new: a clean run (the old failures are skipped, not failed again), with JSON logs.
        let again = try capfilt(["run", p, "--log-format", "json", "--quiet"])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertEqual(again.out, "", "with JSON logs every line is a log object on stderr")
        let logLines = again.err.split(separator: "\n")
        XCTAssertFalse(logLines.isEmpty)
        var finished: [String: Any]?
        for line in logLines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object?["level"], String(line))
            XCTAssertNotNil(object?["msg"], String(line))
            if object?["msg"] as? String == "run finished" { finished = object }
        }
        // Numbers are numbers and the figures are an object, not an escaped string.
        let figures = try XCTUnwrap(finished?["stats"] as? [String: Any], again.err)
        XCTAssertEqual(figures["skipped"] as? Int, 6, again.err)
        XCTAssertEqual(finished?["exit_code"] as? Int, 0)
        // The ledger shows that nothing was decoded.
        let ledger = try XCTUnwrap(runCapfiltSQL(dir.appendingPathComponent("out/shard-00000.sqlite").path,
                                                 "SELECT stats FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"))
        let stats = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ledger.utf8)) as? [String: Any])
        XCTAssertEqual(stats["processed"] as? Int, 0)
        XCTAssertEqual(stats["skipped"] as? Int, 6)
        XCTAssertNil((stats["stages"] as? [String: [String: Double]])?["decode"]?["in"], ledger)
        XCTAssertEqual(try capfilt(["run", p, "--retry-failed", "--quiet"]).code, 1)
        // A fatal error is a JSON line too, with its exit code (a missing input folder is a usage error).
                try FileManager.default.moveItem(at: dir.appendingPathComponent("media/videos"), to: dir.appendingPathComponent("media/videos-away"))
        let fatal = try capfilt(["run", p, "--log-format", "json"])
        XCTAssertEqual(fatal.code, 64, fatal.err)
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(fatal.err.split(separator: "\n").last!.utf8)) as? [String: Any], fatal.err)
        XCTAssertEqual(last["level"] as? String, "error")
        XCTAssertEqual(last["exit_code"] as? Int, 64)
        XCTAssertTrue((last["msg"] as? String)?.contains("does not exist") ?? false, fatal.err)
 let failedRow = try XCTUnwrap(runCapfiltSQL(dir.appendingPathComponent("out/shard-00000.sqlite").path,
                                                    "SELECT status || ' ' || exit_code FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"))
        XCTAssertEqual(failedRow, "failed 64", "a failed start closes its ledger row with its exit code")
    }

    func testBadYAMLIsAUsageErrorWithPosition() throws {
        let p = try pipeline("\n    smaple: 3")
        let r = try capfilt(["validate", p])
        XCTAssertEqual(r.code, 64)
        XCTAssertTrue(r.err.contains("\(p):10:5: unknown key 'smaple'"), r.err)
        XCTAssertTrue(r.err.contains("did you mean 'sample'"), r.err)
        XCTAssertEqual(try capfilt(["run", "--workers", "x", p]).code, 64)
    }

    func testSecondRunIsRefusedWhileTheFirstHoldsTheLock() throws {
        let p = try pipeline()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("media/videos"), withIntermediateDirectories: true)
        try Data().write(to: dir.appendingPathComponent("media/alt.jsonl"))
        // Hold the lock from this process, as a running capfilt would.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("out"), withIntermediateDirectories: true)
        let fd = open(dir.appendingPathComponent("out/.capfilt.lock").path, O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let r = try capfilt(["run", p])
        XCTAssertEqual(r.code, 75, r.err)
        XCTAssertTrue(r.err.contains("another capfilt run holds"), r.err)
        close(fd)
        XCTAssertEqual(try capfilt(["run", p, "--quiet"]).code, 0)
    }

    func testEveryCommandHasHelpWithAnExample() throws {
        for command in ["run", "validate", "inspect", "frames", "synth", "embed", "score", "match", "tokenize"] {
            let r = try capfilt([command, "--help"])
            XCTAssertEqual(r.code, 0, "\(command): \(r.err)")
            XCTAssertTrue(r.out.contains("USAGE: capfilt \(command)"), "\(command): \(r.out)")
            XCTAssertTrue(r.out.contains("capfilt \(command) "), "\(command) --help shows an example")
        }
        XCTAssertEqual(try capfilt(["--version"]).code, 0)
        XCTAssertEqual(try capfilt(["nosuch"]).code, 64)
    }

    func testPipelinesNamedInHelpExist() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pattern = try NSRegularExpression(pattern: #"pipelines/[A-Za-z0-9_.-]+\.yaml"#)
        for command in ["run", "validate"] {
            let help = try capfilt([command, "--help"]).out
            let names = pattern.matches(in: help, range: NSRange(help.startIndex..., in: help)).map { String(help[Range($0.range, in: help)!]) }
            XCTAssertFalse(names.isEmpty, "\(command) --help names a pipeline file")
            for name in names {
                XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path), "\(command) --help names \(name)")
            }
        }
    }

    func testFramesPrintsSelectedTimestamps() throws {
        _ = try capfilt(["synth", dir.appendingPathComponent("m").path, "--videos", "1", "--images", "0", "--seconds", "6", "--no-hostile", "--size", "128x96"])
        let r = try capfilt(["frames", dir.appendingPathComponent("m/videos/scene-000.mp4").path, "--sample", "every 2s"])
        XCTAssertEqual(r.code, 0, r.err)
        let times = r.out.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix("index") }.map { $0.split(separator: "\t")[1] }
        XCTAssertEqual(times, ["0.000", "2.000", "4.000"])
        XCTAssertEqual(try capfilt(["frames", "x.mp4", "--sample", "often"]).code, 64)
    }
}

/// Messages that tell a person what to do (issue 11, #12), from the real binary.
final class CLIMessageTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "capfilt not built at \(CLITests.binary.path)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-msg-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("media"), withIntermediateDirectories: true)
    }

    /// /sys refuses new entries even to root (where chmod would not), like a read-only mount.
    func testAnOutputFolderThatCannotBeWrittenIsNamedAtValidateAndRun() throws {
        try XCTSkipIf(FileManager.default.createFile(atPath: "/sys/capfilt-probe", contents: Data()), "/sys is writable here")
        let png = try XCTUnwrap(Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"))
        try png.write(to: dir.appendingPathComponent("media/a.png"))
        let p = dir.appendingPathComponent("p.yaml")
        try Data("inputs:\n  - folder: media\noutput:\n  dir: /sys/capfilt-out\nstages:\n  - stage: decode\n".utf8).write(to: p)
        for command in ["validate", "run"] {
            let r = try runCapfilt([command, p.path])
            XCTAssertEqual(r.code, 64, "\(command): \(r.err)")
            XCTAssertTrue(r.err.contains("the output folder /sys/capfilt-out is not writable (/sys"), "\(command): \(r.err)")
            XCTAssertFalse(r.err.contains("NSCocoaErrorDomain"), r.err)
        }
    }

    func testInspectOnAFolderWithNoShardsSaysSo() throws {
        let r = try runCapfilt(["inspect", dir.path])
        XCTAssertEqual(r.code, 64, r.err)
        XCTAssertTrue(r.err.contains("holds no shard-*.sqlite files: no run has written there yet"), r.err)
        XCTAssertFalse(r.err.contains("SQLite error"), r.err)
    }
}
