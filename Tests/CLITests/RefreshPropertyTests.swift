import Foundation
import Tensor
import XCTest

/// The nightly-refresh invariant, checked on random change sequences: after any sequence of changes to
/// a corpus (files added, deleted, replaced in place, renamed, copied; manifest rows added, edited,
/// removed; a second manifest added or dropped; a stage setting or model changed), an incremental run
/// leaves what a user queries equal to what a fresh run over the final state writes — frames by their
/// bytes, texts, every score to the last bit, kept flags — and a manifest-only change decodes nothing and
/// runs no captioner. Some steps SIGKILL the run at a random moment before the run that finishes it.
///
/// An input that failed keeps the web texts it was stored with until `--retry-failed` reads it again:
/// its texts are in no view (it has no frames), so the check leaves them out.
///
/// It drives the release binary (`make test` builds it) with the shipped demo models.
/// CAPFILT_REFRESH_SEED and CAPFILT_REFRESH_STEPS replay or extend a sequence; a failure prints both.
final class RefreshPropertyTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/release/capfilt")

    var dir: URL!
    var rng = Generator(seed: 0)
    var log: [String] = []

    func testIncrementalRunsEqualFreshRunsOverRandomChanges() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: RefreshPropertyTests.binary.path),
                          "`make test` builds \(RefreshPropertyTests.binary.path), which this test drives")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 not installed")
        let env = ProcessInfo.processInfo.environment
        let seed = env["CAPFILT_REFRESH_SEED"].flatMap(UInt64.init) ?? 20_261_201
        let steps = env["CAPFILT_REFRESH_STEPS"].flatMap(Int.init) ?? 100
        rng = Generator(seed: seed)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-refresh-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        var world = try World(dir: dir)
        var counts: [String: Int] = [:], kills = 0
        for step in 1...steps {
            let op = try world.change(&rng)
            counts[op.kind, default: 0] += 1
            log.append("step \(step): \(op.description)")
            let pipeline = try world.writePipeline(output: "inc", name: "inc.yaml")
            let killed = rng.next(100) < 15
            if killed {
                kills += 1
                try runKilled(pipeline, afterMilliseconds: 5 + rng.next(400))
            }
            let inc = try capfilt(["run", pipeline, "--quiet"])
            guard inc.code == 0 || inc.code == 1 else { return fail(seed, step, "incremental run exited \(inc.code): \(inc.err)") }
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("fresh"))
            let fresh = try capfilt(["run", try world.writePipeline(output: "fresh", name: "fresh.yaml"), "--quiet"])
            // Exit codes may differ: an incremental run skips inputs that failed before (exit 0).
            guard fresh.code == 0 || fresh.code == 1 else { return fail(seed, step, "fresh run exited \(fresh.code): \(fresh.err)") }
            let a = try dump("inc"), b = try dump("fresh")
            if a != b {
                let onlyA = a.filter { !b.contains($0) }.prefix(8), onlyB = b.filter { !a.contains($0) }.prefix(8)
                return fail(seed, step, "incremental ≠ fresh\nonly incremental:\n  \(onlyA.joined(separator: "\n  "))\nonly fresh:\n  \(onlyB.joined(separator: "\n  "))")
            }
            // After a finished run, a manifest-only change must not decode or caption (a killed run
            // may have left inputs of the step before half done, so that step is not judged).
            if op.textsOnly && step > 1 && !killed {
                let stages = try lastRunStages("inc")
                guard stages["decode"]?["in"] == nil, stages["caption"]?["in"] == nil else {
                    return fail(seed, step, "a manifest-only change decoded or captioned: \(stages)")
                }
            }
        }
        print("refresh property: seed \(seed), \(steps) steps (\(kills) killed mid-run), all equal to a fresh run; changes: \(counts.sorted { $0.key < $1.key })")
    }

    func fail(_ seed: UInt64, _ step: Int, _ message: String) {
        XCTFail("CAPFILT_REFRESH_SEED=\(seed) CAPFILT_REFRESH_STEPS=\(step): \(message)\n\(log.suffix(12).joined(separator: "\n"))")
    }

    func capfilt(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try runCapfilt(args, binary: RefreshPropertyTests.binary)
    }

    func runKilled(_ pipeline: String, afterMilliseconds ms: Int) throws {
        let p = Process()
        p.executableURL = RefreshPropertyTests.binary
        p.arguments = ["run", pipeline, "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(useconds_t(ms * 1000))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// What a user queries, paths relative to the test folder, every score to the last bit.
    func dump(_ output: String) throws -> [String] {
        let shards = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(output).path).filter { $0.hasPrefix("shard-") && $0.hasSuffix(".sqlite") }
        XCTAssertEqual(shards, ["shard-00000.sqlite"])
        let db = dir.appendingPathComponent("\(output)/shard-00000.sqlite").path
        let p = "'\(dir.path)/'"
        let queries = [
            "SELECT 'source', replace(uri, \(p), ''), status, coalesce(replace(error, \(p), ''), ''), coalesce(external_id, ''), coalesce(kind, ''), content_hash FROM live_sources",
            "SELECT 'media', replace(s.uri, \(p), ''), m.kind, m.idx, printf('%!.17g', m.t_start), hex(sha3(m.data)) FROM media m JOIN live_sources s ON s.id = m.source_id",
            "SELECT 'text', replace(s.uri, \(p), ''), t.origin, coalesce(m.idx, ''), t.text, coalesce(t.external_id, ''), coalesce(t.producer, ''), coalesce(t.settings, ''), coalesce(t.t_start, '') FROM texts t JOIN live_sources s ON s.id = t.source_id LEFT JOIN media m ON m.id = t.media_id WHERE s.status <> 'error'",
            "SELECT 'pair', replace(uri, \(p), ''), frame_idx, origin, text, kept, printf('%!.17g|%!.17g|%!.17g', itm, itc, clip) FROM capfilt_result",
            "SELECT 'score', replace(s.uri, \(p), ''), m.idx, t.origin, t.text, sc.metric, sc.model, coalesce(sc.threshold, ''), coalesce(sc.kept, ''), printf('%!.17g', sc.value) FROM scores sc JOIN texts t ON t.id = sc.text_id JOIN media m ON m.id = sc.media_id JOIN live_sources s ON s.id = t.source_id",
            "SELECT 'curated', replace(uri, \(p), ''), frame_idx, origin, text, hex(sha3(image)) FROM curated_pairs",
            "SELECT 'error', replace(uri, \(p), ''), status, replace(error, \(p), '') FROM errors",
        ]
        var lines: [String] = []
        for q in queries { lines += (try XCTUnwrap(try runCapfiltSQL(db, q))).split(separator: "\n").map(String.init) }
        return lines.sorted()
    }

    func lastRunStages(_ output: String) throws -> [String: [String: Double]] {
        let stats = try XCTUnwrap(try runCapfiltSQL(dir.appendingPathComponent("\(output)/shard-00000.sqlite").path,
                                                    "SELECT stats FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"))
        let object = try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any]
        return object?["stages"] as? [String: [String: Double]] ?? [:]
    }
}

