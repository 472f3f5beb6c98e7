import Foundation
import XCTest
@testable import Media

/// Phone photos store pixels as the sensor saw them and say how to turn them in EXIF (APP1,
/// tag 0x0112). Each of the eight orientations must come out upright.
final class ExifOrientationTests: XCTestCase {
    /// Upright: red over blue on the left, green over white on the right; wider than high.
    let upright = RGBFrame(width: 64, height: 40) { x, y in
        switch (x >= 32, y >= 20) {
        case (false, false): return (255, 0, 0)
        case (true, false): return (0, 255, 0)
        case (false, true): return (0, 0, 255)
        case (true, true): return (255, 255, 255)
        }
    }

    /// The stored picture that displays as `display` under EXIF orientation `k` (EXIF 2.32, 4.6.4 A):
    /// display(x, y) = stored(map(x, y)), written out per orientation.
    func stored(_ display: RGBFrame, orientation k: Int) -> RGBFrame {
        let (w, h) = (display.width, display.height)
        let (sw, sh) = k >= 5 ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let (sx, sy): (Int, Int)
                switch k {
                case 2: (sx, sy) = (w - 1 - x, y)
                case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                case 4: (sx, sy) = (x, h - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, sh - 1 - x)
                case 7: (sx, sy) = (sw - 1 - y, sh - 1 - x)
                case 8: (sx, sy) = (sw - 1 - y, x)
                default: (sx, sy) = (x, y)
                }
                let p = display.pixel(x, y), o = (sy * sw + sx) * 3
                out[o] = p.0; out[o + 1] = p.1; out[o + 2] = p.2
            }
        }
        return RGBFrame(width: sw, height: sh, pixels: out)
    }

    /// SOI, then an APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation SHORT), then the rest.
    func withExif(_ jpeg: [UInt8], orientation: Int) -> [UInt8] {
        let tiff: [UInt8] = Array("MM".utf8) + [0, 42, 0, 0, 0, 8] + [0, 1] + [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, UInt8(orientation), 0, 0] + [0, 0, 0, 0]
        let payload = Array("Exif".utf8) + [0, 0] + tiff
        let length = payload.count + 2
        return Array(jpeg.prefix(2)) + [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + Array(jpeg.dropFirst(2))
    }

    func testAllEightOrientationsComeOutUpright() throws {
        let dir = TestMedia.tempDir()
        let encoder = try ImageEncoder(format: .jpeg, quality: 95)
        for k in 1...8 {
            let path = dir.appendingPathComponent("o\(k).jpg").path
            let bytes = withExif(try encoder.encode(stored(upright, orientation: k)), orientation: k)
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            var image: RGBFrame?
            let result = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .uniform(count: 1), audio: nil, subtitles: false)) { image = $0.image }
            XCTAssertEqual([result.probe.width, result.probe.height], [64, 40], "orientation \(k): the source row's size is the display size")
            let got = try XCTUnwrap(image, "orientation \(k)")
            XCTAssertEqual([got.width, got.height], [64, 40], "orientation \(k)")
            for (x, y) in [(8, 5), (56, 5), (8, 35), (56, 35)] {
                let (a, b) = (got.pixel(x, y), upright.pixel(x, y))
                XCTAssertLessThan(max(abs(Int(a.0) - Int(b.0)), abs(Int(a.1) - Int(b.1)), abs(Int(a.2) - Int(b.2))), 40,
                                  "orientation \(k) at (\(x), \(y)): \(a) instead of \(b)")
            }
        }
    }
}
