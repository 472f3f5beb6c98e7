import CFFmpeg
import Foundation

/// Walks the video stream once, choosing frames by the sampling spec; only chosen frames are converted.
/// Sparse schedules seek from keyframe to keyframe over what will not be kept.
struct VideoSampler {
    let demuxer: Demuxer
    let stream: Int
    let decoder: Decoder
    let info: StreamInfo
    let options: DecodeOptions
    let isImage: Bool
    let timeBase: Double
    let frameDuration: Double
    /// Frames to hand out at most.
    let limit: Int
    var schedule: TargetSchedule
    var keyframes: [Double]
    let converter = FrameConverter()
    private let packet: Packet
    private let frame: Frame
    /// Times of the frames handed out so far.
    private var times: [Double] = []
    /// Stands in for the timestamp of a frame that has none.
    private var lastFrameTime: Double
    private var seeking = SeekState()
    private var scene = SceneDetector()

    init(demuxer: Demuxer, stream: Int, probe: MediaProbe, options: DecodeOptions) throws {
        self.demuxer = demuxer
        self.stream = stream
        self.options = options
        info = demuxer.info(stream)
        decoder = try Decoder(demuxer: demuxer, stream: stream)
        isImage = probe.kind == .image
        timeBase = demuxer.timeBase(of: stream)
        frameDuration = info.frameRate > 0 ? 1 / info.frameRate : 1.0 / 30
        limit = isImage ? 1 : (options.maxFrames ?? Int.max)
        lastFrameTime = -frameDuration
        schedule = TargetSchedule(spec: options.sampling, duration: probe.duration, maxFrames: options.maxFrames)
        keyframes = []
        packet = try Packet()
        frame = try Frame()
        if options.allowSeeking { keyframes = indexedKeyframes() }
        if case .keyframes = options.sampling, !isImage { decoder.skip(.nonKey) }
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

    private var isDone: Bool { times.count >= limit || (usesSchedule && schedule.isDone) }

    /// Decodes until the limit, the end of the schedule or the end of the stream; returns the times handed out.
    mutating func run(stats: inout DecodeStats, onFrame: (SampledFrame) throws -> Void) throws -> [Double] {
        stats.indexedKeyframes = keyframes.count
        defer { stats.indexedKeyframes = keyframes.count }
        while !isDone {
            guard try demuxer.read(into: packet) else { break }
            defer { packet.unref() }
            guard packet.streamIndex == stream else { continue }
            stats.packetsRead += 1
            let time = packetTime()
            seeking.checkLanding(packetTime: time)
            if try seekTowardsTarget(packetTime: time, stats: &stats) { continue }
            try decodePacket(packetTime: time, stats: &stats, onFrame: onFrame)
        }
        if !isDone {
            // The decoder holds frames back (B-frame reordering, frame threads): drain it at the end.
            decoder.skip(.nothing)
            _ = try? decoder.send(nil)
            try drain(stats: &stats, onFrame: onFrame)
        }
        return times
    }

    /// Seconds of the packet just read; one without timestamps is taken to follow what was sent last.
    private func packetTime() -> Double {
        let p = packet.pointer.pointee
        let raw = p.pts != AV.noPTS ? p.pts : p.dts
        return raw == AV.noPTS ? seeking.maxSent : Double(raw) * timeBase - info.startTime
    }

    /// On a schedule, jumps towards the next target when the index has a keyframe between here and it
    /// (true: the packet just read is left behind); otherwise lets the decoder skip frames nothing
    /// depends on while the target is still ahead.
    private mutating func seekTowardsTarget(packetTime: Double, stats: inout DecodeStats) throws -> Bool {
        guard usesSchedule, let target = schedule.current else { return false }
        if let guessed = seekIsWorthIt(target: target, packetTime: packetTime) {
            seeking.lastTarget = target
            // A quarter frame of slack: 4.023 / 0.001 must not round down to the keyframe before.
            let ts = Int64(((target + info.startTime + frameDuration * 0.25) / timeBase).rounded(.down))
            try demuxer.seek(stream: stream, to: ts)
            decoder.flush()
            stats.seeks += 1
            seeking.landedCheck = max(seeking.maxSent, packetTime)
            // A guess was made without the index; the seek may have loaded it (Matroska cues).
            if guessed { keyframes = indexedKeyframes() }
            seeking.maxSent = -Double.infinity
            return true
        }
        decoder.skip(packetTime < target - frameDuration * 1.5 ? .nonReference : .nothing)
        return false
    }

    /// nil: read on. Otherwise a seek towards `target` skips enough to pay for itself; true when the
    /// index could not tell and the seek is a guess.
    /// Index times are decode times (a few frames early with B-frames), so they only decide whether to
    /// seek; the seek itself asks for the target's presentation time, and libavformat lands on the
    /// keyframe at or before it. Where the index does not reach the target (Matroska reads its cues on
    /// the first seek), a long gap is reason enough to try.
    private func seekIsWorthIt(target: Double, packetTime: Double) -> Bool? {
        guard !seeking.disabled, target > seeking.lastTarget else { return nil }
        let indexReaches = (keyframes.last ?? -Double.infinity) >= target - 1
        let guessed = !indexReaches && options.allowSeeking && target - packetTime > 1
        guard let keyframe = guessed ? target : keyframes.last(where: { $0 <= target + frameDuration * 0.25 }),
              keyframe > packetTime + 2 * frameDuration, keyframe > seeking.maxSent + 2 * frameDuration else { return nil }
        return guessed
    }

    /// Sends the packet just read, draining decoded frames whenever the decoder asks for that first.
    private mutating func decodePacket(packetTime: Double, stats: inout DecodeStats,
                                       onFrame: (SampledFrame) throws -> Void) throws {
        seeking.maxSent = max(seeking.maxSent, packetTime)
        var sent = false
        while !sent {
            do {
                sent = try decoder.send(packet)
            } catch let error as FFmpegError {
                stats.recordCorruption(error)
                break
            }
            try drain(stats: &stats, onFrame: onFrame)
        }
    }

    /// Hands decoded frames on. A decoder error is corrupt input (counted, decoding goes on); an error
    /// from converting or storing a chosen frame is the caller's and propagates.
    private mutating func drain(stats: inout DecodeStats, onFrame: (SampledFrame) throws -> Void) throws {
        var failures = 0
        while true {
            let got: Bool
            do { got = try decoder.receive(into: frame) } catch let error as FFmpegError {
                stats.recordCorruption(error)
                failures += 1
                if failures > 64 { return }
                continue
            }
            guard got else { return }
            defer { frame.unref() }
            if times.count < limit { try takeIfSelected(stats: &stats, onFrame: onFrame) }
        }
    }

    /// The decoded frame: converted and handed to `onFrame` when the sampling spec selects it.
    private mutating func takeIfSelected(stats: inout DecodeStats, onFrame: (SampledFrame) throws -> Void) throws {
        stats.framesDecoded += 1
        let t = frameTime()
        let (selected, score) = try select(at: t)
        guard selected else { return }
        var image: RGBFrame? = nil
        if options.convertPixels {
            image = try converter.rgb(frame, sampleAspectRatio: info.sampleAspectRatio, rotation: info.rotation,
                                      resize: options.resize)
            stats.framesConverted += 1
        }
        try onFrame(SampledFrame(index: times.count, time: t, image: image, isKeyframe: frame.isKeyFrame, sceneScore: score))
        times.append(t)
    }

    private mutating func frameTime() -> Double {
        let ts = frame.bestEffortTimestamp
        // Microsecond rounding keeps 2000 × 0.001 from being stored as 2.0000000000000004.
        let raw = ts == AV.noPTS ? lastFrameTime + frameDuration : Double(ts) * timeBase - info.startTime
        let t = (raw * 1e6).rounded() / 1e6
        lastFrameTime = t
        return t
    }

    /// Whether the decoded frame at `t` is kept, and for scene sampling the difference that chose it.
    private mutating func select(at t: Double) throws -> (Bool, sceneScore: Double?) {
        if isImage { return (true, nil) }
        switch options.sampling {
        case .every, .fps, .uniform:
            return (schedule.take(time: t, frameDuration: frameDuration), nil)
        case .keyframes:
            return (frame.isKeyFrame || frame.isIntraCoded, nil)
        case let .scene(threshold, minGap):
            let gray = try converter.thumbnail(frame, width: 48, height: 27)
            let score = scene.score(gray, at: t, threshold: threshold, minGap: minGap)
            return (score != nil, score)
        }
    }
}

/// What seeking has done so far, so that it never goes backwards or repeats itself.
private struct SeekState {
    /// The latest packet time sent to the decoder since the last seek.
    var maxSent = -Double.infinity
    var lastTarget = -Double.infinity
    /// Set by a seek: where decoding stood before it, checked against the first packet after it.
    var landedCheck: Double? = nil
    var disabled = false

    /// A seek that lands before what was already decoded gains nothing: read on linearly instead.
    mutating func checkLanding(packetTime: Double) {
        guard let before = landedCheck else { return }
        landedCheck = nil
        if packetTime < before { disabled = true }
    }
}

/// Scene sampling: the first frame, then every frame whose mean difference to the previous one reaches
/// the threshold, at least the minimum gap after the last one chosen.
private struct SceneDetector {
    private var previous: [UInt8]? = nil
    private var lastChosen = -Double.infinity

    /// The difference that chooses the frame at `t` (1 for the first frame), or nil.
    mutating func score(_ gray: [UInt8], at t: Double, threshold: Double, minGap: Double) -> Double? {
        var score: Double? = nil
        if let previous {
            var sum = 0
            for i in 0..<gray.count { sum += abs(Int(gray[i]) - Int(previous[i])) }
            let diff = Double(sum) / Double(gray.count * 255)
            if diff >= threshold && t - lastChosen >= minGap { score = diff }
        } else {
            score = 1
        }
        previous = gray
        if score != nil { lastChosen = t }
        return score
    }
}
