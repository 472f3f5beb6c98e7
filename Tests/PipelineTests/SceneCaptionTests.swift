import XCTest
@testable import Demo
import Tensor

final class SceneCaptionTests: XCTestCase {
    func testParsesTheDemoGrammarAndEveryCorpusCaption() {
        XCTAssertEqual(SceneCaption.parse("two red circles moving left on a blue background"),
                       .init(count: 2, color: "red", shape: "circle", background: "blue"))
        XCTAssertEqual(SceneCaption.parse("a white square on a black background"), .init(count: 1, color: "white", shape: "square", background: "black"))
        XCTAssertNil(SceneCaption.parse("buy cheap watches online"))
        XCTAssertNil(SceneCaption.parse("two red circles"))
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 {
            let s = DemoCorpus.randomScene(&rng, still: false)
            XCTAssertEqual(SceneCaption.parse(s.caption), .init(count: s.count, color: s.color, shape: s.shape, background: s.background), s.caption)
            XCTAssertEqual(SceneCaption.parse(s.stillCaption), SceneCaption.parse(s.caption))
        }
    }
}
