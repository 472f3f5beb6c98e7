import Foundation
import Logging
import XCTest
import Demo
import Media
import Models
import Store
@testable import Pipeline

final class RunTests: XCTestCase {
    var dir: URL!
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-run-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        let media = dir.appendingPathComponent("media")
        try FileManager.default.createDirectory(at: media, withIntermediateDirectories: true)
        func frame(_ i: Int, _ w: Int, _ h: Int) -> RGBFrame {
            RGBFrame(width: w, height: h) { x, _ in (UInt8(i * 3 % 256), UInt8(x % 256), 90) }
        }
        try SyntheticMedia.write(to: media.appendingPathComponent("plain.mp4").path,
                                 spec: MediaSpec(video: .init(codec: .h264, width: 64, height: 48, fps: 10, frames: 40, gop: 10)),
                                 frame: { frame($0, 64, 48) })
        try SyntheticMedia.write(to: media.appendingPathComponent("talk.mkv").path,
                                 spec: MediaSpec(video: .init(codec: .mpeg4, width: 64, height: 48, fps: 10, frames: 40, gop: 10),
                                                 audio: .init(codec: .aac, sampleRate: 22_050, channels: 1, duration: 4),
                                                 subtitles: (codec: .subrip, cues: [SubtitleCue(start: 0.9, end: 2.1, text: "hello there"),
                                                                                    SubtitleCue(start: 3.0, end: 3.5, text: "bye")])),
                                 frame: { frame($0, 64, 48) })
        try Data(try ImageEncoder(format: .png).encode(frame(1, 40, 30))).write(to: media.appendingPathComponent("still.png"))
        try Data().write(to: media.appendingPathComponent("zero.mp4"))
        try Data("not media at all".utf8).write(to: media.appendingPathComponent("fake.mkv"))
        try FileManager.default.createSymbolicLink(atPath: media.appendingPathComponent("dangling.mp4").path, withDestinationPath: "/nonexistent/file.mp4")
        let full = try Data(contentsOf: media.appendingPathComponent("talk.mkv"))
        try full.prefix(full.count * 2 / 3).write(to: media.appendingPathComponent("cut.mkv"))
        // The same bytes under a second name: one input, both names' texts.
        try FileManager.default.copyItem(at: media.appendingPathComponent("still.png"), to: media.appendingPathComponent("copy.png"))
        try Data("""
        {"path": "media/plain.mp4", "text": "a plain clip", "id": "w1"}
        {"path": "media/still.png", "text": "a still image", "id": "w2"}
        {"path": "media/copy.png", "text": "the same image again", "id": "w3"}

        """.utf8).write(to: dir.appendingPathComponent("alt.jsonl"))
    }

    func writeSpec(sample: String = "every 1s", extra: String = "", stages: String = "") throws -> PipelineConfig {
        let yaml = """
        name: test
        inputs:
          - folder: media
          - manifest: alt.jsonl
        output:
          dir: out
          \(extra)
        workers: 2
        stages:
          - stage: decode
            sample: \(sample)
            resize: {shortest: 32}
            audio: {segment: span}
        \(stages)
        """
        let path = dir.appendingPathComponent("p.yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return try PipelineConfig.load(path: path)
    }

    func db() throws -> Database { try Database(path: dir.appendingPathComponent("out/shard-00000.sqlite").path, readOnly: true) }

    func testRunWritesRowsAndHostileFilesBecomeErrorRows() throws {
        let summary = try PipelineRunner(logger: quiet, config: try writeSpec()).run()
        XCTAssertEqual(summary.outcome, .errors)
        XCTAssertEqual(ExitCode.for(summary.outcome), ExitCode.finishedWithErrors)
        XCTAssertEqual(summary.inputsSeen, 8)
        XCTAssertEqual(summary.duplicates, 1)
        XCTAssertEqual(summary.unique, 7)
        XCTAssertEqual(summary.failed, 3, "\(summary.errorSamples)")

        let d = try db()
        let statuses = Dictionary(uniqueKeysWithValues: try d.query("SELECT uri, status, error FROM sources").map {
            (URL(fileURLWithPath: $0[0].text!).lastPathComponent, ($0[1].text!, $0[2].text))
        })
        XCTAssertEqual(statuses["zero.mp4"]?.0, "error")
        XCTAssertTrue(statuses["zero.mp4"]?.1?.contains("Invalid data found when processing input") ?? false)
        XCTAssertEqual(statuses["fake.mkv"]?.0, "error")
        XCTAssertEqual(statuses["dangling.mp4"]?.0, "error")
        XCTAssertTrue(statuses["dangling.mp4"]?.1?.contains("No such file or directory") ?? false, "\(statuses["dangling.mp4"]!)")
        XCTAssertEqual(statuses["plain.mp4"]?.0, "ok")
        // A truncated MKV still yields the frames before the cut.
        XCTAssertNotEqual(statuses["cut.mkv"]?.0, "error")
        XCTAssertGreaterThan(try d.scalar("SELECT COUNT(*) FROM media m JOIN sources s ON s.id = m.source_id WHERE s.uri LIKE '%cut.mkv' AND m.kind = 'frame'").int ?? 0, 0)

        // Frames: 4 s at every 1 s.
        XCTAssertEqual(try d.query("SELECT t_start FROM media m JOIN sources s ON s.id = m.source_id WHERE s.uri LIKE '%plain.mp4' AND m.kind = 'frame' ORDER BY idx").map { $0[0].double! },
                       [0, 1, 2, 3])
        XCTAssertEqual(try d.scalar("SELECT width || 'x' || height FROM media WHERE kind = 'frame' LIMIT 1").text, "32x32")
        // Web texts pair with every frame of their source; the duplicate's text is kept too.
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM pairs WHERE text = 'a plain clip'").int, 4)
        XCTAssertEqual(Set(try d.query("SELECT text FROM pairs WHERE uri LIKE '%.png'").map { $0[0].text! }), ["a still image", "the same image again"])
        // Subtitle cues pair with the frames they are on screen for: 0.9–2.1 s covers the frames at 1 s and 2 s.
        XCTAssertEqual(try d.query("SELECT t FROM pairs WHERE text = 'hello there' AND uri LIKE '%talk.mkv' ORDER BY t").map { $0[0].double! }, [1, 2])
        XCTAssertEqual(try d.query("SELECT t FROM pairs WHERE text = 'bye' AND uri LIKE '%talk.mkv'").map { $0[0].double! }, [3], "a cue covers [start, end)")
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM texts WHERE origin = 'subtitle' AND source_id = (SELECT id FROM sources WHERE uri LIKE '%talk.mkv')").int, 2)
        // Audio: spans from each frame to the next, 16 kHz mono float.
        let audio = try d.query("SELECT t_start, samples, sample_rate, length(data) FROM media m JOIN sources s ON s.id = m.source_id WHERE s.uri LIKE '%talk.mkv' AND m.kind = 'audio' ORDER BY idx")
        XCTAssertEqual(audio.count, 4)
        for a in audio.dropLast() {
            XCTAssertEqual(a[2].int, 16_000)
            XCTAssertEqual(Double(a[1].int!), 16_000, accuracy: 200)
            XCTAssertEqual(a[3].int, a[1].int! * 4)
        }
        // The ledger.
        let run = try d.query("SELECT status, exit_code, stats FROM runs")
        XCTAssertEqual(run.count, 1)
        XCTAssertEqual(run[0][0].text, "errors")
        XCTAssertEqual(run[0][1].int, 1)
        XCTAssertTrue(run[0][2].text!.contains("\"failed\":3"))
        // A finished shard is one plain file.
        XCTAssertEqual(try d.scalar("PRAGMA journal_mode").text, "delete")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/shard-00000.sqlite-wal").path))
        XCTAssertEqual(try d.scalar("PRAGMA integrity_check").text, "ok")
        XCTAssertEqual(try d.scalar("PRAGMA user_version").int, Int64(ShardSchema.version))
        // inspect reads the same.
        let s = try DatasetSummary.read(directory: dir.appendingPathComponent("out"))
        XCTAssertEqual(s.sourcesByStatus["error"], 3)
        XCTAssertEqual(s.errors.reduce(0) { $0 + $1.count }, 3)
    }

    func testRerunSkipsEverythingAndSettingChangeRedoesOnlyTheWork() throws {
        _ = try PipelineRunner(logger: quiet, config: try writeSpec()).run()
        let again = try writeSpec()
        let second = try PipelineRunner(logger: quiet, config: again).run()
        XCTAssertEqual(second.processed, 0)
        XCTAssertEqual(second.skipped, 7)
        XCTAssertEqual(second.hashed, 0, "unchanged files take their hash from the cache")
        XCTAssertNil(second.counters("decode")["in"], "no decoding on a rerun with nothing new")
        var retry = RunOptions(); retry.retryFailed = true
        let third = try PipelineRunner(logger: quiet, config: try writeSpec(), options: retry).run()
        XCTAssertEqual(third.retried, 3)
        XCTAssertEqual(third.processed, 3)
        // A file rewritten in place (same name, new bytes) is hashed again and becomes a new input.
        let still = dir.appendingPathComponent("media/still.png")
        try Data(try ImageEncoder(format: .png).encode(RGBFrame(width: 40, height: 30) { x, y in (UInt8(x), UInt8(y), 7) })).write(to: still)
        let rewritten = try PipelineRunner(logger: quiet, config: try writeSpec()).run()
        XCTAssertEqual(rewritten.hashed, 1)
        XCTAssertEqual(rewritten.new, 1)
        let changed = try PipelineRunner(logger: quiet, config: try writeSpec(sample: "every 2s")).run()
        XCTAssertEqual(changed.changed, 5, "ok and partial inputs are redone with the new sampling; failed ones wait for --retry-failed")
        let d = try db()
        // The old still.png source stays (its bytes were seen); copy.png still has those bytes.
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM sources").int, 8, "no duplicate sources")
        XCTAssertEqual(try d.query("SELECT t_start FROM media m JOIN sources s ON s.id = m.source_id WHERE s.uri LIKE '%plain.mp4' AND m.kind = 'frame' ORDER BY idx").map { $0[0].double! }, [0, 2])
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM runs").int, 5)
    }

    func testSecondRunOnTheSameOutputIsRefused() throws {
        let spec = try writeSpec()
        let held = try RunLock(directory: spec.outputDirectory, wait: false)
        XCTAssertThrowsError(try PipelineRunner(logger: quiet, config: spec).run()) { XCTAssertTrue($0 is RunLock.Busy, "\($0)") }
        withExtendedLifetime(held) {}
    }

    func testShardsRotateByBudgetAndInputsNeverSplit() throws {
        let summary = try PipelineRunner(logger: quiet, config: try writeSpec(extra: "shard_max_media: 5")).run()
        XCTAssertGreaterThan(summary.shards.count, 1)
        var total = 0
        for url in ShardStore.shardFiles(in: dir.appendingPathComponent("out")) {
            let d = try Database(path: url.path, readOnly: true)
            XCTAssertEqual(try d.scalar("PRAGMA journal_mode").text, "delete", url.lastPathComponent)
            XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM media WHERE source_id NOT IN (SELECT id FROM sources)").int, 0)
            XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM runs").int, 1, "each shard records the run that wrote it")
            total += Int(try d.scalar("SELECT COUNT(*) FROM sources").int ?? 0)
        }
        XCTAssertEqual(total, 7)
    }

    func testStorageFailureStopsTheRunAndTheNextRunFinishesTheJob() throws {
        var tiny = RunOptions()
        tiny.maxPageCount = 26
        tiny.workers = 1
        let failed = try PipelineRunner(logger: quiet, config: try writeSpec(), options: tiny).run()
        XCTAssertEqual(failed.outcome, .failed)
        XCTAssertEqual(ExitCode.for(failed.outcome), ExitCode.fatal)
        XCTAssertTrue(failed.fatal?.contains("full") ?? false, failed.fatal ?? "")
        XCTAssertLessThan(failed.processed, 7)
        let d = try db()
        XCTAssertEqual(try d.scalar("PRAGMA integrity_check").text, "ok")
        let done = try PipelineRunner(logger: quiet, config: try writeSpec()).run()
        XCTAssertEqual(done.outcome, .errors)
        XCTAssertEqual(done.processed + failed.processed, 7, "nothing is done twice")
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM sources").int, 7)
    }

    static let tinyCLIP = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures/clip-tiny-gelu")

    func testScoreStageStoresEveryPairsCosineAndMarksTheMinimum() throws {
        let spec = try writeSpec(stages: """
          - stage: score
            model: \(RunTests.tinyCLIP.path)
            min: 0.0
        """)
        let summary = try PipelineRunner(logger: quiet, config: spec).run()
        XCTAssertEqual(summary.outcome, .errors)
        let d = try db()
        let pairs = try d.scalar("SELECT COUNT(*) FROM text_media").int ?? 0
        XCTAssertGreaterThan(pairs, 5)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM scores WHERE metric = 'clip'").int, pairs, "every pair is scored")
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM scores WHERE kept = (value >= 0.0) AND threshold = 0.0").int, pairs)
        let dropped = try d.scalar("SELECT COUNT(*) FROM scores WHERE kept = 0").int ?? 0
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM curated_pairs").int, pairs - dropped)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM models WHERE kind = 'clip'").int, 1)

        // The stored values are the model's cosines on the stored frames (recomputed here directly).
        let model = try CLIPModel.load(directory: RunTests.tinyCLIP)
        let decoder = try ImageDecoder()
        let images = try d.query("""
            SELECT m.data FROM media m JOIN sources s ON s.id = m.source_id WHERE s.uri LIKE '%plain.mp4' AND m.kind = 'frame' ORDER BY m.idx
            """).map { row -> RGBImage in
            let f = try decoder.decode(row[0].blob!, format: .jpeg)
            return RGBImage(width: f.width, height: f.height, pixels: f.pixels)
        }
        let imageEmb = try model.imageEmbeddings(images)
        let textEmb = try model.textEmbeddings(["a plain clip"])[0]
        let stored = try d.query("""
            SELECT m.idx, sc.value FROM scores sc JOIN media m ON m.id = sc.media_id JOIN texts t ON t.id = sc.text_id
            WHERE t.text = 'a plain clip' ORDER BY m.idx
            """)
        XCTAssertEqual(stored.count, 4)
        var maxDiff = 0.0
        for row in stored {
            let expected = Double(CLIPModel.cosine(imageEmb[Int(row[0].int!)], textEmb))
            maxDiff = max(maxDiff, abs(expected - row[1].double!))
        }
        print("score stage vs direct CLIP: max |Δ| \(maxDiff)")
        XCTAssertLessThan(maxDiff, 1e-6)

        // A changed threshold redoes only the scoring, on the stored frames: no decoding, the same frames.
        let framesBefore = try d.query("SELECT s.uri, m.idx, hex(m.data) FROM media m JOIN sources s ON s.id = m.source_id ORDER BY 1, 2")
        let valuesBefore = try d.query("SELECT s.uri, t.text, m.idx, sc.value FROM scores sc JOIN texts t ON t.id = sc.text_id JOIN media m ON m.id = sc.media_id JOIN sources s ON s.id = m.source_id ORDER BY 1, 2, 3")
        let stricterSpec = try writeSpec(stages: """
          - stage: score
            model: \(RunTests.tinyCLIP.path)
            min: 0.99
        """)
        let stricter = try PipelineRunner(logger: quiet, config: stricterSpec).run()
        XCTAssertEqual(stricter.changed, 4)
        XCTAssertEqual(stricter.reused, 4)
        XCTAssertNil(stricter.counters("decode")["in"], "nothing was decoded again")
        XCTAssertEqual(stricter.counters("score")["in"], 4)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM curated_pairs").int, 0)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM scores").int, pairs)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM text_media").int, pairs)
        XCTAssertTrue(try d.query("SELECT s.uri, m.idx, hex(m.data) FROM media m JOIN sources s ON s.id = m.source_id ORDER BY 1, 2") == framesBefore)
        XCTAssertTrue(try d.query("SELECT s.uri, t.text, m.idx, sc.value FROM scores sc JOIN texts t ON t.id = sc.text_id JOIN media m ON m.id = sc.media_id JOIN sources s ON s.id = m.source_id ORDER BY 1, 2, 3") == valuesBefore,
                      "scores recomputed on stored frames equal the first run's")
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM texts WHERE origin = 'subtitle'").int, 3, "decode's texts are kept, not duplicated")
        // A changed decode setting redoes everything.
        let resampled = try PipelineRunner(logger: quiet, config: try writeSpec(sample: "every 2s", stages: """
          - stage: score
            model: \(RunTests.tinyCLIP.path)
            min: 0.99
        """)).run()
        XCTAssertEqual(resampled.changed, 4)
        XCTAssertEqual(resampled.reused, 0)
    }

    func testAModelThatCannotLoadIsASpecErrorAtItsLine() throws {
        XCTAssertThrowsError(try writeSpec(stages: """
          - stage: score
            model: /nonexistent/clip
        """)) { error in
            XCTAssertTrue(error is SpecError, "\(error)")
            XCTAssertTrue("\(error)".contains("p.yaml:15:12: cannot load the CLIP model"), "\(error)")
        }
    }

    static let tinyBLIPCaption = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BLIPTests/Fixtures/blip-cap-tiny")
    static let tinyBLIPITM = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BLIPTests/Fixtures/blip-itm-tiny")

    /// A worker gathers consecutive inputs up to the captioner's batch (a folder of stills is not
    /// captioned one image at a time), hostile files among them: every input gets the captions it
    /// gets alone, and the hostile ones are still error rows.
    func testInputsCaptionedTogetherGetTheCaptionsTheyGetAlone() throws {
        func run(batch: Int) throws -> (captions: [[String]], batches: Double, summary: RunSummary) {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("out"))
            let stages = """
              - stage: caption
                model: \(RunTests.tinyBLIPCaption.path)
                strategy: nucleus
                num_captions: 2
                max_new_tokens: 6
                seed: 3
                batch: \(batch)
            """
            let summary = try PipelineRunner(logger: quiet, config: try writeSpec(stages: stages)).run()
            let captions = try db().query("""
                SELECT s.uri, m.idx, t.text FROM texts t JOIN media m ON m.id = t.media_id JOIN sources s ON s.id = m.source_id
                WHERE t.origin = 'synthetic' ORDER BY 1, 2, 3
                """).map { row in row.map { $0.text ?? "\($0.int ?? -1)" } }
            return (captions, summary.counters("caption")["batches"] ?? 0, summary)
        }
        let alone = try run(batch: 1), together = try run(batch: 8)
        XCTAssertEqual(alone.summary.outcome, .errors)
        XCTAssertEqual(together.summary.failed, alone.summary.failed)
        XCTAssertGreaterThan(alone.summary.failed, 0)
        XCTAssertEqual(alone.batches, Double(alone.summary.frames), "batch 1: one forward pass per frame")
        XCTAssertLessThan(together.batches, alone.batches / 2, "inputs gathered into shared batches")
        XCTAssertGreaterThan(alone.captions.count, alone.summary.frames)
        XCTAssertEqual(together.captions, alone.captions)
        print("captions of \(alone.summary.frames) frames: \(Int(alone.batches)) batches alone, \(Int(together.batches)) together, identical")
    }

    /// An input the captioner cannot take fails alone; the inputs batched with it get their own captions.
    func testABatchedInputThatFailsFailsAlone() throws {
        let config = try writeSpec(stages: """
          - stage: caption
            model: \(RunTests.tinyBLIPCaption.path)
            strategy: greedy
            max_new_tokens: 5
        """)
        let stage = try config.stages[0].makeStage(models: ModelCache(config.stages.flatMap(\.models)))
        func input(_ name: String, frames: [RGBFrame?]) -> InputView {
            let items = frames.enumerated().map { i, image in
                FrameItem(index: i, time: Double(i), image: image, encoded: [], format: .jpeg, width: 32, height: 24, isKeyframe: true)
            }
            return InputView(uri: name, frames: items, texts: [], pairs: Array(repeating: [], count: frames.count))
        }
        let picture = { (seed: Int) in RGBFrame(width: 32, height: 24) { x, y in (UInt8((x * seed) % 256), UInt8(y * 9), UInt8(seed * 40)) } }
        let inputs = [input("a", frames: [picture(1), picture(2)]), input("broken", frames: [picture(3), nil]), input("empty", frames: []),
                      input("c", frames: [picture(4)])]
        let results = stage.process(batch: inputs)
        XCTAssertEqual(results.count, 4)
        XCTAssertThrowsError(try results[1].get()) { XCTAssertTrue("\($0)".contains("no picture"), "\($0)") }
        XCTAssertEqual(try results[2].get().texts.count, 0)
        for i in [0, 3] {
            let batched = try results[i].get().texts.map { "\($0.frame) \($0.text)" }
            let alone = try stage.process(inputs[i]).texts.map { "\($0.frame) \($0.text)" }
            XCTAssertEqual(batched, alone)
            XCTAssertEqual(batched.count, inputs[i].frames.count)
        }
        XCTAssertEqual(results.compactMap { try? $0.get().counters["batches"] }.reduce(0, +), 1, "one forward batch for 3 frames")
    }

    func testCapFiltPipelineCaptionsFiltersAndScoresEveryText() throws {
        let stages = """
          - stage: caption
            model: \(RunTests.tinyBLIPCaption.path)
            strategy: nucleus
            num_captions: 3
            max_new_tokens: 6
            seed: 1
          - stage: filter
            model: \(RunTests.tinyBLIPITM.path)
            threshold: 0.5
            itc: true
          - stage: score
            model: \(RunTests.tinyCLIP.path)
        """
        let summary = try PipelineRunner(logger: quiet, config: try writeSpec(stages: stages)).run()
        XCTAssertEqual(summary.outcome, .errors, "the hostile files still fail")
        let d = try db()
        let frames = try d.scalar("SELECT COUNT(*) FROM media WHERE kind = 'frame'").int ?? 0
        let synthetic = try d.scalar("SELECT COUNT(*) FROM texts WHERE origin = 'synthetic'").int ?? 0
        XCTAssertGreaterThanOrEqual(synthetic, frames, "at least one caption per frame")
        XCTAssertLessThanOrEqual(synthetic, frames * 3)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM texts WHERE origin = 'synthetic' AND (media_id IS NULL OR producer IS NULL OR settings NOT LIKE '%topP%')").int, 0,
                       "each caption names its frame, model and decoding settings")
        // Every pair — web, subtitle and synthetic — has an ITM probability, an ITC and a CLIP score.
        let pairs = try d.scalar("SELECT COUNT(*) FROM text_media").int ?? 0
        for metric in ["itm", "itc", "clip"] {
            XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM scores WHERE metric = ?", [metric]).int, pairs, metric)
        }
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM scores WHERE metric = 'itm' AND kept <> (value >= 0.5)").int, 0)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM capfilt_result WHERE itm IS NULL OR itc IS NULL OR clip IS NULL").int, 0)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM capfilt_result WHERE kept").int, try d.scalar("SELECT COUNT(*) FROM curated_pairs").int)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM capfilt_result WHERE kept AND itm < 0.5").int, 0)
        XCTAssertEqual(Set(try d.query("SELECT kind FROM models").map { $0[0].text! }), ["blip-caption", "blip-itm", "clip"])

        // The stored captions are what the captioner says for the stored frames, seed for seed.
        let captioner = try BLIPCaptioner.load(directory: RunTests.tinyBLIPCaption)
        let decoder = try ImageDecoder()
        let row = try XCTUnwrap(try d.query("""
            SELECT m.id, m.data FROM media m JOIN sources s ON s.id = m.source_id WHERE s.uri LIKE '%plain.mp4' AND m.kind = 'frame' AND m.idx = 1
            """).first)
        let f = try decoder.decode(row[1].blob!, format: .jpeg)
        var settings = CaptionSettings(strategy: .nucleus(topP: 0.9, topK: 0, temperature: 1), maxNewTokens: 6, numCaptions: 3, seed: 1)
        settings.repetitionPenalty = 1
        let expected = Set(try captioner.caption([RGBImage(width: f.width, height: f.height, pixels: f.pixels)], settings: settings)[0].map(\.text))
        let stored = Set(try d.query("SELECT text FROM texts WHERE media_id = ? AND origin = 'synthetic'", [row[0].int!]).map { $0[0].text! })
        XCTAssertEqual(stored, expected)

        // Lowering only the filter threshold reuses frames and captions, recomputing the filter and the scores.
        let captionsBefore = try d.query("SELECT media_id, text FROM texts WHERE origin = 'synthetic' ORDER BY 1, 2")
        let relaxed = try PipelineRunner(logger: quiet, config: try writeSpec(stages: stages.replacingOccurrences(of: "threshold: 0.5", with: "threshold: 0.0"))).run()
        XCTAssertEqual(relaxed.reused, 4)
        XCTAssertTrue(try d.query("SELECT media_id, text FROM texts WHERE origin = 'synthetic' ORDER BY 1, 2").count == captionsBefore.count)
        XCTAssertEqual(try d.scalar("SELECT COUNT(*) FROM scores WHERE metric = 'itm' AND kept = 0").int, 0)
    }
}
