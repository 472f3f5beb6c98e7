import Foundation
import XCTest
import Store
@testable import Pipeline

/// The defects the pipeline's reshaping (issue 9) fixed, each on the media `RunTests.setUp` makes.
extension RunTests {
    /// The stored itm probabilities' median, so a filter at it drops some pairs and keeps others.
    func medianITM() throws -> Double {
        let probe = try writeSpec(stages: """
          - stage: filter
            model: \(RunTests.tinyBLIPITM.path)
        """)
        _ = try PipelineRunner(logger: quiet, config: probe).run()
        let values = try db().query("SELECT value FROM scores WHERE metric = 'itm' ORDER BY value").map { $0[0].double! }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("out"))
        return values[values.count / 2]
    }

    func testLedgerTextCountsAfterAPartialRerunEqualTheShards() throws {
        let threshold = try medianITM()
        func stages(min: Double) -> String {
            """
              - stage: filter
                model: \(RunTests.tinyBLIPITM.path)
                threshold: \(threshold)
              - stage: score
                model: \(RunTests.tinyCLIP.path)
                min: \(min)
            """
        }
        _ = try PipelineRunner(logger: quiet, config: try writeSpec(stages: stages(min: -1))).run()
        // Only the score stage changed: the filter's decisions are reused from the shard.
        let rerun = try PipelineRunner(logger: quiet, config: try writeSpec(stages: stages(min: -0.5))).run()
        XCTAssertEqual(rerun.reused, 4)
        XCTAssertNil(rerun.counters("filter")["in"], "the filter did not run again")
        let d = try db()
        let run = rerun.runID
        let paired = try d.scalar("SELECT COUNT(DISTINCT p.text_id) FROM pairs p JOIN sources s ON s.id = p.source_id WHERE s.run_id = ?", [run]).int ?? -1
        let kept = try d.scalar("SELECT COUNT(DISTINCT p.text_id) FROM pairs p JOIN sources s ON s.id = p.source_id WHERE s.run_id = ? AND p.kept", [run]).int ?? -1
        let texts = try d.scalar("SELECT COUNT(*) FROM texts t JOIN sources s ON s.id = t.source_id WHERE s.run_id = ?", [run]).int ?? -1
        XCTAssertGreaterThan(paired - kept, 0, "the filter dropped some texts, so the check means something")
        XCTAssertGreaterThan(kept, 0)
        let ledger = try XCTUnwrap(try d.scalar("SELECT stats FROM runs WHERE id = ?", [run]).text)
        let stats = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ledger.utf8)) as? [String: Any])
        XCTAssertEqual(stats["texts_kept"] as? Int, Int(kept), ledger)
        XCTAssertEqual(stats["texts_dropped"] as? Int, Int(paired - kept), ledger)
        XCTAssertEqual(stats["texts_unpaired"] as? Int, Int(texts - paired), ledger)
    }

    func testReadingAPipelineLoadsNoWeightsAndABrokenModelStopsTheRunAtItsLine() throws {
        // A CLIP folder whose config is fine and whose weights are not a safetensors file.
        let broken = dir.appendingPathComponent("broken-clip")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: RunTests.tinyCLIP.path) where f != "model.safetensors" {
            try FileManager.default.copyItem(at: RunTests.tinyCLIP.appendingPathComponent(f), to: broken.appendingPathComponent(f))
        }
        try Data(repeating: 0xAB, count: 4096).write(to: broken.appendingPathComponent("model.safetensors"))
        let config = try writeSpec(stages: """
          - stage: score
            model: \(broken.path)
        """)
        XCTAssertTrue(config.stages[0].fingerprint.contains("broken-clip-"), "the model is named by its fingerprint")
        XCTAssertThrowsError(try PipelineRunner(logger: quiet, config: config).run()) { error in
            XCTAssertTrue(error is SpecError, "\(error)")
            XCTAssertTrue("\(error)".contains("p.yaml:15:12: cannot load the CLIP model"), "\(error)")
            XCTAssertEqual(ExitCode.for(error: error), ExitCode.usage)
        }
        XCTAssertEqual(try db().scalar("SELECT COUNT(*) FROM runs").int, 0, "no ledger row for a run that never started")
    }

    func testEachCheckpointFolderLoadsOncePerRun() throws {
        let summary = try PipelineRunner(logger: quiet, config: try writeSpec(stages: """
          - stage: filter
            model: \(RunTests.tinyBLIPITM.path)
            batch: 4
          - stage: score
            model: \(RunTests.tinyBLIPITM.path)
            metric: itc
          - stage: score
            name: clip
            model: \(RunTests.tinyCLIP.path)
        """)).run()
        XCTAssertEqual(summary.modelsLoaded, [RunTests.tinyBLIPITM.path, RunTests.tinyCLIP.path])
        XCTAssertEqual(try db().scalar("SELECT COUNT(*) FROM scores WHERE metric = 'itc' AND stage = 'score'").int,
                       try db().scalar("SELECT COUNT(*) FROM text_media").int)
    }

    func testARunThatFailsAtItsStartClosesItsLedgerRow() throws {
        let config = try writeSpec()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("alt.jsonl"))
        XCTAssertThrowsError(try PipelineRunner(logger: quiet, config: config).run()) { XCTAssertTrue($0 is IngestError, "\($0)") }
        let rows = try db().query("SELECT status, exit_code, finished_at, stats FROM runs")
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.first?[0].text, "failed")
        XCTAssertEqual(rows.first?[1].int, Int64(ExitCode.usage), "a missing manifest is a usage error")
        XCTAssertNotNil(rows.first?[2].text)
        XCTAssertTrue(rows.first?[3].text?.contains("alt.jsonl") ?? false, rows.first?[3].text ?? "")
    }
}
