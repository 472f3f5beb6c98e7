import Demo
import Foundation
import XCTest
@testable import Media

/// Makes real media files for tests with libavcodec's encoders, in a temporary folder per test case.
enum TestMedia {
    static func tempDir(_ name: String = #function) -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("capfilt-tests-\(ProcessInfo.processInfo.processIdentifier)")
            .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber })
        try? FileManager.default.removeItem(at: url)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Frame `index` shows its own number as 8 black/white bars across the top half (robust to
    /// compression) and four colour quadrants below: red, green (top), blue, white (bottom).
    static func patternFrame(index: Int, width: Int, height: Int) -> RGBFrame {
        RGBFrame(width: width, height: height) { x, y in
            if y < height / 2 {
                let bit = min(7, x * 8 / width)
                return (index >> (7 - bit)) & 1 == 1 ? (255, 255, 255) : (0, 0, 0)
            }
            let right = x >= width / 2, bottom = y >= height * 3 / 4
            switch (right, bottom) {
            case (false, false): return (255, 0, 0)
            case (true, false): return (0, 255, 0)
            case (false, true): return (0, 0, 255)
            case (true, true): return (255, 255, 255)
            }
        }
    }

    /// Reads back the number drawn by `patternFrame` (the image must be upright and uncropped).
    static func frameNumber(_ image: RGBFrame) -> Int {
        var n = 0
        let y = image.height / 4
        for bit in 0..<8 {
            let x = (bit * image.width + image.width / 2) / 8
            let (r, g, b) = image.pixel(x, y)
            n = n << 1 | ((Int(r) + Int(g) + Int(b)) / 3 > 127 ? 1 : 0)
        }
        return n
    }

    @discardableResult
    static func video(_ dir: URL, _ name: String, codec: MediaSpec.VideoCodec = .h264, width: Int = 160, height: Int = 120,
                      fps: Int = 30, seconds: Double, gop: Int = 30, rotation: Int = 0,
                      sar: (Int32, Int32) = (1, 1), pixelFormat: String? = nil,
                      audio: MediaSpec.Audio? = nil, subtitles: (MediaSpec.SubtitleCodec, [SubtitleCue])? = nil) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let frames = Int((seconds * Double(fps)).rounded())
        let spec = MediaSpec(video: .init(codec: codec, width: width, height: height, fps: fps, frames: frames, gop: gop,
                                          rotation: rotation, sampleAspectRatio: sar, pixelFormat: pixelFormat),
                             audio: audio, subtitles: subtitles.map { (codec: $0.0, cues: $0.1) })
        try SyntheticMedia.write(to: path, spec: spec, frame: { patternFrame(index: $0 % 256, width: width, height: height) })
        return path
    }
}
