import Foundation

/// Which frames of a video are kept.
public enum SamplingSpec: Sendable, Equatable, CustomStringConvertible {
    /// One frame every `seconds`, starting at 0.
    case every(seconds: Double)
    /// `fps` frames a second (at most the source rate).
    case fps(Double)
    /// Every keyframe; non-key frames are never decoded.
    case keyframes
    /// `count` frames at the centres of `count` equal parts of the video.
    case uniform(count: Int)
    /// The first frame, then every frame whose FFmpeg `scene` score (`SceneScore`) reaches `threshold`,
    /// at least `minGap` seconds after the last one kept.
    case scene(threshold: Double, minGap: Double)

    public var description: String {
        switch self {
        case let .every(s): return "every \(s)s"
        case let .fps(f): return "fps \(f)"
        case .keyframes: return "keyframes"
        case let .uniform(k): return "uniform \(k)"
        case let .scene(t, g): return "scene \(t) gap \(g)s"
        }
    }

    /// Parses the compact form used on the command line: `every 2s`, `fps 1`, `keyframes`, `uniform 8`,
    /// `scene 0.3` (optionally `scene 0.3 gap 1s`).
    public static func parse(_ text: String) throws -> SamplingSpec {
        let words = text.lowercased().split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "=" }).map(String.init)
        func number(_ s: String?) throws -> Double {
            guard var s else { throw SamplingError.invalid(text, "a number is missing") }
            if s.hasSuffix("s") { s.removeLast() }
            guard let v = Double(s), v.isFinite, v > 0 else { throw SamplingError.invalid(text, "'\(s)' is not a positive number") }
            return v
        }
        switch words.first {
        case "every": return .every(seconds: try number(words.count > 1 ? words[1] : nil))
        case "fps": return .fps(try number(words.count > 1 ? words[1] : nil))
        case "keyframes": return .keyframes
        case "uniform":
            let k = try number(words.count > 1 ? words[1] : nil)
            guard k == k.rounded() else { throw SamplingError.invalid(text, "uniform takes a whole number of frames") }
            return .uniform(count: Int(k))
        case "scene":
            let t = try number(words.count > 1 ? words[1] : nil)
            guard t <= 1 else { throw SamplingError.invalid(text, "the scene threshold is a fraction in (0, 1]") }
            var gap = 0.0
            if words.count > 3 && words[2] == "gap" { gap = try number(words[3]) }
            return .scene(threshold: t, minGap: gap)
        default:
            throw SamplingError.invalid(text, "expected one of: every <seconds>, fps <rate>, keyframes, uniform <count>, scene <threshold>")
        }
    }
}

public enum SamplingError: Error, CustomStringConvertible {
    case invalid(String, String)
    public var description: String {
        switch self { case let .invalid(spec, why): return "invalid sampling '\(spec)': \(why)" }
    }
}

/// Target times for the modes that pick frames at given moments.
struct TargetSchedule {
    private(set) var targets: [Double]
    private var next = 0

    init(spec: SamplingSpec, duration: Double?, maxFrames: Int?) {
        let cap = maxFrames ?? Int.max
        var t: [Double] = []
        switch spec {
        case let .every(step): t = TargetSchedule.grid(step: step, duration: duration, cap: cap)
        case let .fps(rate): t = TargetSchedule.grid(step: 1 / rate, duration: duration, cap: cap)
        case let .uniform(k):
            if let d = duration, d > 0 { t = (0..<min(k, cap)).map { (Double($0) + 0.5) * d / Double(k) } }
            else { t = [0] }
        case .keyframes, .scene: t = []
        }
        targets = t
    }

    private static func grid(step: Double, duration: Double?, cap: Int) -> [Double] {
        var out: [Double] = []
        // Unknown durations get a generous grid; decoding simply stops at end of stream.
        let end = duration ?? 24 * 3600
        var i = 0
        while out.count < cap {
            let t = Double(i) * step
            if t >= end && !(i == 0) { break }
            out.append(t)
            i += 1
        }
        return out
    }

    var current: Double? { next < targets.count ? targets[next] : nil }
    var isDone: Bool { next >= targets.count }

    /// Whether a frame shown at `time` (lasting `frameDuration`) is the first one at or after the
    /// current target; consumes every target it satisfies.
    mutating func take(time: Double, frameDuration: Double) -> Bool {
        guard let target = current else { return false }
        // A quarter frame of slack absorbs timestamp rounding in containers.
        let slack = frameDuration * 0.25
        guard time >= target - slack else { return false }
        while let c = current, c <= time + slack { next += 1 }
        return true
    }
}
