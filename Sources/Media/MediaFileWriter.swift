import CFFmpeg
import Foundation

/// How a video stream is encoded.
public struct VideoEncoding: Sendable {
    public enum Codec: String, Sendable, CaseIterable { case h264, mpeg4, ffv1, png, vp8, theora }
    public var codec: Codec
    public var width: Int
    public var height: Int
    public var fps: Int
    /// Frames between keyframes.
    public var gop: Int
    /// Clockwise display rotation stored as a display matrix (0, 90, 180, 270).
    public var rotation: Int
    public var sampleAspectRatio: (num: Int32, den: Int32)
    /// 4:4:4 chroma keeps odd sizes and colour edges exact; 10-bit tests high bit depths.
    public var pixelFormat: String

    public init(codec: Codec = .h264, width: Int, height: Int, fps: Int = 30, gop: Int = 30, rotation: Int = 0,
                sampleAspectRatio: (num: Int32, den: Int32) = (1, 1), pixelFormat: String? = nil) {
        self.codec = codec; self.width = width; self.height = height; self.fps = fps; self.gop = gop
        self.rotation = rotation; self.sampleAspectRatio = sampleAspectRatio
        self.pixelFormat = pixelFormat ?? (codec == .png ? "rgb24" : [.mpeg4, .vp8, .theora].contains(codec) ? "yuv420p" : "yuv444p")
    }
}

/// How an audio stream is encoded.
public struct AudioEncoding: Sendable {
    public enum Codec: String, Sendable { case aac, flac, pcm }
    public var codec: Codec
    public var sampleRate: Int
    public var channels: Int
    public init(codec: Codec = .aac, sampleRate: Int = 44_100, channels: Int = 2) {
        self.codec = codec; self.sampleRate = sampleRate; self.channels = channels
    }
}

/// Text subtitle codecs (the names are FFmpeg's encoder names).
public enum SubtitleEncoding: String, Sendable { case subrip, ass, movText = "mov_text" }

/// Encodes streams with libavcodec and muxes them into one file (the container from the extension).
/// Add the streams, `start()`, append to each stream in about time order (the muxer interleaves what
/// is close), finish each stream, then `finish()`. One owner at a time, like the C handles it holds.
public final class MediaFileWriter {
    private let muxer: Muxer

    public init(path: String) throws {
        muxer = try Muxer(path: path)
    }

    public func addVideo(_ encoding: VideoEncoding) throws -> VideoStreamWriter {
        if encoding.rotation != 0, muxer.formatName.contains("matroska") {
            throw FFmpegError(operation: "MediaFileWriter", message: "FFmpeg 5.1's Matroska muxer does not store a display matrix; write rotated video to MP4")
        }
        let encoder = try VideoStreamWriter.encoder(encoding, globalHeader: muxer.needsGlobalHeader)
        let stream = try muxer.addStream(for: encoder)
        stream.pointee.sample_aspect_ratio = AVRational(num: encoding.sampleAspectRatio.num, den: encoding.sampleAspectRatio.den)
        if encoding.rotation != 0 { muxer.setRotation(encoding.rotation, of: stream) }
        return try VideoStreamWriter(encoding: encoding, encoder: encoder, output: StreamOutput(muxer: muxer, stream: stream, encoder: encoder))
    }

    public func addAudio(_ encoding: AudioEncoding, language: String? = nil) throws -> AudioStreamWriter {
        let encoder = try AudioStreamWriter.encoder(encoding, globalHeader: muxer.needsGlobalHeader)
        let stream = try muxer.addStream(for: encoder)
        if let language { try muxer.setLanguage(language, of: stream) }
        return try AudioStreamWriter(encoding: encoding, encoder: encoder, output: StreamOutput(muxer: muxer, stream: stream, encoder: encoder))
    }

