import Foundation
import Media

/// Turns an input file into what the stages work on: frames sampled with libavcodec and encoded for
/// storage, audio segments, subtitle cues. When later stages look at pictures, each frame is also
/// decoded back from its stored bytes, so a model scores exactly the picture the dataset holds, and a
/// rerun that reuses stored frames sees the same pixels as the run that decoded them.
struct MediaReader: Sendable {
    let config: DecodeConfig
    let pictures: Bool

    struct Output: Sendable {
        var probe: MediaProbe
        var frames: [FrameItem]
        var audio: [AudioSegment]
        var cues: [TextItem]
        var stats: DecodeStats
        var counters: [String: Double]
    }

    func read(path: String) throws -> Output {
        let encoder = try ImageEncoder(format: config.imageFormat, quality: config.quality)
        let decoder = pictures ? try ImageDecoder() : nil
        var frames: [FrameItem] = []
        let result = try MediaDecoder.decode(path: path, options: config.options) { f in
            guard let image = f.image else { return }
            let bytes = try encoder.encode(image)
            frames.append(FrameItem(index: f.index, time: f.time, image: try decoder?.decode(bytes, format: config.imageFormat), encoded: bytes,
                                    format: config.imageFormat, width: image.width, height: image.height, isKeyframe: f.isKeyframe,
                                    sceneScore: f.sceneScore))
        }
        let cues = result.cues.map { cue in
            // The cue's language is recorded when the pipeline chooses subtitle streams (the keys then
            // differ), so outputs made before stream choices existed equal a fresh run's.
            let language = config.options.subtitleStreams == nil ? nil : cue.language
            var text = TextItem(origin: .subtitle, text: cue.text, start: cue.start, end: cue.end, producer: "subtitle",
                                settings: config.subtitlePairing.settings(language: language))
            text.stage = config.name
            text.pairing = config.subtitlePairing
            return text
        }
        var counters: [String: Double] = [
            "frames": Double(frames.count), "audio_segments": Double(result.audio.count), "subtitle_cues": Double(result.cues.count),
            "frames_decoded": Double(result.stats.framesDecoded), "seeks": Double(result.stats.seeks),
        ]
        if result.stats.corruptPackets > 0 { counters["partial"] = 1 }
        // Likewise the audio stream's language is stored when the pipeline chooses the audio stream.
        let audio = config.options.audioStream == nil ? result.audio.map { var a = $0; a.language = nil; return a } : result.audio
        return Output(probe: result.probe, frames: frames, audio: audio, cues: cues, stats: result.stats, counters: counters)
    }
}
