import Foundation
import XCTest
@testable import Pipeline

final class SpecTests: XCTestCase {
    func parse(_ yaml: String) throws -> PipelineConfig {
        try PipelineConfig.parse(yaml: yaml, file: "/tmp/p/test.yaml")
    }

    func assertSpecError(_ yaml: String, line: Int, column: Int, contains: [String], file: StaticString = #filePath, l: UInt = #line) {
        XCTAssertThrowsError(try parse(yaml), file: file, line: l) { error in
            guard let e = error as? SpecError else { return XCTFail("not a SpecError: \(error)", file: file, line: l) }
            print(e)
            XCTAssertEqual(e.file, "/tmp/p/test.yaml", file: file, line: l)
            XCTAssertEqual(e.line, line, "\(e)", file: file, line: l)
            XCTAssertEqual(e.column, column, "\(e)", file: file, line: l)
            for c in contains { XCTAssertTrue(e.description.contains(c), "'\(e)' lacks '\(c)'", file: file, line: l) }
        }
    }

    let good = """
    version: 1
    name: t
    inputs:
      - folder: media
        include: "**/*.mp4"
      - manifest: alt.csv
        text_field: caption
    output:
      dir: out
      shard_max_media: 100
    workers: 2
    stages:
      - stage: decode
        sample: {every: 2}
        resize: {shortest: 224}
        audio: {segment: window, window: 1.5}
    """

    func testGoodSpec() throws {
        let spec = try parse(good)
        XCTAssertEqual(spec.name, "t")
        XCTAssertEqual(spec.workers, 2)
        XCTAssertEqual(spec.budget.maxMediaRows, 100)
        XCTAssertEqual(spec.outputDirectory.path, "/tmp/p/out")
        XCTAssertEqual(spec.inputs[0], .folder(path: URL(fileURLWithPath: "/tmp/p/media"), include: ["**/*.mp4"], exclude: []))
        XCTAssertEqual(spec.inputs[1], .manifest(path: URL(fileURLWithPath: "/tmp/p/alt.csv"), format: .csv, pathField: "path", textField: "caption", idField: "id"))
        let decode = spec.decode
        XCTAssertEqual(decode.options.sampling, .every(seconds: 2))
        XCTAssertEqual(decode.options.resize, .shortestSide(size: 224, centerCrop: true))
        XCTAssertEqual(decode.options.audio?.segmenting, .window(1.5))
    }

    func testUnknownTopLevelKeyNamesAllowedKeys() {
        assertSpecError(good.replacingOccurrences(of: "workers: 2", with: "wrokers: 2"), line: 11, column: 1,
                        contains: ["unknown key 'wrokers'", "did you mean 'workers'", "allowed keys: version, name"])
    }

    func testUnknownStageKeyIsReportedWhereItIs() {
        assertSpecError(good.replacingOccurrences(of: "    resize: {shortest: 224}", with: "    resise: {shortest: 224}"), line: 15, column: 5,
                        contains: ["unknown key 'resise'", "allowed keys: stage, name, sample"])
    }

    func testUnknownStageName() {
        assertSpecError(good.replacingOccurrences(of: "stage: decode", with: "stage: decoder"), line: 13, column: 12,
                        contains: ["unknown stage 'decoder'", "known stages: caption, decode, filter, score"])
    }

    func testWrongTypeAndBadValues() {
        assertSpecError(good.replacingOccurrences(of: "workers: 2", with: "workers: many"), line: 11, column: 10,
                        contains: ["workers must be a whole number"])
        assertSpecError(good.replacingOccurrences(of: "sample: {every: 2}", with: "sample: sometimes 2"), line: 14, column: 13,
                        contains: ["invalid sampling 'sometimes 2'"])
        assertSpecError(good.replacingOccurrences(of: "resize: {shortest: 224}", with: "resize: {shortest: 224, crop: middle}"), line: 15, column: 35,
                        contains: ["must be one of: center, none"])
    }

    func testMissingRequiredAndSyntax() {
        assertSpecError("inputs: []\nstages: []\n", line: 1, column: 1, contains: ["missing required key 'output'"])
        assertSpecError("inputs: [\n  - a\n", line: 2, column: 3, contains: ["YAML"])
        assertSpecError(good.replacingOccurrences(of: "  - manifest: alt.csv\n    text_field: caption\n", with: "  - manifest: alt.xyz\n"), line: 6, column: 15,
                        contains: ["cannot tell the manifest format"])
    }

    func testShippedPipelinesValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("pipelines").path).filter { $0.hasSuffix(".yaml") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            // Pipelines naming shipped models validate once the models are there (models/ is part of the repo).
            XCTAssertNoThrow(try PipelineConfig.load(path: root.appendingPathComponent("pipelines/\(f)").path), f)
        }
    }
}