/// The test's draws, from the project's seeded generator, so a seed replays a sequence exactly.
typealias Generator = SplitMix64

extension SplitMix64 {
    mutating func next(_ n: Int) -> Int { nextInt(below: max(1, n)) }
    mutating func pick<T>(_ items: [T]) -> T { items[next(items.count)] }
}

/// The corpus under test: files copied from a rendered pool, two manifests, the pipeline's settings.
struct World {
    struct Change: CustomStringConvertible {
        var kind: String
        var detail: String
        /// Only manifest rows changed: nothing may be decoded or captioned.
        var textsOnly: Bool
        var description: String { "\(kind) \(detail)" }
    }
    struct Row { var id: String; var path: String; var text: String }

    let dir: URL
    let pool: [String]
    var rows: [Row] = []
    var extraRows: [Row]? = nil
    var nextID = 0
    var sample = 2
    var threshold = 0.5
    var itc = true
    var scoreMetric = "clip"
    var captions = 2
    static let phrases = ["a red circle on a blue background", "a green square moving left", "click here for free prizes",
                          "a white triangle on a black background", "two yellow squares", "a photo of nothing", "a blue circle"]

    var corpus: URL { dir.appendingPathComponent("corpus") }

    init(dir: URL) throws {
        self.dir = dir
        let poolDir = dir.appendingPathComponent("pool")
        let synth = try runCapfiltRelease(["synth", poolDir.path, "--videos", "3", "--images", "6", "--seconds", "3", "--size", "128x96", "--seed", "11"])
        guard synth.code == 0 else { throw NSError(domain: "synth", code: Int(synth.code), userInfo: [NSLocalizedDescriptionKey: synth.err]) }
        pool = try FileManager.default.subpathsOfDirectory(atPath: poolDir.path).filter { $0.hasPrefix("videos/") || $0.hasPrefix("images/") }
            .filter { !$0.hasSuffix("/") && ($0 as NSString).pathExtension != "" }.sorted()
        for sub in ["videos", "images"] {
            try FileManager.default.createDirectory(at: corpus.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        // Start with half the pool and one web text per file.
        for (i, f) in pool.enumerated() where i % 2 == 0 {
            try FileManager.default.copyItem(at: poolDir.appendingPathComponent(f), to: corpus.appendingPathComponent(f))
            rows.append(Row(id: "r\(nextID)", path: f, text: World.phrases[i % World.phrases.count])); nextID += 1
        }
    }

    var files: [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: corpus.path)) ?? [])
            .filter { $0.hasPrefix("videos/") || $0.hasPrefix("images/") }.filter { ($0 as NSString).pathExtension != "" }.sorted()
    }

    func poolFile(_ f: String) -> URL { dir.appendingPathComponent("pool").appendingPathComponent(f) }

    mutating func newName(_ f: String) -> String {
        nextID += 1
        let u = f as NSString
        return "\(u.deletingLastPathComponent)/n\(nextID)-\(u.lastPathComponent)"
    }

    mutating func change(_ rng: inout Generator) throws -> Change {
        let fm = FileManager.default
        let files = self.files
        switch rng.next(12) {
        case 0:
            let f = rng.pick(pool)
            let name = files.contains(f) ? newName(f) : f
            try fm.copyItem(at: poolFile(f), to: corpus.appendingPathComponent(name))
            return Change(kind: "add-file", detail: name, textsOnly: false)
        case 1 where !files.isEmpty:
            let f = rng.pick(files)
            try fm.removeItem(at: corpus.appendingPathComponent(f))
            return Change(kind: "delete-file", detail: f, textsOnly: false)
        case 2 where !files.isEmpty:
            let f = rng.pick(files), with = rng.pick(pool)
            try fm.removeItem(at: corpus.appendingPathComponent(f))
            try fm.copyItem(at: poolFile(with), to: corpus.appendingPathComponent(f))
            return Change(kind: "replace-file", detail: "\(f) with the bytes of \(with)", textsOnly: false)
        case 3 where !files.isEmpty:
            let f = rng.pick(files), to = newName(f)
            try fm.moveItem(at: corpus.appendingPathComponent(f), to: corpus.appendingPathComponent(to))
            let follow = rng.next(2) == 0
            if follow { for i in rows.indices where rows[i].path == f { rows[i].path = to } }
            return Change(kind: "rename-file", detail: "\(f) → \(to)\(follow ? " (manifest follows)" : "")", textsOnly: false)
        case 4 where !files.isEmpty:
            let f = rng.pick(files), to = newName(f)
            try fm.copyItem(at: corpus.appendingPathComponent(f), to: corpus.appendingPathComponent(to))
            return Change(kind: "copy-file", detail: "\(f) → \(to)", textsOnly: false)
        case 5 where !files.isEmpty:
            nextID += 1
            rows.append(Row(id: "r\(nextID)", path: rng.pick(files), text: rng.pick(World.phrases)))
            return Change(kind: "add-row", detail: "r\(nextID)", textsOnly: true)
        case 6 where !rows.isEmpty:
            let i = rng.next(rows.count)
            rows[i].text = rng.pick(World.phrases) + " \(rng.next(10))"
            return Change(kind: "edit-row", detail: rows[i].id, textsOnly: true)
        case 7 where rows.count > 1:
            let r = rows.remove(at: rng.next(rows.count))
            return Change(kind: "remove-row", detail: r.id, textsOnly: true)
        case 8:
            if extraRows == nil {
                extraRows = files.prefix(2).map { f in nextID += 1; return Row(id: "x\(nextID)", path: f, text: "an extra text about \(f)") }
                return Change(kind: "add-manifest", detail: "extra.jsonl", textsOnly: true)
            }
            extraRows = nil
            return Change(kind: "drop-manifest", detail: "extra.jsonl", textsOnly: true)
        case 9:
            sample = sample == 1 ? 2 : 1
            return Change(kind: "setting", detail: "sample every \(sample)s", textsOnly: false)
        case 10:
            switch rng.next(3) {
            case 0: threshold = rng.pick([0.3, 0.5, 0.7]); return Change(kind: "setting", detail: "filter threshold \(threshold)", textsOnly: false)
            case 1: itc.toggle(); return Change(kind: "setting", detail: "filter itc \(itc)", textsOnly: false)
            default: captions = captions == 2 ? 3 : 2; return Change(kind: "setting", detail: "num_captions \(captions)", textsOnly: false)
            }
        case 11:
            scoreMetric = scoreMetric == "clip" ? "itc" : "clip"
            return Change(kind: "model", detail: "score with \(scoreMetric)", textsOnly: false)
        default:
            break
        }
        // The change drawn needs something the corpus does not have now: draw again.
        return try change(&rng)
    }

    func writeManifest(_ rows: [Row], _ name: String) throws {
        let lines = try rows.map { r -> String in
            String(decoding: try JSONSerialization.data(withJSONObject: ["id": r.id, "path": r.path, "text": r.text], options: [.sortedKeys]), as: UTF8.self)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: corpus.appendingPathComponent(name))
    }

    func writePipeline(output: String, name: String) throws -> String {
        try writeManifest(rows, "alt.jsonl")
        if let extraRows { try writeManifest(extraRows, "extra.jsonl") } else { try? FileManager.default.removeItem(at: corpus.appendingPathComponent("extra.jsonl")) }
        let models = RefreshPropertyTests.root.appendingPathComponent("models").path
        let yaml = """
        name: refresh
        inputs:
          - folder: corpus
          - manifest: corpus/alt.jsonl
        \(extraRows == nil ? "" : "  - manifest: corpus/extra.jsonl")
        output:
          dir: \(output)
        workers: 1
        stages:
          - stage: decode
            sample: every \(sample)s
            max_frames: 3
            resize: none
            audio: false
          - stage: caption
            model: \(models)/demo-blip-caption
            strategy: nucleus
            num_captions: \(captions)
            max_new_tokens: 8
          - stage: filter
            model: \(models)/demo-blip-itm
            threshold: \(threshold)
            itc: \(itc)
          - stage: score
            model: \(models)/\(scoreMetric == "clip" ? "demo-clip" : "demo-blip-itm")
            metric: \(scoreMetric)
        """
        let path = dir.appendingPathComponent(name)
        try Data(yaml.utf8).write(to: path)
        return path.path
    }
}

func runCapfiltRelease(_ args: [String]) throws -> (code: Int32, err: String) {
    let r = try runCapfilt(args, binary: RefreshPropertyTests.binary)
    return (r.code, r.err)
}
