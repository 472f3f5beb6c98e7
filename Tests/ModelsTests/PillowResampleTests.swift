import Foundation
@testable import Models
import XCTest

/// Image.resize outputs from Pillow 13 (8-bit, several filters, both pass orders) must be
/// reproduced bit for bit.
final class PillowResampleTests: XCTestCase {
    struct Case: Decodable {
        let source: String
        let width: Int
        let height: Int
        let filter: Int
    }

    func testMatchesPillowExactly() throws {
        let images = Dictionary(uniqueKeysWithValues: try Fixtures.images().map { ($0.name, $0.image) })
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: Fixtures.url("resize/cases.json")))
        let expected = [UInt8](try Data(contentsOf: Fixtures.url("resize/expected.bin")))
        var offset = 0, worst = 0, differing = 0
        for c in cases {
            let src = images[c.source]!
            let out = PillowResample.resize(src, width: c.width, height: c.height, filter: PillowFilter(rawValue: c.filter)!)
            let n = c.width * c.height * 3
            let ref = expected[offset..<(offset + n)]
            offset += n
            let d = zip(out.pixels, ref).map { abs(Int($0) - Int($1)) }
            worst = max(worst, d.max() ?? 0)
            differing += d.filter { $0 != 0 }.count
            XCTAssertEqual(out.pixels, Array(ref), "\(c.source) \(src.width)×\(src.height) → \(c.width)×\(c.height) filter \(c.filter)")
        }
        XCTAssertEqual(offset, expected.count)
        print("Pillow resize: \(cases.count) cases, \(differing) differing bytes, max |Δ| \(worst)")
    }
}
