import CFFmpeg
import Foundation

/// Reads audio and subtitle packets in file order: audio to 16 kHz mono float cut into segments
/// aligned to the sampled frames (memory bounded by the pending segments), subtitles to cues.
struct SideStreamReader {
    let demuxer: Demuxer
    let clockStart: Double
    let options: DecodeOptions
    let frameTimes: [Double]
    let duration: Double?

    func run(stats: inout DecodeStats) throws -> ([AudioSegment], [SubtitleCue]) {
        var audio = try openAudio()
        let subtitleDecoders = try openSubtitles()
        let keep = Set(subtitleDecoders.keys).union(audio.map { [$0.stream] } ?? [])
        guard !keep.isEmpty else { return ([], []) }
        demuxer.keepOnly(keep)

        var cues: [SubtitleCue] = []
        let packet = try Packet()
        while try demuxer.read(into: packet) {
            defer { packet.unref() }
            let index = packet.streamIndex
            if index == audio?.stream {
                try audio?.decode(packet, stats: &stats)
            } else if let decoder = subtitleDecoders[index] {
                guard let decoded = try? decoder.decodeSubtitle(packet) else { stats.corruptPackets += 1; continue }
                for var cue in decoded {
                    cue.language = demuxer.info(index).language
                    cue.start -= clockStart
                    cue.end -= clockStart
                    cues.append(cue)
                }
            }
        }
        var segments = try audio?.finish() ?? []
        if let stream = audio?.stream, let language = demuxer.info(stream).language {
            for i in segments.indices { segments[i].language = language }
        }
        return (segments, cues.sorted { ($0.start, $0.text) < ($1.start, $1.text) })
    }

    private func openAudio() throws -> AudioSegmentReader? {
        guard let opts = options.audio,
              let stream = try demuxer.stream(.audio, chosen: options.audioStream) ?? demuxer.bestStream(.audio) else { return nil }
        let decoder = try Decoder(demuxer: demuxer, stream: stream)
        let resampler = try AudioResampler(decoder: decoder, outputRate: opts.sampleRate)
        // Samples are placed on the video clock: the audio stream may start a little before or after it.
        let offset = Int(((demuxer.info(stream).startTime - clockStart) * Double(opts.sampleRate)).rounded())
        return try AudioSegmentReader(stream: stream, decoder: decoder, resampler: resampler, offsetSamples: offset,
                                      cutter: SegmentCutter(options: opts, frameTimes: frameTimes, duration: duration))
    }

    /// A decoder per subtitle stream read (all, or those chosen); streams FFmpeg cannot decode are left out.
    private func openSubtitles() throws -> [Int: Decoder] {
        guard options.subtitles else { return [:] }
        let chosen = try options.subtitleStreams.map { try Set($0.compactMap { try demuxer.stream(.subtitle, chosen: $0) }) }
        var decoders: [Int: Decoder] = [:]
        for i in 0..<demuxer.streamCount where demuxer.info(i).kind == .subtitle && chosen?.contains(i) ?? true {
            if let d = try? Decoder(demuxer: demuxer, stream: i) { decoders[i] = d }
        }
        return decoders
    }
}

/// The audio half of the side reader: decodes one stream, resamples it to mono float and feeds the cutter.
private struct AudioSegmentReader {
    let stream: Int
    let decoder: Decoder
    let resampler: AudioResampler
    let offsetSamples: Int
    var cutter: SegmentCutter
    let frame: Frame
    private var pcm: [Float] = []

    init(stream: Int, decoder: Decoder, resampler: AudioResampler, offsetSamples: Int, cutter: SegmentCutter) throws {
        self.stream = stream; self.decoder = decoder; self.resampler = resampler
        self.offsetSamples = offsetSamples; self.cutter = cutter
        frame = try Frame()
    }

    mutating func decode(_ packet: Packet, stats: inout DecodeStats) throws {
        if (try? decoder.send(packet)) == nil { stats.corruptPackets += 1; return }
        try receiveFrames()
    }

    /// Drains the decoder and the resampler's delay; returns the finished segments.
    mutating func finish() throws -> [AudioSegment] {
        _ = try? decoder.send(nil)
        try receiveFrames()
        pcm.removeAll(keepingCapacity: true)
        try resampler.convert(nil, into: &pcm)
        cutter.append(pcm, offset: offsetSamples)
        return cutter.finish()
    }

    private mutating func receiveFrames() throws {
        while (try? decoder.receive(into: frame)) == true {
            pcm.removeAll(keepingCapacity: true)
            try resampler.convert(frame, into: &pcm)
            frame.unref()
            cutter.append(pcm, offset: offsetSamples)
        }
    }
}
