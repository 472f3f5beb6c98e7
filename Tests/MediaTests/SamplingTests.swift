import Demo
import XCTest
@testable import Media

final class SamplingTests: XCTestCase {
    func times(_ path: String, _ spec: SamplingSpec, seek: Bool = true) throws -> (times: [Double], numbers: [Int], stats: DecodeStats) {
        var numbers: [Int] = []
        let r = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: spec, audio: nil, subtitles: false, allowSeeking: seek)) {
            numbers.append(TestMedia.frameNumber($0.image!))
        }
        return (r.frameTimes, numbers, r.stats)
    }

    func assertClose(_ a: [Double], _ b: [Double], tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "got \(a), expected \(b)", file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tolerance, "got \(a), expected \(b)", file: file, line: line) }
    }

    func testEveryNSecondsH264SelectsTheRightFramesAndSeeks() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "a.mp4", seconds: 10, gop: 15)
        let r = try times(path, .every(seconds: 2))
        assertClose(r.times, [0, 2, 4, 6, 8], tolerance: 1.0 / 30)
        // The pixels say which frame was decoded: frame n is shown at n/30 s.
        XCTAssertEqual(r.numbers, [0, 60, 120, 180, 240].map { $0 % 256 })
        XCTAssertEqual(r.stats.framesConverted, 5)
        XCTAssertGreaterThan(r.stats.seeks, 0, "sparse sampling must seek over unused GOPs")
        XCTAssertLessThan(r.stats.framesDecoded, 150, "frames decoded: \(r.stats.framesDecoded)")
        // Without seeking the same frames come out.
        let linear = try times(path, .every(seconds: 2), seek: false)
        XCTAssertEqual(linear.numbers, r.numbers)
        XCTAssertEqual(linear.stats.seeks, 0)
    }

    func testEveryNSecondsMKVSeeksOnceItsCuesAreRead() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "a.mkv", seconds: 12, gop: 30, audio: .init(codec: .aac, duration: 12))
        let r = try times(path, .every(seconds: 3))
        XCTAssertEqual(r.numbers, [0, 90, 180, 270].map { $0 % 256 })
        XCTAssertGreaterThan(r.stats.seeks, 1)
        XCTAssertLessThan(r.stats.framesDecoded, 120, "frames decoded: \(r.stats.framesDecoded) of 360")
    }

    func testFpsMPEG4() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "b.mp4", codec: .mpeg4, fps: 25, seconds: 3, gop: 12)
        let r = try times(path, .fps(2))
        assertClose(r.times, stride(from: 0.0, to: 3.0, by: 0.5).map { $0 }, tolerance: 1.0 / 25)
        XCTAssertEqual(r.numbers, r.times.map { Int(($0 * 25).rounded()) })
    }

    func testKeyframesOnlyDecodesKeyframes() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "k.mkv", fps: 30, seconds: 4, gop: 30)
        let r = try times(path, .keyframes)
        assertClose(r.times, [0, 1, 2, 3], tolerance: 1.0 / 30)
        XCTAssertEqual(r.numbers, [0, 30, 60, 90])
        XCTAssertLessThanOrEqual(r.stats.framesDecoded, 4)
    }

    func testUniformK() throws {
        let dir = TestMedia.tempDir()
        let path = try TestMedia.video(dir, "u.mp4", fps: 30, seconds: 6)
        let r = try times(path, .uniform(count: 4))
        assertClose(r.times, [0.75, 2.25, 3.75, 5.25], tolerance: 1.0 / 30)
        XCTAssertEqual(r.numbers, r.times.map { Int(($0 * 30).rounded()) })
    }

    func testSceneChangeFindsCuts() throws {
        let dir = TestMedia.tempDir()
        let path = dir.appendingPathComponent("scene.mp4").path
        // Three shots of flat colour with a slow drift: cuts at 1.0 s and 2.5 s.
        let spec = MediaSpec(video: .init(codec: .h264, width: 96, height: 64, fps: 20, frames: 80, gop: 40))
        try SyntheticMedia.write(to: path, spec: spec) { i in
            let t = Double(i) / 20
            let base: (Int, Int, Int) = t < 1 ? (200, 30, 30) : t < 2.5 ? (30, 200, 30) : (30, 30, 200)
            let drift = i % 20
            return RGBFrame(width: 96, height: 64) { _, _ in (UInt8(base.0 + drift), UInt8(base.1), UInt8(base.2)) }
        }
        let r = try times(path, .scene(threshold: 0.2, minGap: 0))
        assertClose(r.times, [0, 1.0, 2.5], tolerance: 1.0 / 20)
    }

    func testSamplingSpecParsing() throws {
        XCTAssertEqual(try SamplingSpec.parse("every 2s"), .every(seconds: 2))
        XCTAssertEqual(try SamplingSpec.parse("fps 0.5"), .fps(0.5))
        XCTAssertEqual(try SamplingSpec.parse("keyframes"), .keyframes)
        XCTAssertEqual(try SamplingSpec.parse("uniform 8"), .uniform(count: 8))
        XCTAssertEqual(try SamplingSpec.parse("scene 0.3 gap 1s"), .scene(threshold: 0.3, minGap: 1))
        XCTAssertThrowsError(try SamplingSpec.parse("every"))
        XCTAssertThrowsError(try SamplingSpec.parse("sometimes 3"))
        XCTAssertThrowsError(try SamplingSpec.parse("uniform 2.5"))
    }
}
