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
