import CFFmpeg
import Foundation

public enum MediaKind: String, Sendable, Codable {
    case video, image, audio
}

/// What a file is, from probing alone.
public struct MediaProbe: Sendable {
    public var kind: MediaKind
    public var container: String
    public var duration: Double?
    /// Display size: sample aspect ratio and rotation applied.
    public var width: Int
    public var height: Int
    public var frameRate: Double
    public var videoCodec: String?
    public var audioCodec: String?
    public var rotation: Int
    public var subtitleStreams: Int
}

public struct AudioOptions: Sendable, Equatable {
    public enum Segmenting: Sendable, Equatable {
        /// From each sampled frame to the next (the last one runs to the end of the audio).
        case span
        /// A window of this many seconds centred on each sampled frame.
        case window(Double)
    }
    public var sampleRate: Int
    public var segmenting: Segmenting
    /// Audio-only inputs have no frames to align to: they are cut into chunks of this length.
    public var chunkSeconds: Double
    public init(sampleRate: Int = 16_000, segmenting: Segmenting = .span, chunkSeconds: Double = 10) {
        self.sampleRate = sampleRate; self.segmenting = segmenting; self.chunkSeconds = chunkSeconds
    }
}

public struct DecodeOptions: Sendable {
    public var sampling: SamplingSpec
    public var resize: ResizePolicy
    public var maxFrames: Int?
    /// nil skips audio.
    public var audio: AudioOptions?
    public var subtitles: Bool
    /// false: select frames and report their times without converting pixels (`capfilt frames`).
    public var convertPixels: Bool
    /// Use the container index to seek over frames that will not be kept.
    public var allowSeeking: Bool
    public init(sampling: SamplingSpec = .every(seconds: 1), resize: ResizePolicy = .none, maxFrames: Int? = nil,
                audio: AudioOptions? = AudioOptions(), subtitles: Bool = true, convertPixels: Bool = true,
                allowSeeking: Bool = true) {
        self.sampling = sampling; self.resize = resize; self.maxFrames = maxFrames; self.audio = audio
        self.subtitles = subtitles; self.convertPixels = convertPixels; self.allowSeeking = allowSeeking
    }
}

public struct SampledFrame: Sendable {
    public var index: Int
    /// Seconds from the start of the video stream.
    public var time: Double
    public var image: RGBFrame?
    public var isKeyframe: Bool
    /// For scene sampling: the difference to the previous frame that selected it.
    public var sceneScore: Double?
}

public struct AudioSegment: Sendable {
    public var index: Int
    public var start: Double
    public var end: Double
    public var sampleRate: Int
    public var samples: [Float]
    public init(index: Int, start: Double, end: Double, sampleRate: Int, samples: [Float]) {
        self.index = index; self.start = start; self.end = end; self.sampleRate = sampleRate; self.samples = samples
    }
}

public struct DecodeStats: Sendable {
    public var packetsRead = 0
    public var framesDecoded = 0
    public var framesConverted = 0
    public var seeks = 0
    /// Keyframes the container index listed (what seeking can use).
    public var indexedKeyframes = 0
    /// Packets the decoder rejected (corrupt data); decoding went on past them.
    public var corruptPackets = 0
    public var firstCorruption: String?
}

public struct DecodeResult: Sendable {
    public var probe: MediaProbe
    public var frameTimes: [Double]
    public var audio: [AudioSegment]
    public var cues: [SubtitleCue]
    public var stats: DecodeStats
}

/// Decodes one file in-process with libavformat/libavcodec: samples video frames, cuts audio to
/// 16 kHz mono segments aligned to them, and collects subtitle cues.
public enum MediaDecoder {
    private static let imageContainers: Set<String> = ["image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe",
                                                       "tiff_pipe", "gif", "gif_pipe", "pgm_pipe", "ppm_pipe", "qoi_pipe"]

    public static func probe(path: String) throws -> MediaProbe {
        try probe(Demuxer(path: path))
    }