    public func addSubtitles(_ encoding: SubtitleEncoding, language: String? = nil) throws -> SubtitleStreamWriter {
        let encoder = try SubtitleStreamWriter.encoder(encoding)
        let stream = try muxer.addStream(for: encoder)
        if let language { try muxer.setLanguage(language, of: stream) }
        return try SubtitleStreamWriter(encoder: encoder, output: StreamOutput(muxer: muxer, stream: stream, encoder: encoder))
    }

    /// Writes the header: after every stream is added, before anything is appended.
    public func start() throws { try muxer.writeHeader() }

    /// Writes the trailer: after every stream is finished.
    public func finish() throws { try muxer.finish() }
}

/// Where a stream writer's packets go: one stream of the shared muxer.
struct StreamOutput {
    /// Holding the muxer keeps `stream`, which its context owns, valid for as long as the writer lives.
    let muxer: Muxer
    let stream: UnsafeMutablePointer<AVStream>
    let encoder: Encoder
    let packet: Packet

    init(muxer: Muxer, stream: UnsafeMutablePointer<AVStream>, encoder: Encoder) throws {
        self.muxer = muxer; self.stream = stream; self.encoder = encoder
        packet = try Packet()
    }

    func write(_ packet: Packet) throws { try muxer.write(packet, encoder: encoder, stream: stream) }

    /// Sends a frame (nil flushes) and writes what the encoder gives back; `adjust` sees each packet first.
    func encode(_ frame: Frame?, adjust: (Packet) -> Void = { _ in }) throws {
        try encoder.encode(frame, packet: packet) { p in
            adjust(p)
            try write(p)
        }
    }
}

public final class VideoStreamWriter {
    public let encoding: VideoEncoding
    private let filler: RGBFrameFiller
    private let output: StreamOutput
    public private(set) var framesWritten = 0

    init(encoding: VideoEncoding, encoder: Encoder, output: StreamOutput) throws {
        self.encoding = encoding
        self.output = output
        filler = try RGBFrameFiller(width: encoding.width, height: encoding.height, format: encoder.context.pointee.pix_fmt)
    }

    /// Seconds written so far.
    public var time: Double { Double(framesWritten) / Double(encoding.fps) }

    /// Encodes the next frame (any size: it is scaled to the stream's).
    public func append(_ image: RGBFrame) throws {
        try filler.fill(from: image)
        filler.frame.pointer.pointee.pts = Int64(framesWritten)
        // Without a duration the MP4 muxer drops the last frame's length (FFmpeg 5.1).
        try output.encode(filler.frame) { $0.pointer.pointee.duration = 1 }
        framesWritten += 1
    }

    /// Flushes the frames the encoder holds back.
    public func finish() throws {
        try output.encode(nil) { $0.pointer.pointee.duration = 1 }
    }

    static func encoder(_ v: VideoEncoding, globalHeader: Bool) throws -> Encoder {
        let name: String
        var options: [String: String] = [:]
        switch v.codec {
        case .h264:
            name = "libx264"
            options = ["preset": "ultrafast", "crf": "12", "x264-params": "keyint=\(v.gop):min-keyint=\(v.gop):scenecut=0:log=-1"]
        case .mpeg4: name = "mpeg4"; options = ["qscale": "2"]
        case .ffv1: name = "ffv1"
        case .png: name = "png"
        // For WebM and Ogg test files: fast, near-lossless settings; keyframes exactly every `gop` frames.
        case .vp8: name = "libvpx"; options = ["deadline": "realtime", "cpu-used": "8", "crf": "4", "auto-alt-ref": "0"]
        case .theora: name = "libtheora"; options = ["qscale": "8"]
        }
        let pixFmt = av_get_pix_fmt(v.pixelFormat)
        guard pixFmt != AV_PIX_FMT_NONE else { throw FFmpegError(operation: "av_get_pix_fmt", message: "unknown pixel format \(v.pixelFormat)") }
        return try Encoder(name: name, configure: { ctx in
            ctx.pointee.width = Int32(v.width)
            ctx.pointee.height = Int32(v.height)
            ctx.pointee.pix_fmt = pixFmt
            ctx.pointee.time_base = AVRational(num: 1, den: Int32(v.fps))
            ctx.pointee.framerate = AVRational(num: Int32(v.fps), den: 1)
            ctx.pointee.gop_size = Int32(v.gop)
            ctx.pointee.max_b_frames = v.codec == .h264 ? 2 : 0
            ctx.pointee.sample_aspect_ratio = AVRational(num: v.sampleAspectRatio.num, den: v.sampleAspectRatio.den)
            if v.codec == .mpeg4 { ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE; ctx.pointee.global_quality = 2 * FF_QP2LAMBDA }
            if v.codec == .vp8 { ctx.pointee.bit_rate = 1_000_000; ctx.pointee.keyint_min = Int32(v.gop) }
            if v.codec == .theora { ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE; ctx.pointee.global_quality = 8 * FF_QP2LAMBDA }
            if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        }, options: options)
    }
}

