import Foundation
import XCTest

/// A corpus rendered by `capfilt synth`, a pipeline over it with the shipped demo models (the whole
/// CapFilt job: decode, caption, filter, CLIP score), and ways to run it as one process or as tasks.
struct ArrayJobCorpus {
    let dir: URL
    var media: URL { dir.appendingPathComponent("media") }

    init(dir: URL, videos: Int = 3, images: Int = 6, seed: Int = 5) throws {
        self.dir = dir
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let synth = try runCapfiltRelease(["synth", media.path, "--videos", "\(videos)", "--images", "\(images)", "--seconds", "3",
                                           "--size", "128x96", "--seed", "\(seed)"])
        guard synth.code == 0 else { throw NSError(domain: "synth", code: Int(synth.code), userInfo: [NSLocalizedDescriptionKey: synth.err]) }
    }

    /// Renders more files into the corpus's folders under new names.
    func add(images: Int, seed: Int) throws {
        let extra = dir.appendingPathComponent("extra-\(seed)")
        let synth = try runCapfiltRelease(["synth", extra.path, "--videos", "1", "--images", "\(images)", "--seconds", "2",
                                           "--size", "128x96", "--seed", "\(seed)"])
        guard synth.code == 0 else { throw NSError(domain: "synth", code: Int(synth.code), userInfo: [NSLocalizedDescriptionKey: synth.err]) }
        for sub in ["images", "videos"] {
            for f in try FileManager.default.contentsOfDirectory(atPath: extra.appendingPathComponent(sub).path) where f.contains("scene") {
                try FileManager.default.copyItem(at: extra.appendingPathComponent(sub).appendingPathComponent(f),
                                                 to: media.appendingPathComponent(sub).appendingPathComponent("s\(seed)-\(f)"))
            }
        }
    }

