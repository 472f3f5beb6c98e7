import Foundation
import XCTest

/// Kills real `capfilt run` processes and checks that reruns finish the job exactly once.
final class CrashTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path))
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-crash-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let synth = try runCapfilt(["synth", dir.appendingPathComponent("media").path, "--videos", "24", "--images", "6", "--seconds", "4", "--size", "128x96"])
        XCTAssertEqual(synth.code, 0, synth.err)
    }

    func pipeline(_ out: String) throws -> String {
        let yaml = """
        name: crash
        inputs:
          - folder: media/videos
          - folder: media/images
          - manifest: media/alt.jsonl
        output:
          dir: \(out)
          shard_max_media: 40
        workers: 1
        stages:
          - stage: decode
            sample: every 0.1s
            resize: {shortest: 96}
            image_format: png
        """
        let path = dir.appendingPathComponent("\(out).yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Everything a data engineer would read, in a stable order.
    func dump(_ out: String) throws -> [String] {
        var rows: [String] = []
        let shards = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(out).path).filter { $0.hasSuffix(".sqlite") }
        for shard in shards {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            p.arguments = ["-readonly", dir.appendingPathComponent("\(out)/\(shard)").path, """
                SELECT 'source', replace(uri, '\(dir.path)', ''), status, kind, COALESCE(width, ''), COALESCE(height, '') FROM sources;
                SELECT 'media', replace(s.uri, '\(dir.path)', ''), m.kind, m.idx, round(m.t_start, 3), length(m.data) FROM media m JOIN sources s ON s.id = m.source_id;
                SELECT 'pair', replace(uri, '\(dir.path)', ''), frame_idx, origin, text, kept FROM pairs;
                """]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            rows += String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return rows.sorted()
    }

    func testSIGKILLAtRandomMomentsThenRerunEqualsAnUninterruptedRun() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "needs the sqlite3 shell")
        let reference = try pipeline("ref")
        let t0 = Date()
        XCTAssertEqual(try runCapfilt(["run", reference, "--quiet"]).code, 1)
        let runtime = Date().timeIntervalSince(t0)
        let expected = try dump("ref")
        XCTAssertGreaterThan(expected.count, 100)

        let crashed = try pipeline("crash")
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        var finished = false
        var attempts = 0
        while !finished && attempts < 60 {
            attempts += 1
            let p = try start(["run", crashed, "--quiet"])
            if kills < 12 {
                // A random moment inside a run's lifetime, hashing and ledger included.
                let delay = Double.random(in: 0.02...min(0.25, max(0.05, runtime / 12)), using: &generator)
                Thread.sleep(forTimeInterval: delay)
                if p.isRunning { kill(p.processIdentifier, SIGKILL); kills += 1 }
            }
            p.waitUntilExit()
            if p.terminationReason == .exit && (p.terminationStatus == 0 || p.terminationStatus == 1) {
                finished = kills >= 12
            }
        }
        print("crash test: \(kills) SIGKILLs over \(attempts) runs (uninterrupted run: \(String(format: "%.2f", runtime)) s)")
        XCTAssertGreaterThanOrEqual(kills, 10)
        XCTAssertTrue(finished)
        let got = try dump("crash")
        XCTAssertEqual(got.count, expected.count, "no missing and no duplicate rows")
        XCTAssertEqual(got, expected)
        // Every killed run is in the ledger as interrupted, the last one finished.
        let ledger = try runCapfilt(["inspect", dir.appendingPathComponent("crash").path, "--runs", "100"])
        XCTAssertTrue(ledger.out.contains("interrupted"), ledger.out)
    }

    func testSIGTERMStopsAtACommitBoundaryAndWaitQueuesASecondRun() throws {
        let p = try pipeline("term")
        let first = try start(["run", p, "--quiet", "--workers", "1"])
        // Signal only once the run holds the lock (its handlers are installed before it takes it): on a
        // loaded machine a fixed sleep could land before that and kill the process outright.
        let lock = dir.appendingPathComponent("term/.capfilt.lock").path
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !((try? String(contentsOfFile: lock, encoding: .utf8))?.contains("pid \(first.processIdentifier) ") ?? false) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        Thread.sleep(forTimeInterval: 0.1)
        let waiter = try start(["run", p, "--quiet", "--wait"])
        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        XCTAssertTrue([130, 1].contains(first.terminationStatus), "\(first.terminationStatus)")
        waiter.waitUntilExit()
        XCTAssertEqual(waiter.terminationStatus, first.terminationStatus == 130 ? 1 : 0, "the queued run finished the job")
        let again = try runCapfilt(["run", p])
        XCTAssertEqual(again.code, 0)
        XCTAssertTrue(again.out.contains("processed 0"), again.out)
    }
}