public final class AudioStreamWriter {
    public let encoding: AudioEncoding
    private let encoder: Encoder
    private let output: StreamOutput
    private let frame: Frame
    public private(set) var samplesWritten = 0

    init(encoding: AudioEncoding, encoder: Encoder, output: StreamOutput) throws {
        self.encoding = encoding
        self.encoder = encoder
        self.output = output
        frame = try Frame()
    }

    /// Seconds written so far.
    public var time: Double { Double(samplesWritten) / Double(encoding.sampleRate) }

    /// Samples per channel that one `append` takes (the last may take fewer).
    public var frameSize: Int {
        let size = encoder.context.pointee.frame_size
        return size > 0 ? Int(size) : 1024
    }

    /// Encodes the next samples, one array per channel, all of one length up to `frameSize`; values
    /// are clamped to -1…1.
    public func append(_ channels: [[Float]]) throws {
        let n = channels.first?.count ?? 0
        precondition(channels.count == encoding.channels && n <= frameSize && channels.allSatisfy { $0.count == n },
                     "AudioStreamWriter.append takes \(encoding.channels) channels of equal length up to \(frameSize)")
        let ctx = encoder.context
        let f = frame.pointer
        frame.unref()
        f.pointee.nb_samples = Int32(n)
        f.pointee.format = ctx.pointee.sample_fmt.rawValue
        f.pointee.sample_rate = ctx.pointee.sample_rate
        try check(av_channel_layout_copy(&f.pointee.ch_layout, &ctx.pointee.ch_layout), "av_channel_layout_copy")
        try check(av_frame_get_buffer(f, 0), "av_frame_get_buffer")
        let count = channels.count
        for (c, samples) in channels.enumerated() {
            for (i, sample) in samples.enumerated() {
                let v = max(-1, min(1, sample))
                if ctx.pointee.sample_fmt == AV_SAMPLE_FMT_FLTP {
                    f.pointee.extended_data[c]!.withMemoryRebound(to: Float.self, capacity: n) { $0[i] = v }
                } else {
                    f.pointee.extended_data[0]!.withMemoryRebound(to: Int16.self, capacity: n * count) {
                        $0[i * count + c] = Int16(v * 32767)
                    }
                }
            }
        }
        f.pointee.pts = Int64(samplesWritten)
        try output.encode(frame)
        samplesWritten += n
    }

    /// Flushes the samples the encoder holds back.
    public func finish() throws { try output.encode(nil) }

