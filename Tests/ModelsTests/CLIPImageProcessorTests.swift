import Foundation
import Models
import XCTest

final class CLIPImageProcessorTests: XCTestCase {
    /// pixel_values must be within 1e-3 of transformers' CLIPImageProcessorPil for both fixture
    /// processor configs (shortest_edge 32 = crop, and 40 with a 32 centre crop).
    func testPixelsMatchPillowProcessor() throws {
        let images = try Fixtures.images()
        for model in ["clip-tiny-gelu", "clip-tiny-quick"] {
            let proc = try CLIPImageProcessor(directory: Fixtures.url(model))
            let expected = try Fixtures.float32("\(model)/pixel_values.f32")
            let got = try proc.preprocess(images.map(\.image))
            XCTAssertEqual(got.count, expected.count)
            let per = got.count / images.count
            let perImage = (0..<images.count).map { i in
                maxAbsDiff(Array(got.data[(i * per)..<((i + 1) * per)]), Array(expected[(i * per)..<((i + 1) * per)]))
            }
            print("\(model) per image max |Δ|: \(perImage)")
            let diff = maxAbsDiff(got.data, expected)
            print("\(model) preprocessing: max |Δ| = \(diff) over \(images.count) images")
            XCTAssertLessThan(diff, 1e-3)
        }
    }

    /// Crop larger than the resized image (zero padding) and exact height/width resizes with a
    /// non-square crop.
    func testPaddingAndExactSizeConfigs() throws {
        let images = try Fixtures.images()
        for sub in ["pad", "exact"] {
            let dir = Fixtures.url("processor-pad/\(sub)")
            let proc = try CLIPImageProcessor(directory: dir)
            let shape = try JSONDecoder().decode([Int].self, from: Data(contentsOf: dir.appendingPathComponent("shape.json")))
            let expected = try Fixtures.float32("processor-pad/\(sub)/pixel_values.f32")
            let got = try proc.preprocess(images.map(\.image))
            XCTAssertEqual(got.shape, shape)
            let diff = maxAbsDiff(got.data, expected)
            print("processor \(sub) \(shape): max |Δ| = \(diff)")
            XCTAssertLessThan(diff, 1e-3)
        }
    }
}
