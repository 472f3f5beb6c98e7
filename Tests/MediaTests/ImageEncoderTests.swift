import XCTest
@testable import Media

final class ImageEncoderTests: XCTestCase {
    func testEncoderIsReusableAcrossFramesAndSizes() throws {
        for format in ImageFormat.allCases {
            let enc = try ImageEncoder(format: format, quality: 80)
            for (i, size) in [(64, 48), (64, 48), (33, 17), (64, 48)].enumerated() {
                let bytes = try enc.encode(TestMedia.patternFrame(index: i, width: size.0, height: size.1))
                XCTAssertGreaterThan(bytes.count, 20, "\(format) frame \(i)")
            }
        }
    }
}

final class ImageDecoderTests: XCTestCase {
    func testStoredPicturesDecodeBack() throws {
        let decoder = try ImageDecoder()
        let frame = TestMedia.patternFrame(index: 201, width: 67, height: 45)
        for format in ImageFormat.allCases {
            for _ in 0..<2 {
                let bytes = try ImageEncoder(format: format, quality: 95).encode(frame)
                let back = try decoder.decode(bytes, format: format)
                XCTAssertEqual(back.width, 67); XCTAssertEqual(back.height, 45)
                XCTAssertEqual(TestMedia.frameNumber(back), 201, "\(format)")
                if format == .png { XCTAssertTrue(back == frame, "PNG round trip is exact") }
                var maxDiff = 0
                for i in 0..<frame.pixels.count { maxDiff = max(maxDiff, abs(Int(frame.pixels[i]) - Int(back.pixels[i]))) }
                print("\(format): max pixel difference after encode/decode \(maxDiff)")
            }
        }
        XCTAssertThrowsError(try decoder.decode([1, 2, 3], format: .jpeg))
    }
}