    static func probe(_ demuxer: Demuxer) throws -> MediaProbe {
        let video = videoStream(demuxer).map { demuxer.info($0) }
        let audio = demuxer.bestStream(.audio).map { demuxer.info($0) }
        let subtitles = (0..<demuxer.streamCount).filter { demuxer.info($0).kind == .subtitle }.count
        let kind: MediaKind
        if let _ = video { kind = imageContainers.contains(demuxer.formatName) ? .image : .video }
        else if audio != nil { kind = .audio }
        else { throw FFmpegError(operation: "probe", message: "no video or audio stream") }
        var width = 0, height = 0
        if let v = video {
            width = max(1, Int((Double(v.width) * v.sampleAspectRatio).rounded()))
            height = v.height
            if v.rotation == 90 || v.rotation == 270 { swap(&width, &height) }
        }
        return MediaProbe(kind: kind, container: demuxer.formatName,
                          duration: kind == .image ? nil : (video?.duration ?? demuxer.duration ?? audio?.duration),
                          width: width, height: height, frameRate: kind == .image ? 0 : (video?.frameRate ?? 0),
                          videoCodec: video?.codec, audioCodec: audio?.codec, rotation: video?.rotation ?? 0,
                          subtitleStreams: subtitles)
    }

    private static func videoStream(_ demuxer: Demuxer) -> Int? {
        if let best = demuxer.bestStream(.video), !demuxer.info(best).isAttachedPicture { return best }
        return (0..<demuxer.streamCount).first { let i = demuxer.info($0); return i.kind == .video && !i.isAttachedPicture }
    }

    public static func decode(path: String, options: DecodeOptions,
                              onFrame: (SampledFrame) throws -> Void) throws -> DecodeResult {
        let demuxer = try Demuxer(path: path)
        let probe = try probe(demuxer)
        var stats = DecodeStats()
        var frameTimes: [Double] = []
        var clockStart = 0.0
        if let v = videoStream(demuxer) {
            clockStart = demuxer.info(v).startTime
            var sampler = try VideoSampler(demuxer: demuxer, stream: v, probe: probe, options: options)
            frameTimes = try sampler.run(stats: &stats, onFrame: onFrame)
            if frameTimes.isEmpty && stats.corruptPackets > 0 {
                throw FFmpegError(operation: "decode", message: stats.firstCorruption ?? "no frame could be decoded")
            }
        } else if let a = demuxer.bestStream(.audio) {
            clockStart = demuxer.info(a).startTime
        }
        var audio: [AudioSegment] = []
        var cues: [SubtitleCue] = []
        if options.audio != nil || options.subtitles, probe.kind != .image {
            // A second reader walks audio and subtitle packets in order while the video reader seeks freely.
            let side = try Demuxer(path: path)
            var reader = SideStreamReader(demuxer: side, clockStart: clockStart, options: options,
                                          frameTimes: frameTimes, duration: probe.duration)
            (audio, cues) = try reader.run(stats: &stats)
        }
        return DecodeResult(probe: probe, frameTimes: frameTimes, audio: audio, cues: cues, stats: stats)
    }
}

/// Walks the video stream once, choosing frames by the sampling spec; only chosen frames are converted.
struct VideoSampler {
    let demuxer: Demuxer
    let stream: Int
    let decoder: Decoder
    let info: StreamInfo
    let options: DecodeOptions
    let isImage: Bool
    let timeBase: Double
    let frameDuration: Double
    var schedule: TargetSchedule
    var keyframes: [Double]
    let converter = FrameConverter()

    init(demuxer: Demuxer, stream: Int, probe: MediaProbe, options: DecodeOptions) throws {
        self.demuxer = demuxer
        self.stream = stream
        self.options = options
        info = demuxer.info(stream)
        decoder = try Decoder(demuxer: demuxer, stream: stream)
        isImage = probe.kind == .image
        timeBase = av_q2d(demuxer.stream(stream).pointee.time_base)
        frameDuration = info.frameRate > 0 ? 1 / info.frameRate : 1.0 / 30
        schedule = TargetSchedule(spec: options.sampling, duration: probe.duration, maxFrames: options.maxFrames)
        keyframes = []
        if options.allowSeeking { keyframes = indexedKeyframes() }
        if case .keyframes = options.sampling, !isImage { decoder.skipNonKeyFrames() }
        demuxer.keepOnly([stream])
    }

    func indexedKeyframes() -> [Double] {
        let start = info.startTime, tb = timeBase
        return demuxer.indexedKeyframes(stream: stream).map { Double($0) * tb - start }
    }

