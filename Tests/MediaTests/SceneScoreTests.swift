import Demo
import Foundation
import XCTest
@testable import Media

/// Scene scores are FFmpeg's `select` filter's `scene` value: clip(min(MAFD, |MAFD − previous MAFD|)
/// / 100, 0, 1) over the luma plane of planar YUV (vf_select.c, get_scene_score). The first tests work
/// the expected values out by hand from that formula and BT.601 limited-range luma, Y = 16 + 219·v/255
/// for a grey level v; the last one asks the `ffmpeg` binary itself (`make deps` installs it; the
/// pipeline never runs it) for its `scene` values on the same file.
final class SceneScoreTests: XCTestCase {
    func testTheFormula() {
        var s = SceneScore()
        let flat = { (v: UInt16) in [UInt16](repeating: v, count: 100) }
        XCTAssertEqual(s.score(flat(50), width: 10, height: 10, scale: 1, at: 0, threshold: 0.01, minGap: 0), 1, "the first frame is kept")
        XCTAssertNil(s.score(flat(50), width: 10, height: 10, scale: 1, at: 1, threshold: 0.01, minGap: 0))
        XCTAssertEqual(try XCTUnwrap(s.score(flat(80), width: 10, height: 10, scale: 1, at: 2, threshold: 0.01, minGap: 0)), 0.30, accuracy: 1e-9)
        // A steady change (a pan) scores min(MAFD, |MAFD − previous|) = |30 − 30| = 0, not 0.3.
        XCTAssertNil(s.score(flat(110), width: 10, height: 10, scale: 1, at: 3, threshold: 0.01, minGap: 0))
        XCTAssertEqual(try XCTUnwrap(s.score(flat(0), width: 10, height: 10, scale: 1, at: 5, threshold: 0.01, minGap: 0)), 0.8, accuracy: 1e-9, "min(110, |110 − 30|)")
        XCTAssertEqual(s.score(flat(250), width: 10, height: 10, scale: 1, at: 6, threshold: 0.01, minGap: 0), 1, "min(250, 140) clipped at 1")
        // 10-bit samples count in 8-bit levels: 240 apart at depth 10 is MAFD 60.
        var deep = SceneScore()
        _ = deep.score(flat(400), width: 10, height: 10, scale: 4, at: 0, threshold: 0.01, minGap: 0)
        XCTAssertEqual(try XCTUnwrap(deep.score(flat(640), width: 10, height: 10, scale: 4, at: 1, threshold: 0.01, minGap: 0)), 0.60, accuracy: 1e-9)
    }

    /// A lossless (FFV1, yuv420p) video of grey cuts: the scores that choose each cut.
    func testScoresOfRealCutsMatchFFmpegsDefinition() throws {
        let dir = TestMedia.tempDir()
        let path = dir.appendingPathComponent("cuts.mkv").path
        // v: 0, 0, 40, 40, left half 255 | right 40, same, 60, 60.
        let frames: [(Int, Int)] = [(0, 0), (0, 0), (40, 40), (40, 40), (255, 40), (255, 40), (60, 60), (60, 60)]
        try SyntheticMedia.write(to: path, spec: MediaSpec(video: .init(codec: .ffv1, width: 96, height: 64, fps: 10, frames: frames.count,
                                                                        gop: 1, pixelFormat: "yuv420p"))) { i in
            RGBFrame(width: 96, height: 64) { x, _ in let v = UInt8(x < 48 ? frames[i].0 : frames[i].1); return (v, v, v) }
        }
        var chosen: [(Double, Double)] = []
        _ = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .scene(threshold: 0.01, minGap: 0), audio: nil, subtitles: false)) {
            chosen.append(($0.time, $0.sceneScore ?? -1))
        }
        let y = { (v: Double) in 16 + 219 * v / 255 }
        // 0 → 40: MAFD 34.4; 40 → half 255: MAFD (235 − 50.4) / 2 = 92.3; half 255 → 60: left 235 − 67.5, right 67.5 − 50.4.
        let cut3 = ((y(255) - y(60)) + (y(60) - y(40))) / 2
        let expected = [(0.0, 1.0), (0.2, (y(40) - y(0)) / 100), (0.4, (y(255) - y(40)) / 2 / 100), (0.6, cut3 / 100)]
        XCTAssertEqual(chosen.map(\.0), expected.map(\.0))
        for ((t, got), (_, want)) in zip(chosen, expected) {
            XCTAssertEqual(got, min(want, 1), accuracy: 0.012, "cut at \(t)")
        }
        print("scene scores: \(chosen.map { String(format: "%.3f", $0.1) }) expected \(expected.map { String(format: "%.3f", min($0.1, 1)) })")
    }

    /// The scores ffmpeg's `select` filter prints for the same file, frame by frame.
    func testScoresEqualTheFFmpegBinarysSceneValues() throws {
        let ffmpeg = "/usr/bin/ffmpeg"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: ffmpeg), "make deps installs ffmpeg for this comparison")
        let path = TestMedia.tempDir().appendingPathComponent("textured-cuts.mkv").path
        // Flat cuts, a textured scene that moves (small nonzero scores), and a cut back.
        try SyntheticMedia.write(to: path, spec: MediaSpec(video: .init(codec: .ffv1, width: 96, height: 64, fps: 10, frames: 12,
                                                                        gop: 1, pixelFormat: "yuv420p"))) { i in
            RGBFrame(width: 96, height: 64) { x, y in
                switch i {
                case 0..<2: return (0, 0, 0)
                case 2..<4: return (40, 40, 40)
                case 4..<9: let v = UInt8(((x + 3 * i) * 7 + y * 13) % 256); return (v, UInt8(255 - Int(v)), UInt8(y * 4))
                default: return (60, 60, 60)
                }
            }
        }
        var ours: [String: Double] = [:]
        _ = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .scene(threshold: 0.000001, minGap: 0), audio: nil, subtitles: false)) {
            ours[String(format: "%.1f", $0.time)] = $0.sceneScore
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ffmpeg)
        p.arguments = ["-loglevel", "error", "-i", path, "-vf", "select='gte(scene,0)',metadata=print:file=-", "-an", "-f", "null", "-"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        // "frame:N pts:P pts_time:T" then "lavfi.scene_score=S"
        var theirs: [String: Double] = [:], time: String? = nil
        for line in text.split(separator: "\n") {
            if let r = line.range(of: "pts_time:") { time = String(format: "%.1f", Double(line[r.upperBound...].split(separator: " ")[0]) ?? -1) }
            if let r = line.range(of: "lavfi.scene_score="), let t = time { theirs[t] = Double(line[r.upperBound...]) }
        }
        XCTAssertEqual(theirs.count, 12, text)
        var maxDiff = 0.0, compared = 0
        for (t, score) in theirs where t != "0.0" {  // ffmpeg scores the first frame 0; capfilt keeps it with 1
            maxDiff = max(maxDiff, abs((ours[t] ?? 0) - score))
            compared += 1
        }
        print("scene scores vs the ffmpeg binary: \(compared) frames, max |Δ| \(maxDiff); ffmpeg \(theirs.sorted { $0.key < $1.key }.map { String(format: "%.3f", $0.value) })")
        XCTAssertGreaterThan(theirs.values.filter { $0 > 0 && $0 < 0.1 }.count, 0, "the textured part gives small nonzero scores too")
        XCTAssertLessThan(maxDiff, 1e-5)
    }
}
