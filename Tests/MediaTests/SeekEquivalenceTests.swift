import Demo
import Foundation
import XCTest
@testable import Media

/// Seeking is an optimisation only: for every sampling mode the frames kept with seeking equal those
/// kept reading every packet, over each container × codec pair this FFmpeg writes here. Keyframes
/// every 1.5 s put most `every 2s` targets between two keyframes.
final class SeekEquivalenceTests: XCTestCase {
    static let pairs: [(String, MediaSpec.VideoCodec)] = [
        ("mp4", .h264), ("mp4", .mpeg4), ("mov", .h264), ("mkv", .h264), ("mkv", .mpeg4), ("mkv", .ffv1),
        ("ts", .h264), ("ts", .mpeg4), ("mpg", .mpeg4), ("avi", .mpeg4), ("flv", .h264), ("3gp", .h264), ("asf", .mpeg4),
        ("webm", .vp8), ("mkv", .vp8), ("ogv", .theora), ("ogg", .theora),
    ]
    static let specs = ["every 2s", "fps 0.3", "uniform 5", "keyframes", "scene 0.2"]

    func times(_ path: String, _ spec: String, seek: Bool) throws -> [Double] {
        let options = DecodeOptions(sampling: try SamplingSpec.parse(spec), audio: nil, subtitles: false, convertPixels: false, allowSeeking: seek)
        return try MediaDecoder.decode(path: path, options: options) { _ in }.frameTimes
    }

    func testSeekingKeepsTheFramesReadingEverythingKeeps() throws {
        let dir = TestMedia.tempDir()
        var seeks = 0
        for (ext, codec) in Self.pairs {
            let name = "\(codec.rawValue).\(ext)"
            let path = dir.appendingPathComponent(name).path
            do {
                try SyntheticMedia.write(to: path, spec: MediaSpec(video: .init(codec: codec, width: 64, height: 48, fps: 30, frames: 300, gop: 45))) {
                    TestMedia.patternFrame(index: $0 % 256, width: 64, height: 48)
                }
            } catch {
                XCTFail("\(name): cannot be written here: \(error)")
                continue
            }
            for spec in Self.specs {
                let linear = try times(path, spec, seek: false), sought = try times(path, spec, seek: true)
                XCTAssertFalse(linear.isEmpty, "\(name) \(spec)")
                XCTAssertEqual(sought, linear, "\(name) \(spec): with seeking \(sought), reading everything \(linear)")
            }
            var stats = DecodeOptions(sampling: .every(seconds: 2), audio: nil, subtitles: false, convertPixels: false)
            stats.allowSeeking = true
            seeks += try MediaDecoder.decode(path: path, options: stats) { _ in }.stats.seeks
        }
        XCTAssertGreaterThan(seeks, 0, "the matrix exercises seeking")
        print("seek matrix: \(Self.pairs.map { "\($0.0)/\($0.1.rawValue)" }.joined(separator: ", ")) × \(Self.specs.joined(separator: ", "))")
    }
}
