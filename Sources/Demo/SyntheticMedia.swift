import Foundation
import Media

/// Writes a media file from generators, interleaving streams in time order as a real recorder would.
public enum SyntheticMedia {
    /// `frame(i)` renders video frame i; `sample(t, channel)` gives the audio signal at time t.
    public static func write(to path: String, spec: MediaSpec,
                             frame: @escaping (Int) -> RGBFrame = { _ in RGBFrame(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12)) },
                             sample: @escaping (Double, Int) -> Float = { t, _ in Float(sin(2 * Double.pi * 440 * t) * 0.5) }) throws {
        let file = try MediaFileWriter(path: path)
        var tracks: [Track] = []
        if let v = spec.video {
            tracks.append(VideoTrack(writer: try file.addVideo(v.encoding), frames: v.frames, render: frame))
        }
        if let a = spec.audio {
            tracks.append(AudioTrack(writer: try file.addAudio(a.encoding), duration: a.duration, signal: sample))
        }
        if let s = spec.subtitles {
            tracks.append(SubtitleTrack(writer: try file.addSubtitles(s.codec), cues: s.cues))
        }
        try file.start()
        // Always advance the track that is furthest behind, so packets reach the muxer in time order.
        while let next = tracks.filter({ !$0.done }).min(by: { $0.clock < $1.clock }) {
            try next.step()
        }
        try file.finish()
    }
}

/// One stream being generated; `clock` is where it stands in seconds.
private protocol Track: AnyObject {
    var clock: Double { get }
    var done: Bool { get }
    func step() throws
}

private final class VideoTrack: Track {
    let writer: VideoStreamWriter
    let frames: Int
    let render: (Int) -> RGBFrame
    private(set) var done = false

    init(writer: VideoStreamWriter, frames: Int, render: @escaping (Int) -> RGBFrame) {
        self.writer = writer; self.frames = frames; self.render = render
    }

    var clock: Double { writer.time }

    func step() throws {
        if writer.framesWritten >= frames {
            try writer.finish()
            done = true
        } else {
            try writer.append(render(writer.framesWritten))
        }
    }
}

private final class AudioTrack: Track {
    let writer: AudioStreamWriter
    let signal: (Double, Int) -> Float
    let total: Int
    private(set) var done = false

    init(writer: AudioStreamWriter, duration: Double, signal: @escaping (Double, Int) -> Float) {
        self.writer = writer; self.signal = signal
        total = Int((duration * Double(writer.encoding.sampleRate)).rounded())
    }

    var clock: Double { writer.time }

    func step() throws {
        let written = writer.samplesWritten
        if written >= total {
            try writer.finish()
            done = true
            return
        }
        let n = min(writer.frameSize, total - written)
        let rate = Double(writer.encoding.sampleRate)
        try writer.append((0..<writer.encoding.channels).map { c in
            (0..<n).map { i in signal(Double(written + i) / rate, c) }
        })
    }
}

private final class SubtitleTrack: Track {
    let writer: SubtitleStreamWriter
    let cues: [SubtitleCue]

    init(writer: SubtitleStreamWriter, cues: [SubtitleCue]) {
        self.writer = writer
        self.cues = cues.sorted { $0.start < $1.start }
    }

    var done: Bool { writer.cuesWritten >= cues.count }
    var clock: Double { done ? 0 : cues[writer.cuesWritten].start }

    func step() throws { try writer.append(cues[writer.cuesWritten]) }
}
