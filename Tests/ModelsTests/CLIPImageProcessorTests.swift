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
}
