import Demo
import Foundation
import XCTest
@testable import Media

final class DecodeTests: XCTestCase {
    func firstFrame(_ path: String, resize: ResizePolicy = .none) throws -> RGBFrame {
        var out: RGBFrame? = nil
        _ = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .uniform(count: 1), resize: resize, audio: nil, subtitles: false)) {
            if out == nil { out = $0.image }
        }
        return try XCTUnwrap(out)
    }

    /// Mean of a box of pixels, as colours survive compression and scaling best away from edges.
    func mean(_ img: RGBFrame, x0: Double, y0: Double, x1: Double, y1: Double) -> (Double, Double, Double) {
        var s = (0.0, 0.0, 0.0), n = 0.0
        for y in Int(y0 * Double(img.height))..<Int(y1 * Double(img.height)) {
            for x in Int(x0 * Double(img.width))..<Int(x1 * Double(img.width)) {
                let p = img.pixel(x, y); s.0 += Double(p.0); s.1 += Double(p.1); s.2 += Double(p.2); n += 1
            }
        }
        return (s.0 / n, s.1 / n, s.2 / n)
    }

    func assertColour(_ c: (Double, Double, Double), _ e: (Double, Double, Double), tolerance: Double = 12,
                      _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let d = max(abs(c.0 - e.0), abs(c.1 - e.1), abs(c.2 - e.2))
        XCTAssertLessThanOrEqual(d, tolerance, "\(what): got \(c), expected \(e)", file: file, line: line)
    }

    /// The quadrant pattern of `TestMedia.patternFrame`, upright: red/green over blue/white.
    func assertPattern(_ img: RGBFrame, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        assertColour(mean(img, x0: 0.1, y0: 0.55, x1: 0.4, y1: 0.7), (255, 0, 0), "\(what) red", file: file, line: line)
        assertColour(mean(img, x0: 0.6, y0: 0.55, x1: 0.9, y1: 0.7), (0, 255, 0), "\(what) green", file: file, line: line)
        assertColour(mean(img, x0: 0.1, y0: 0.8, x1: 0.4, y1: 0.95), (0, 0, 255), "\(what) blue", file: file, line: line)
        assertColour(mean(img, x0: 0.6, y0: 0.8, x1: 0.9, y1: 0.95), (255, 255, 255), "\(what) white", file: file, line: line)
    }

    func testPixelsSurviveDecodeAcrossCodecsAndFormats() throws {
        let dir = TestMedia.tempDir()
        let cases: [(String, MediaSpec.VideoCodec, String?, Int, Int)] = [
            ("h264-420.mp4", .h264, "yuv420p", 160, 120),
            ("h264-444-odd.mkv", .h264, "yuv444p", 161, 97),
            ("h264-10bit.mkv", .h264, "yuv420p10le", 128, 96),
            ("mpeg4.mp4", .mpeg4, nil, 176, 144),
            ("ffv1-odd.mkv", .ffv1, "yuv444p", 75, 51),
        ]
        for (name, codec, fmt, w, h) in cases {
            let path = try TestMedia.video(dir, name, codec: codec, width: w, height: h, seconds: 1, pixelFormat: fmt)
            let img = try firstFrame(path)
            XCTAssertEqual(img.width, w, name); XCTAssertEqual(img.height, h, name)
            assertPattern(img, name)
            XCTAssertEqual(TestMedia.frameNumber(img), 15, name)
        }
    }

    func testResizeShortestSideCropAndFit() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "wide.mp4", width: 320, height: 180, seconds: 1)
        let crop = try firstFrame(path, resize: .shortestSide(size: 90, centerCrop: true))
        XCTAssertEqual(crop.width, 90); XCTAssertEqual(crop.height, 90)
        // The centre crop of a 16:9 frame cuts the sides: the quadrant boundary stays in the middle.
        assertColour(mean(crop, x0: 0.1, y0: 0.55, x1: 0.4, y1: 0.7), (255, 0, 0), "crop red")
        assertColour(mean(crop, x0: 0.6, y0: 0.8, x1: 0.9, y1: 0.95), (255, 255, 255), "crop white")
        let short = try firstFrame(path, resize: .shortestSide(size: 90, centerCrop: false))
        XCTAssertEqual(short.width, 160); XCTAssertEqual(short.height, 90)
        assertPattern(short, "shortest")
        let fit = try firstFrame(path, resize: .fit(width: 100, height: 100))
        XCTAssertEqual(fit.width, 100); XCTAssertEqual(fit.height, 56)
        assertPattern(fit, "fit")
    }

    func testRotationDisplayMatrixIsApplied() throws {
        let dir = TestMedia.tempDir()
        for rotation in [90, 180, 270] {
            let path = try TestMedia.video(dir, "rot\(rotation).mp4", width: 160, height: 96, seconds: 0.5, rotation: rotation)
            let probe = try MediaDecoder.probe(path: path)
            XCTAssertEqual(probe.rotation, rotation)
            let img = try firstFrame(path)
            let upright = img.rotated(clockwise: 360 - rotation)
            XCTAssertEqual(img.width, rotation == 180 ? 160 : 96, "rotation \(rotation)")
            assertPattern(upright, "rotation \(rotation) turned back")
        }
    }

    func testSampleAspectRatioIsApplied() throws {
        let dir = TestMedia.tempDir()
        // Anamorphic: 120×90 stored, 4:3 pixels, shown 160×90.
        let path = try TestMedia.video(dir, "sar.mkv", width: 120, height: 90, seconds: 0.5, sar: (4, 3))
        let probe = try MediaDecoder.probe(path: path)
        XCTAssertEqual(probe.width, 160); XCTAssertEqual(probe.height, 90)
        let img = try firstFrame(path)
        XCTAssertEqual(img.width, 160)
        assertPattern(img, "sar")
    }

    func testStillImagesJPEGPNGWebP() throws {
        let dir = TestMedia.tempDir()
        let frame = TestMedia.patternFrame(index: 77, width: 99, height: 65)
        for format in ImageFormat.allCases {
            let bytes = try ImageEncoder(format: format, quality: 95).encode(frame)
            let path = dir.appendingPathComponent("img.\(format.fileExtension)").path
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let probe = try MediaDecoder.probe(path: path)
            XCTAssertEqual(probe.kind, .image, "\(format)")
            let r = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .every(seconds: 1))) { f in
                XCTAssertEqual(f.time, 0)
                XCTAssertEqual(f.image?.width, 99)
                XCTAssertEqual(TestMedia.frameNumber(f.image!), 77, "\(format)")
                self.assertPattern(f.image!, "\(format)")
            }
            XCTAssertEqual(r.frameTimes, [0], "\(format)")
        }
        // PNG is lossless: exact pixels.
        let png = dir.appendingPathComponent("img.png").path
        XCTAssertEqual(try firstFrame(png), frame)
    }

    func testAudioSegmentsAlignToFrames() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "av.mp4", seconds: 4, audio: .init(codec: .aac, sampleRate: 44_100, channels: 2, duration: 4))
        let r = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .every(seconds: 1), audio: AudioOptions())) { _ in }
        XCTAssertEqual(r.frameTimes.count, 4)
        XCTAssertEqual(r.audio.count, 4)
        for (i, seg) in r.audio.enumerated() {
            XCTAssertEqual(seg.sampleRate, 16_000)
            XCTAssertEqual(seg.start, r.frameTimes[i], accuracy: 0.001)
            XCTAssertEqual(Double(seg.samples.count), 16_000, accuracy: 16_000 * 0.03, "segment \(i) length")
            // A 440 Hz sine at amplitude 0.5: RMS ≈ 0.354.
            let rms = (seg.samples.map { Double($0 * $0) }.reduce(0, +) / Double(seg.samples.count)).squareRoot()
            XCTAssertEqual(rms, 0.3536, accuracy: 0.03, "segment \(i) rms")
        }
        let w = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .every(seconds: 1), audio: AudioOptions(segmenting: .window(0.5)))) { _ in }
        XCTAssertEqual(w.audio.count, 4)
        XCTAssertEqual(w.audio[0].samples.count, 4_000, "first window is clipped at 0")
        XCTAssertEqual(w.audio[2].samples.count, 8_000)
    }

    func testAudioOnlyFileIsChunked() throws {
        let dir = TestMedia.tempDir()
        let path = dir.appendingPathComponent("a.mka").path
        try SyntheticMedia.write(to: path, spec: MediaSpec(audio: .init(codec: .flac, sampleRate: 48_000, channels: 1, duration: 25)))
        let r = try MediaDecoder.decode(path: path, options: DecodeOptions(audio: AudioOptions(chunkSeconds: 10))) { _ in XCTFail("no frames") }
        XCTAssertEqual(r.probe.kind, .audio)
        XCTAssertEqual(r.audio.map(\.samples.count), [160_000, 160_000, 80_000])
    }

    func testSubtitleCuesFromMKVAndMP4() throws {
        let dir = TestMedia.tempDir()
        let cues = [SubtitleCue(start: 0.5, end: 1.5, text: "a red square"),
                    SubtitleCue(start: 2.0, end: 3.2, text: "two lines\nof text"),
                    SubtitleCue(start: 3.5, end: 3.9, text: "commas, inside, text")]
        for (name, codec) in [("s.mkv", MediaSpec.SubtitleCodec.subrip), ("a.mkv", .ass), ("m.mp4", .movText)] {
            let path = try TestMedia.video(dir, name, seconds: 4, audio: .init(codec: .aac, duration: 4), subtitles: (codec, cues))
            let r = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .every(seconds: 1))) { _ in }
            XCTAssertEqual(r.cues.map(\.text), cues.map(\.text), name)
            for (got, want) in zip(r.cues, cues) {
                XCTAssertEqual(got.start, want.start, accuracy: 0.02, name)
                XCTAssertEqual(got.end, want.end, accuracy: 0.02, name)
            }
        }
    }

    func testHostileFilesThrowWithTheFFmpegMessage() throws {
        let dir = TestMedia.tempDir()
        let good = try TestMedia.video(dir, "good.mp4", seconds: 2)
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let fm = FileManager.default
        fm.createFile(atPath: dir.appendingPathComponent("empty.mp4").path, contents: Data())
        fm.createFile(atPath: dir.appendingPathComponent("text.mp4").path, contents: Data("hello, not a video\n".utf8))
        fm.createFile(atPath: dir.appendingPathComponent("cut.mp4").path, contents: data.prefix(data.count / 3))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("gone.mp4").path, withDestinationPath: "/nonexistent/x.mp4")
        for name in ["empty.mp4", "text.mp4", "cut.mp4", "gone.mp4"] {
            XCTAssertThrowsError(try MediaDecoder.decode(path: dir.appendingPathComponent(name).path, options: DecodeOptions()) { _ in }, name) { error in
                let e = error as? FFmpegError
                XCTAssertNotNil(e, name)
                XCTAssertFalse(e?.message.isEmpty ?? true, name)
                print("\(name): \(error)")
            }
        }
    }

    func testContentHashIsSHA256() throws {
        XCTAssertEqual(ContentHash.sha256(bytes: Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
