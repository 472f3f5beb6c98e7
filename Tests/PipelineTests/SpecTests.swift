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

/// Messages that tell a person what to do (issue 11, #12).
extension SpecTests {
    func testDuplicateKeyPointsAtTheRepeatInOneLine() {
        let yaml = good.replacingOccurrences(of: "workers: 2", with: "workers: 2\nworkers: 3")
        assertSpecError(yaml, line: 12, column: 1, contains: ["duplicate key 'workers' (first at line 11)"])
        XCTAssertThrowsError(try parse(yaml)) { XCTAssertFalse("\($0)".contains("\n"), "one line, not the whole file: \($0)") }
    }

    func testUnknownTopLevelKeySaysWhereItIs() {
        assertSpecError(good.replacingOccurrences(of: "workers: 2", with: "wrkers: 2"), line: 11, column: 1,
                             contains: ["unknown key 'wrkers' at the top level (did you mean 'workers'?)"])
    }

    func testResizeScalarListsTheObjectForms() {
        assertSpecError(good.replacingOccurrences(of: "resize: {shortest: 224}", with: "resize: 384"), line: 15, column: 13,
                             contains: ["must be one of: none, {shortest: N, crop: center|none} or {fit: N | [width, height]}; found '384'"])
    }

    func testAModelFolderOfAnotherTypeIsNamedByItsModelType() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let yaml = good + "\n  - stage: caption\n    model: \(root.path)/models/demo-clip\n"
        assertSpecError(yaml, line: 18, column: 12,
                             contains: ["models/demo-clip holds a model_type 'clip', architectures CLIPModel model",
                                        "needs a BLIP captioning folder (model_type 'blip', BlipForConditionalGeneration)"])
        let itm = good + "\n  - stage: caption\n    model: \(root.path)/models/demo-blip-itm\n"
        assertSpecError(itm, line: 18, column: 12, contains: ["architectures BlipForImageTextRetrieval model"])
    }

    func testPrecisionIsPerModelStageAndNamesTheModel() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let stage = good + "\n  - stage: score\n    model: \(root.path)/models/demo-clip\n    metric: clip\n"
        assertSpecError(stage + "    precision: fp16\n", line: 20, column: 16, contains: ["must be one of: fp32, bf16"])
        let fp32 = try parse(stage), bf16 = try parse(stage + "    precision: bf16\n")
        let a = fp32.stages.last!.models[0], b = bf16.stages.last!.models[0]
        XCTAssertEqual(a.precision, .fp32)
        XCTAssertEqual(b.precision, .bf16)
        XCTAssertEqual(b.id, a.id + "+bf16")
        XCTAssertNotEqual(fp32.stages.last!.fingerprint, bf16.stages.last!.fingerprint, "a rerun in another precision redoes the stage")
    }

    func testMissingManifestSaysNoSuchFile() {
        let url = URL(fileURLWithPath: "/nonexistent/alt.jsonl")
        XCTAssertThrowsError(try Ingest.collect([.manifest(path: url, format: .jsonl, pathField: "path", textField: "text", idField: "id")])) {
            XCTAssertEqual("\($0)", "cannot read the manifest /nonexistent/alt.jsonl: no such file")
        }
    }
}