    /// A pipeline file writing to `output`.
    func pipeline(_ name: String, output: URL) throws -> URL {
        let models = RefreshPropertyTests.root.appendingPathComponent("models").path
        let url = dir.appendingPathComponent("\(name).yaml")
        try """
        version: 1
        name: \(name)
        inputs:
          - folder: \(media.path)/videos
          - folder: \(media.path)/images
          - manifest: \(media.path)/alt.jsonl
        output:
          dir: \(output.path)
        workers: 1
        stages:
          - stage: decode
            sample: every 1s
            max_frames: 4
            resize: none
            image_format: jpeg
            subtitles: true
          - stage: caption
            model: \(models)/demo-blip-caption
            strategy: nucleus
            num_captions: 2
            max_new_tokens: 12
          - stage: filter
            model: \(models)/demo-blip-itm
            threshold: 0.5
            itc: true
          - stage: score
            model: \(models)/demo-clip
            metric: clip

        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// What a user queries, in a stable order, scores to 6 decimals (a task and a single process compute
    /// the same floats; the print only keeps the comparison readable).
    static let resultSQL = """
        SELECT uri, printf('%.3f', t), origin, text, printf('%.6f', itm), printf('%.6f', itc), printf('%.6f', clip), kept
        FROM capfilt_result ORDER BY 1, 2, 3, 4
        """

    static func rows(_ db: URL) throws -> [String] {
        (try runCapfiltSQL(db.path, resultSQL) ?? "").split(separator: "\n").map(String.init)
    }

    /// The figures of each task's run, from its JSON "run finished" line.
    static func stats(_ stderr: String) -> [String: Any] {
        for line in stderr.split(separator: "\n") where line.contains("\"run finished\"") {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return o["stats"] as? [String: Any] ?? [:] }
        }
        return [:]
    }
}

/// Array jobs without a scheduler: tasks run one after another here (ClusterSlurmTests runs them under a
/// real Slurm). Each checks one promise of `--shard-index/--shard-count` and `capfilt catalog`.
final class ArrayJobTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: RefreshPropertyTests.binary.path),
                          "`make test` builds \(RefreshPropertyTests.binary.path), which this test drives")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 not installed")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-array-\(getpid())-\(name.filter { $0.isLetter })")
    }

    override func tearDown() { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func task(_ pipeline: URL, _ index: Int, of count: Int, group: String, extra: [String] = []) throws -> (code: Int32, err: String) {
        try runCapfiltRelease(["run", pipeline.path, "--shard-index", "\(index)", "--shard-count", "\(count)", "--run-group", group,
                               "--scratch", dir.appendingPathComponent("scratch").path, "--log-format", "json"] + extra)
    }

    func testTasksTogetherEqualOneProcessAndANewSplitRedoesNothing() throws {
        let corpus = try ArrayJobCorpus(dir: dir)
        let out = dir.appendingPathComponent("out"), single = dir.appendingPathComponent("single")
        let p = try corpus.pipeline("tasks", output: out), s = try corpus.pipeline("single", output: single)
        XCTAssertEqual(try runCapfiltRelease(["list", p.path]).code, 0)
        var processed = 0
        for i in 0..<3 {
            let r = try task(p, i, of: 3, group: "night-1", extra: ["--listing", out.appendingPathComponent("listing.jsonl").path])
            XCTAssertTrue([0, 1].contains(r.code), r.err)
            processed += ArrayJobCorpus.stats(r.err)["processed"] as? Int ?? 0
        }
        XCTAssertTrue([0, 1].contains(try runCapfiltRelease(["run", s.path, "--quiet"]).code))
        let catalog = try runCapfilt(["catalog", out.path], binary: RefreshPropertyTests.binary)
        XCTAssertEqual(catalog.code, 0, catalog.out + catalog.err)
        XCTAssertTrue(catalog.out.contains("3 of 3 tasks finished") && catalog.out.contains("every input done once"), catalog.out)
        let expected = try ArrayJobCorpus.rows(single.appendingPathComponent("shard-00000.sqlite"))
        XCTAssertGreaterThan(expected.count, 20)
        XCTAssertEqual(try ArrayJobCorpus.rows(out.appendingPathComponent("catalog.sqlite")), expected)
        // No task wrote another's file, and none is left in WAL mode on the shared output.
        let shards = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix("shard-") }
        XCTAssertFalse(shards.contains { $0.hasSuffix("-wal") || $0.hasSuffix("-journal") }, "\(shards)")
        for shard in shards where shard.hasSuffix(".sqlite") {
            let db = out.appendingPathComponent(shard).path
            XCTAssertEqual(try runCapfiltSQL(db, "SELECT COUNT(*) FROM runs"), "1", shard)
            XCTAssertEqual(try runCapfiltSQL(db, "PRAGMA journal_mode"), "delete", shard)
        }

        // The next night: two more files, and the corpus split in 2. Only the new files are processed.
        try corpus.add(images: 2, seed: 9)
        var figures: [String: Int] = [:]
        for i in 0..<2 {
            let r = try task(p, i, of: 2, group: "night-2")
            XCTAssertTrue([0, 1].contains(r.code), r.err)
            for (k, v) in ArrayJobCorpus.stats(r.err) { if let v = v as? Int { figures[k, default: 0] += v } }
        }
        print("night 1: \(processed) processed by 3 tasks; night 2 (2 tasks): \(figures["new"] ?? -1) new, \(figures["changed"] ?? -1) changed, "
              + "\(figures["processed"] ?? -1) processed, \(figures["skipped"] ?? -1) skipped")
        XCTAssertEqual(figures["new"], 3)
        XCTAssertEqual(figures["processed"], 3)
        XCTAssertEqual(figures["changed"], 0)
        // Files another task hashed last night come from its cache: only the new files are read.
        XCTAssertEqual(figures["hashed"], 3)
        XCTAssertTrue([0, 1].contains(try runCapfiltRelease(["run", s.path, "--quiet"]).code))
        XCTAssertEqual(try runCapfilt(["catalog", out.path], binary: RefreshPropertyTests.binary).code, 0)
        XCTAssertEqual(try ArrayJobCorpus.rows(out.appendingPathComponent("catalog.sqlite")),
                       try ArrayJobCorpus.rows(single.appendingPathComponent("shard-00000.sqlite")))
    }

    func testTasksRetireWhatIsGoneAndTheCatalogEqualsAFreshRun() throws {
        // Between two nights a file is deleted, one renamed and one replaced by other bytes; the second
        // night splits the corpus differently. No task may write another's shard, yet the catalog (and,
        // after `capfilt prune`, the shards' own views) must equal a fresh run over the final corpus.
        // (Not covered, by design: the same bytes under two names owned by two tasks are two inputs,
        // each with its own name's web texts; the catalog keeps the newer, where one process merges them.)
        let corpus = try ArrayJobCorpus(dir: dir, videos: 2, images: 6)
        let out = dir.appendingPathComponent("out"), fresh = dir.appendingPathComponent("fresh")
        let p = try corpus.pipeline("tasks", output: out)
        for i in 0..<2 { XCTAssertTrue([0, 1].contains(try task(p, i, of: 2, group: "n1").code)) }
        let images = corpus.media.appendingPathComponent("images")
        let names = try FileManager.default.contentsOfDirectory(atPath: images.path).sorted()
        XCTAssertGreaterThanOrEqual(names.count, 4)
        try FileManager.default.removeItem(at: images.appendingPathComponent(names[0]))
        try FileManager.default.moveItem(at: images.appendingPathComponent(names[1]), to: images.appendingPathComponent("renamed-" + names[1]))
        // Other bytes under the same name (four bytes after the image's end, which decoders ignore).
        let replaced = images.appendingPathComponent(names[2])
        try (try Data(contentsOf: replaced) + Data([1, 2, 3, 4])).write(to: replaced)
        var retired = 0
        for i in 0..<3 {
            let r = try task(p, i, of: 3, group: "n2")
            XCTAssertTrue([0, 1].contains(r.code), r.err)
            retired += ArrayJobCorpus.stats(r.err)["retired"] as? Int ?? 0
        }
        print("second night: \(retired) retirements recorded")
        XCTAssertGreaterThanOrEqual(retired, 2)
        let c = try runCapfilt(["catalog", out.path], binary: RefreshPropertyTests.binary)
        XCTAssertEqual(c.code, 0, c.out)
        XCTAssertTrue([0, 1].contains(try runCapfiltRelease(["run", try corpus.pipeline("fresh", output: fresh).path, "--quiet"]).code))
        let expected = try ArrayJobCorpus.rows(fresh.appendingPathComponent("shard-00000.sqlite"))
        XCTAssertEqual(try ArrayJobCorpus.rows(out.appendingPathComponent("catalog.sqlite")), expected)
        let live = "SELECT uri FROM live_sources ORDER BY uri"
        XCTAssertEqual(try runCapfiltSQL(out.appendingPathComponent("catalog.sqlite").path, live),
                       try runCapfiltSQL(fresh.appendingPathComponent("shard-00000.sqlite").path, live))

        // prune (a single process) applies the retirements and drops superseded rows in the shards.
        XCTAssertEqual(try runCapfiltRelease(["prune", out.path]).code, 0)
        var rows: [String] = []
        for f in try FileManager.default.contentsOfDirectory(atPath: out.path) where f.hasPrefix("shard-") && f.hasSuffix(".sqlite") {
            rows += try ArrayJobCorpus.rows(out.appendingPathComponent(f))
        }
        XCTAssertEqual(rows.sorted(), expected.sorted())
    }

    func testTheCatalogNamesATaskThatNeverRanAndTheArrayToResubmit() throws {
        let corpus = try ArrayJobCorpus(dir: dir, videos: 2, images: 4)
        let out = dir.appendingPathComponent("out")
        let p = try corpus.pipeline("tasks", output: out)
        for i in [0, 2, 3] { XCTAssertTrue([0, 1].contains(try task(p, i, of: 5, group: "g").code)) }
        let r = try runCapfilt(["catalog", out.path], binary: RefreshPropertyTests.binary)
        XCTAssertEqual(r.code, 1, r.out)
        XCTAssertTrue(r.out.contains("3 of 5 tasks finished"), r.out)
        XCTAssertTrue(r.out.contains("task 1: missing") && r.out.contains("task 4: missing"), r.out)
        XCTAssertTrue(r.out.contains("resubmit: --array=1,4"), r.out)
        for i in [1, 4] { XCTAssertTrue([0, 1].contains(try task(p, i, of: 5, group: "g").code)) }
        let again = try runCapfilt(["catalog", out.path], binary: RefreshPropertyTests.binary)
        XCTAssertEqual(again.code, 0, again.out)
        XCTAssertFalse(again.out.contains("resubmit"), again.out)
    }

    func testTheCatalogCatchesAnInputDoneTwice() throws {
        // Two attempts of one task running at once (a node the controller lost touch with): simulated by
        // two outputs of the same task and group, joined.
        let corpus = try ArrayJobCorpus(dir: dir, videos: 1, images: 3)
        let a = dir.appendingPathComponent("a"), b = dir.appendingPathComponent("b")
        for (name, out) in [("a", a), ("b", b)] {
            XCTAssertTrue([0, 1].contains(try task(try corpus.pipeline(name, output: out), 0, of: 1, group: "g").code))
        }
        for f in try FileManager.default.contentsOfDirectory(atPath: b.path) where f.hasPrefix("shard-") {
            try FileManager.default.copyItem(at: b.appendingPathComponent(f), to: a.appendingPathComponent(f))
        }
        let r = try runCapfilt(["catalog", a.path], binary: RefreshPropertyTests.binary)
        XCTAssertEqual(r.code, 1, r.out)
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus.media.appendingPathComponent("images").path).count
            + (try FileManager.default.contentsOfDirectory(atPath: corpus.media.appendingPathComponent("videos").path).count)
        XCTAssertTrue(r.out.contains("inputs done by more than one run of the group: \(inputs)"), r.out)
        // Each input is in the catalog once, the newer row.
        XCTAssertEqual(try runCapfiltSQL(a.appendingPathComponent("catalog.sqlite").path, "SELECT COUNT(*) FROM sources"), "\(inputs)")
    }

    func testAKilledTaskResumesWithEveryInputOnce() throws {
        // A task publishes after every input here (--publish-every 0), is killed without warning, and is
        // run again: what it published is not redone and nothing is lost.
        let corpus = try ArrayJobCorpus(dir: dir, videos: 3, images: 8)
        let out = dir.appendingPathComponent("out"), single = dir.appendingPathComponent("single")
        let p = try corpus.pipeline("tasks", output: out)
        let proc = Process()
        proc.executableURL = RefreshPropertyTests.binary
        proc.arguments = ["run", p.path, "--shard-index", "0", "--shard-count", "1", "--run-group", "g", "--quiet",
                          "--scratch", dir.appendingPathComponent("scratch").path, "--publish-every", "0"]
        proc.standardError = FileHandle.nullDevice
        try proc.run()
        func published() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []).filter { $0.hasPrefix("shard-") && $0.hasSuffix(".sqlite") }.count }
        while proc.isRunning && published() < 3 { usleep(2_000) }
        kill(proc.processIdentifier, SIGKILL)
        proc.waitUntilExit()
        let before = published()
        print("killed after \(before) shards were published (exit reason \(proc.terminationReason == .uncaughtSignal ? "signal" : "exit"))")
        let r = try task(p, 0, of: 1, group: "g")
        XCTAssertTrue([0, 1].contains(r.code), r.err)
        let stats = ArrayJobCorpus.stats(r.err)
        print("the rerun: \(stats["skipped"] ?? -1) skipped, \(stats["processed"] ?? -1) processed")
        if proc.terminationReason == .uncaughtSignal { XCTAssertGreaterThan(stats["skipped"] as? Int ?? 0, 0) }
        let c = try runCapfilt(["catalog", out.path], binary: RefreshPropertyTests.binary)
        XCTAssertEqual(c.code, 0, c.out)
        XCTAssertTrue(c.out.contains("1 of 1 tasks finished") && c.out.contains("every input done once"), c.out)
        XCTAssertTrue([0, 1].contains(try runCapfiltRelease(["run", try corpus.pipeline("single", output: single).path, "--quiet"]).code))
        XCTAssertEqual(try ArrayJobCorpus.rows(out.appendingPathComponent("catalog.sqlite")),
                       try ArrayJobCorpus.rows(single.appendingPathComponent("shard-00000.sqlite")))
    }
}
