import Foundation

/// Reads the attribute words of a demo-domain caption ("two red circles on a blue background").
public enum SceneCaption {
    public struct Attributes: Sendable, Equatable { public var count: Int; public var color: String; public var shape: String; public var background: String }

    static let numbers = ["a": 1, "an": 1, "one": 1, "two": 2, "three": 3]
    static let colors: Set<String> = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
    static let shapes = ["circle": "circle", "circles": "circle", "square": "square", "squares": "square", "triangle": "triangle", "triangles": "triangle"]

    public static func parse(_ caption: String) -> Attributes? {
        let words = caption.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
        guard let n = words.firstIndex(where: { numbers[$0] != nil }),
              let s = words.firstIndex(where: { shapes[$0] != nil }), s > n,
              let color = words[n..<s].last(where: { colors.contains($0) }),
              let b = words.firstIndex(of: "background"), b > s,
              let background = words[s..<b].last(where: { colors.contains($0) }) else { return nil }
        return Attributes(count: numbers[words[n]]!, color: color, shape: shapes[words[s]]!, background: background)
    }
}
