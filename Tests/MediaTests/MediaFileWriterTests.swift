import Foundation
import XCTest
@testable import Media

/// Media's own writer, without the synthetic-media driver the other tests use.
final class MediaFileWriterTests: XCTestCase {
    func testFramesWrittenDirectlyDecodeInOrder() throws {
        let path = TestMedia.tempDir().appendingPathComponent("direct.mp4").path
        let file = try MediaFileWriter(path: path)
        let video = try file.addVideo(VideoEncoding(codec: .h264, width: 64, height: 48, fps: 10, gop: 5))
        try file.start()
        for i in 0..<20 { try video.append(TestMedia.patternFrame(index: i, width: 64, height: 48)) }
        try video.finish()
        try file.finish()
        XCTAssertEqual(video.time, 2)

        var numbers: [Int] = []
        let r = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .fps(10), audio: nil, subtitles: false)) {
            numbers.append(TestMedia.frameNumber(try XCTUnwrap($0.image)))
        }
        XCTAssertEqual(numbers, Array(0..<20))
        XCTAssertEqual(r.probe.duration ?? 0, 2, accuracy: 0.01)
    }

    func testRotationIsRefusedForMatroska() throws {
        let file = try MediaFileWriter(path: TestMedia.tempDir().appendingPathComponent("r.mkv").path)
        XCTAssertThrowsError(try file.addVideo(VideoEncoding(width: 32, height: 16, rotation: 90))) { error in
            XCTAssertTrue("\(error)".contains("display matrix"), "\(error)")
        }
    }
}