    private var usesSchedule: Bool {
        switch options.sampling {
        case .every, .fps, .uniform: return !isImage
        default: return false
        }
    }

    mutating func run(stats: inout DecodeStats, onFrame: (SampledFrame) throws -> Void) throws -> [Double] {
        let packet = try Packet()
        let frame = try Frame()
        var times: [Double] = []
        var maxSent = -Double.infinity
        var lastSeekTarget = -Double.infinity
        var landedCheck: Double? = nil
        var seekingDisabled = false
        stats.indexedKeyframes = keyframes.count
        defer { stats.indexedKeyframes = keyframes.count }
        var lastFrameTime = -frameDuration
        var previousGray: [UInt8]? = nil
        var lastSceneTime = -Double.infinity
        let limit = isImage ? 1 : (options.maxFrames ?? Int.max)

        func handle(_ frame: Frame, stats: inout DecodeStats) throws -> Bool {
            stats.framesDecoded += 1
            let ts = frame.bestEffortTimestamp
            // Microsecond rounding keeps 2000 × 0.001 from being stored as 2.0000000000000004.
            let raw = ts == AV.noPTS ? lastFrameTime + frameDuration : Double(ts) * timeBase - info.startTime
            let t = (raw * 1e6).rounded() / 1e6
            lastFrameTime = t
            var selected = false
            var score: Double? = nil
            if isImage {
                selected = true
            } else {
                switch options.sampling {
                case .every, .fps, .uniform:
                    selected = schedule.take(time: t, frameDuration: frameDuration)
                case .keyframes:
                    selected = frame.isKeyFrame || frame.pointer.pointee.pict_type == AV_PICTURE_TYPE_I
                case let .scene(threshold, minGap):
                    let gray = try converter.thumbnail(frame, width: 48, height: 27)
                    if let prev = previousGray {
                        var sum = 0
                        for i in 0..<gray.count { sum += abs(Int(gray[i]) - Int(prev[i])) }
                        let diff = Double(sum) / Double(gray.count * 255)
                        if diff >= threshold && t - lastSceneTime >= minGap { selected = true; score = diff }
                    } else {
                        selected = true; score = 1
                    }
                    previousGray = gray
                    if selected { lastSceneTime = t }
                }
            }
            guard selected else { return false }
            var image: RGBFrame? = nil
            if options.convertPixels {
                image = try converter.rgb(frame, sampleAspectRatio: info.sampleAspectRatio, rotation: info.rotation,
                                          resize: options.resize)
                stats.framesConverted += 1
            }
            try onFrame(SampledFrame(index: times.count, time: t, image: image, isKeyframe: frame.isKeyFrame, sceneScore: score))
            times.append(t)
            return true
        }

        /// Hands decoded frames to `handle`. A decoder error is corrupt input (counted, decoding goes on);
        /// an error from converting or storing a chosen frame is the caller's and propagates.
        func drain(stats: inout DecodeStats) throws {
            var failures = 0
            while true {
                let got: Bool
                do { got = try decoder.receive(into: frame) } catch let error as FFmpegError {
                    stats.corruptPackets += 1
                    if stats.firstCorruption == nil { stats.firstCorruption = error.description }
                    failures += 1
                    if failures > 64 { return }
                    continue
                }
                guard got else { return }
                defer { frame.unref() }
                if times.count < limit { _ = try handle(frame, stats: &stats) }
            }
        }

        reading: while times.count < limit {
            if usesSchedule && schedule.isDone { break }
            guard try demuxer.read(into: packet) else { break }
            defer { packet.unref() }
            guard packet.streamIndex == stream else { continue }
            stats.packetsRead += 1
            let p = packet.pointer.pointee
            let raw = p.pts != AV.noPTS ? p.pts : p.dts
            let pktTime = raw == AV.noPTS ? maxSent : Double(raw) * timeBase - info.startTime

            if let before = landedCheck {
                // A seek that lands before what was already decoded gains nothing: read on linearly instead.
                landedCheck = nil
                if pktTime < before { seekingDisabled = true }
            }
            if usesSchedule, let target = schedule.current {
                // Jump towards the next target when the index has a keyframe between here and it. Index
                // times are decode times (a few frames early with B-frames), so they only decide whether to
                // seek; the seek itself asks for the target's presentation time, and libavformat lands on
                // the keyframe at or before it.
                // Where the index does not reach the target (Matroska reads its cues on the first seek),
                // a long gap is reason enough to try.
                let indexReaches = (keyframes.last ?? -Double.infinity) >= target - 1
                let guess: Double? = !indexReaches && options.allowSeeking && target - pktTime > 1 ? target : nil
                if !seekingDisabled, let kf = guess ?? keyframes.last(where: { $0 <= target + frameDuration * 0.25 }),
                   kf > pktTime + 2 * frameDuration, kf > maxSent + 2 * frameDuration, target > lastSeekTarget {
                    lastSeekTarget = target
                    // A quarter frame of slack: 4.023 / 0.001 must not round down to the keyframe before.
                    let ts = Int64(((target + info.startTime + frameDuration * 0.25) / timeBase).rounded(.down))
                    try demuxer.seek(stream: stream, to: ts)
                    decoder.flush()
                    stats.seeks += 1
                    landedCheck = max(maxSent, pktTime)
                    if guess != nil { keyframes = indexedKeyframes() }
                    maxSent = -Double.infinity
                    continue reading
                }
                // Frames nothing depends on are skipped outright while the target is still ahead.
                decoder.context.pointee.skip_frame = pktTime < target - frameDuration * 1.5 ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
            }
            maxSent = max(maxSent, pktTime)
            var sent = false
            while !sent {
                do {
                    sent = try decoder.send(packet)
                } catch let error as FFmpegError {
                    stats.corruptPackets += 1
                    if stats.firstCorruption == nil { stats.firstCorruption = error.description }
                    break
                }
                try drain(stats: &stats)
            }
        }
        if times.count < limit && !(usesSchedule && schedule.isDone) {
            decoder.context.pointee.skip_frame = AVDISCARD_DEFAULT
            _ = try? decoder.send(nil)
            try drain(stats: &stats)
        }
        return times
    }
}

