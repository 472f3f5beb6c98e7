import Demo
import Foundation
import Media
import XCTest
@testable import Pipeline

/// `subtitles: {pair: nearest}`: with sparse sampling a cue on screen at no kept frame pairs with the
/// nearest kept frame instead of none; `overlap` (and `subtitles: true`) keep today's rule and keys.
final class SubtitlePairingTests: XCTestCase {
    func cue(_ s: Double, _ e: Double, _ pairing: SubtitlePairing) -> TextItem {
        var t = TextItem(origin: .subtitle, text: "c", start: s, end: e)
        t.pairing = pairing
        return t
    }

    func testTheRule() {
        let times = [0.0, 4.0, 8.0]
        XCTAssertEqual(cue(1, 2, .overlap).frames(times: times), [])
        XCTAssertEqual(cue(1, 2, .nearest).frames(times: times), [0], "1 s after frame 0, 2 s before frame 1")
        XCTAssertEqual(cue(5.5, 6, .nearest).frames(times: times), [1], "1.5 s after frame 1, 2 s before frame 2")
        XCTAssertEqual(cue(2.5, 6, .nearest).frames(times: times), [1], "on screen at 4 s: overlap decides")
        XCTAssertEqual(cue(9, 10, .nearest).frames(times: times), [2])
        XCTAssertEqual(cue(1, 2, .nearest).frames(times: []), [])
    }

    func decode(_ subtitles: String) throws -> DecodeConfig {
        try PipelineConfig.parse(yaml: "inputs: [{folder: m}]\noutput: {dir: o}\nstages:\n  - stage: decode\n    subtitles: \(subtitles)\n",
                                 file: "/tmp/p.yaml").decode
    }

    func testConfigAndKeys() throws {
        let plain = try decode("true"), overlap = try decode("{pair: overlap}"), nearest = try decode("{pair: nearest}")
        XCTAssertEqual(nearest.subtitlePairing, .nearest)
        XCTAssertTrue(nearest.options.subtitles)
        XCTAssertEqual(plain.fingerprint, overlap.fingerprint, "the default rule keeps the keys of existing outputs")
        XCTAssertTrue(plain.fingerprint.hasSuffix("subs=true)"), plain.fingerprint)
        XCTAssertNotEqual(plain.fingerprint, nearest.fingerprint)
        XCTAssertFalse(try decode("false").options.subtitles)
        XCTAssertThrowsError(try decode("{pair: closest}")) { XCTAssertTrue("\($0)".contains("must be one of: overlap, nearest"), "\($0)") }
    }

    /// A real video with eight short cues, none on screen at a kept frame of `every 4s`: `overlap` pairs
    /// none, `nearest` pairs all eight, and the rule survives a rerun that rebuilds the input from its rows.
    func testSparseSamplingKeepsEveryCueWithNearest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pairing-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("talk.mkv").path
        let cues = (0..<8).map { SubtitleCue(start: Double($0) + 0.2 + ($0 % 4 == 0 ? 0.5 : 0), end: Double($0) + 0.9, text: "cue \($0)") }
        try SyntheticMedia.write(to: path, spec: MediaSpec(video: .init(codec: .h264, width: 64, height: 48, fps: 10, frames: 80, gop: 10),
                                                           subtitles: (codec: .subrip, cues: cues))) { i in
            RGBFrame(width: 64, height: 48) { x, _ in (UInt8(i * 3 % 256), UInt8(x), 90) }
        }
        var paired: [SubtitlePairing: Int] = [:]
        for pairing in SubtitlePairing.allCases {
            let config = DecodeConfig(options: DecodeOptions(sampling: .every(seconds: 4), audio: nil), subtitlePairing: pairing)
            let order = WorkOrder(input: InputItem(path: path, uri: path, externalID: nil, webTexts: []), contentHash: "h",
                                  sizeBytes: nil, stageKeys: ["k"], previous: nil, from: 0)
            var item = WorkItem(order)
            item.apply(try MediaReader(config: config, pictures: false).read(path: path))
            XCTAssertEqual(item.frames.map(\.time), [0, 4])
            XCTAssertEqual(item.texts.count, 8)
            paired[pairing] = Set(item.links.map(\.text)).count
            let again = try WorkItem(reusing: item.rows(), order: order, keptStages: [config.name], pictures: false)
            XCTAssertEqual(again.links.map { "\($0.text) \($0.frame)" }, item.links.map { "\($0.text) \($0.frame)" }, "\(pairing)")
        }
        XCTAssertEqual(paired, [.overlap: 0, .nearest: 8])
    }
}