    static func encoder(_ a: AudioEncoding, globalHeader: Bool) throws -> Encoder {
        let (name, fmt): (String, AVSampleFormat)
        switch a.codec {
        case .aac: (name, fmt) = ("aac", AV_SAMPLE_FMT_FLTP)
        case .flac: (name, fmt) = ("flac", AV_SAMPLE_FMT_S16)
        case .pcm: (name, fmt) = ("pcm_s16le", AV_SAMPLE_FMT_S16)
        }
        return try Encoder(name: name, configure: { ctx in
            ctx.pointee.sample_rate = Int32(a.sampleRate)
            ctx.pointee.sample_fmt = fmt
            av_channel_layout_default(&ctx.pointee.ch_layout, Int32(a.channels))
            ctx.pointee.time_base = AVRational(num: 1, den: Int32(a.sampleRate))
            ctx.pointee.bit_rate = 128_000
            if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        })
    }
}

public final class SubtitleStreamWriter {
    /// Text subtitle encoders parse an ASS header for styles; FFmpeg's default one is private API.
    static let assHeader = """
    [Script Info]
    ScriptType: v4.00+
    PlayResX: 384
    PlayResY: 288

    [V4+ Styles]
    Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
    Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

    [Events]
    Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text

    """
    private let encoder: Encoder
    private let output: StreamOutput
    public private(set) var cuesWritten = 0

    init(encoder: Encoder, output: StreamOutput) throws {
        self.encoder = encoder
        self.output = output
    }

    /// Encodes one cue; cues go in order of their start.
    public func append(_ cue: SubtitleCue) throws {
        let durationMs = UInt32(((cue.end - cue.start) * 1000).rounded())
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let size = try encodeEvent(cue, durationMs: durationMs, into: &buffer)
        let packet = output.packet
        try check(av_new_packet(packet.pointer, size), "av_new_packet")
        buffer.withUnsafeBufferPointer { packet.pointer.pointee.data.update(from: $0.baseAddress!, count: Int(size)) }
        packet.pointer.pointee.pts = Int64((cue.start * 1000).rounded())
        packet.pointer.pointee.dts = packet.pointer.pointee.pts
        packet.pointer.pointee.duration = Int64(durationMs)
        try output.write(packet)
        packet.unref()
        cuesWritten += 1
    }

    /// The cue as one ASS event through `avcodec_encode_subtitle`; returns the bytes written to `buffer`.
    private func encodeEvent(_ cue: SubtitleCue, durationMs: UInt32, into buffer: inout [UInt8]) throws -> Int32 {
        let line = "\(cuesWritten),0,Default,,0,0,0,,\(cue.text.replacingOccurrences(of: "\n", with: "\\N"))"
        let size: Int32 = line.withCString { cLine in
            let rect = UnsafeMutablePointer<AVSubtitleRect>.allocate(capacity: 1)
            rect.initialize(to: AVSubtitleRect())
            defer { rect.deallocate() }
            rect.pointee.type = SUBTITLE_ASS
            rect.pointee.ass = UnsafeMutablePointer(mutating: cLine)
            var rects: [UnsafeMutablePointer<AVSubtitleRect>?] = [rect]
            return rects.withUnsafeMutableBufferPointer { rp in
                var sub = AVSubtitle()
                sub.format = 1
                sub.start_display_time = 0
                sub.end_display_time = durationMs
                sub.num_rects = 1
                sub.rects = rp.baseAddress
                sub.pts = Int64((cue.start * 1_000_000).rounded())
                return avcodec_encode_subtitle(encoder.context, &buffer, Int32(buffer.count), &sub)
            }
        }
        return try check(size, "avcodec_encode_subtitle")
    }

    static func encoder(_ encoding: SubtitleEncoding) throws -> Encoder {
        try Encoder(name: encoding.rawValue, configure: { ctx in
            ctx.pointee.time_base = AVRational(num: 1, den: 1000)
            let bytes = Array(assHeader.utf8) + [0]
            guard let mem = av_malloc(bytes.count) else { throw FFmpegError(operation: "av_malloc", message: "out of memory") }
            mem.copyMemory(from: bytes, byteCount: bytes.count)
            ctx.pointee.subtitle_header = mem.assumingMemoryBound(to: UInt8.self)
            ctx.pointee.subtitle_header_size = Int32(bytes.count - 1)
        })
    }
}