/// Reads audio and subtitle packets in file order: audio to 16 kHz mono float cut into segments
/// aligned to the sampled frames (memory bounded by the pending segments), subtitles to cues.
struct SideStreamReader {
    let demuxer: Demuxer
    let clockStart: Double
    let options: DecodeOptions
    let frameTimes: [Double]
    let duration: Double?

    mutating func run(stats: inout DecodeStats) throws -> ([AudioSegment], [SubtitleCue]) {
        var keep: Set<Int> = []
        var audioDecoder: Decoder? = nil
        var resampler: AudioResampler? = nil
        var audioStream = -1
        var audioStart = 0.0
        if let opts = options.audio, let a = demuxer.bestStream(.audio) {
            let dec = try Decoder(demuxer: demuxer, stream: a)
            resampler = try AudioResampler(decoder: dec, outputRate: opts.sampleRate)
            audioDecoder = dec
            audioStream = a
            audioStart = demuxer.info(a).startTime
            keep.insert(a)
        }
        var subtitleDecoders: [Int: Decoder] = [:]
        if options.subtitles {
            for i in 0..<demuxer.streamCount where demuxer.info(i).kind == .subtitle {
                if let d = try? Decoder(demuxer: demuxer, stream: i) { subtitleDecoders[i] = d; keep.insert(i) }
            }
        }
        guard !keep.isEmpty else { return ([], []) }
        demuxer.keepOnly(keep)

        var cutter = options.audio.map { SegmentCutter(options: $0, frameTimes: frameTimes, duration: duration) }
        // Samples are placed on the video clock: the audio stream may start a little before or after it.
        let offsetSamples = Int(((audioStart - clockStart) * Double(options.audio?.sampleRate ?? 16_000)).rounded())
        var pcm: [Float] = []
        var cues: [SubtitleCue] = []
        let packet = try Packet()
        let frame = try Frame()
        while try demuxer.read(into: packet) {
            defer { packet.unref() }
            let index = packet.streamIndex
            if index == audioStream, let dec = audioDecoder, let rs = resampler {
                if (try? dec.send(packet)) == nil { stats.corruptPackets += 1; continue }
                while (try? dec.receive(into: frame)) == true {
                    pcm.removeAll(keepingCapacity: true)
                    try rs.convert(frame, into: &pcm)
                    frame.unref()
                    cutter?.append(pcm, offset: offsetSamples)
                }
            } else if let dec = subtitleDecoders[index] {
                guard let decoded = try? dec.decodeSubtitle(packet) else { stats.corruptPackets += 1; continue }
                for var cue in decoded {
                    cue.start -= clockStart
                    cue.end -= clockStart
                    cues.append(cue)
                }
            }
        }
        if let dec = audioDecoder, let rs = resampler {
            _ = try? dec.send(nil)
            while (try? dec.receive(into: frame)) == true {
                pcm.removeAll(keepingCapacity: true)
                try rs.convert(frame, into: &pcm)
                frame.unref()
                cutter?.append(pcm, offset: offsetSamples)
            }
            pcm.removeAll(keepingCapacity: true)
            try rs.convert(nil, into: &pcm)
            cutter?.append(pcm, offset: offsetSamples)
        }
        let segments = cutter?.finish() ?? []
        return (segments, cues.sorted { ($0.start, $0.text) < ($1.start, $1.text) })
    }
}

/// Cuts a stream of samples into the segments it was told about, keeping only what pending segments need.
struct SegmentCutter {
    struct Pending { let index: Int; let start: Int; let end: Int? }
    let rate: Int
    var pending: [Pending]
    var buffer: [Float] = []
    var bufferStart = 0
    var written = 0
    var done: [AudioSegment] = []
    var chunk: Int? = nil
    var nextChunk = 0
    var started = false

    init(options: AudioOptions, frameTimes: [Double], duration: Double?) {
        rate = options.sampleRate
        let r = Double(rate)
        var p: [Pending] = []
        if frameTimes.isEmpty {
            // Audio-only: fixed chunks over the whole stream, cut as samples arrive.
            chunk = max(1, Int(options.chunkSeconds * r))
        } else {
            switch options.segmenting {
            case .span:
                for (i, t) in frameTimes.enumerated() {
                    let end = i + 1 < frameTimes.count ? Int((frameTimes[i + 1] * r).rounded()) : nil
                    p.append(Pending(index: i, start: max(0, Int((t * r).rounded())), end: end))
                }
            case let .window(w):
                for (i, t) in frameTimes.enumerated() {
                    p.append(Pending(index: i, start: max(0, Int(((t - w / 2) * r).rounded())), end: Int(((t + w / 2) * r).rounded())))
                }
            }
        }
        pending = p.sorted { $0.start < $1.start }
    }

    mutating func append(_ samples: [Float], offset: Int) {
        if !started {
            started = true
            // Audio starting after the video leaves silence on the shared clock; before it, samples are dropped.
            if offset > 0 { buffer.append(contentsOf: repeatElement(0, count: offset)) }
            written = offset
        }
        var input = samples[...]
        if written + input.count <= 0 { written += input.count; return }
        if written < 0 { input = input.dropFirst(-written); written = 0; bufferStart = 0 }
        buffer.append(contentsOf: input)
        written += input.count
        emit(final: false)
    }

    private mutating func emit(final: Bool) {
        let available = bufferStart + buffer.count
        if let chunk {
            while nextChunk * chunk < available && (final || (nextChunk + 1) * chunk <= available) {
                pending.append(Pending(index: nextChunk, start: nextChunk * chunk, end: min((nextChunk + 1) * chunk, available)))
                nextChunk += 1
            }
        }
        var remaining: [Pending] = []
        for seg in pending {
            let end = seg.end ?? (final ? available : Int.max)
            if end <= available || final {
                let s = max(seg.start, bufferStart), e = min(end, available)
                let slice = e > s ? Array(buffer[(s - bufferStart)..<(e - bufferStart)]) : []
                done.append(AudioSegment(index: seg.index, start: Double(seg.start) / Double(rate),
                                         end: Double(seg.start + slice.count) / Double(rate), sampleRate: rate, samples: slice))
            } else {
                remaining.append(seg)
            }
        }
        pending = remaining
        let keepFrom = min(pending.map(\.start).min() ?? available, chunk.map { nextChunk * $0 } ?? available)
        if keepFrom > bufferStart {
            let drop = min(buffer.count, keepFrom - bufferStart)
            buffer.removeFirst(drop)
            bufferStart += drop
        }
    }

    mutating func finish() -> [AudioSegment] {
        emit(final: true)
        return done.filter { !$0.samples.isEmpty }.sorted { $0.index < $1.index }
    }
}
