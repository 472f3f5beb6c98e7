import CFFmpeg
import Foundation

/// What a synthetic file holds; used by tests and by `capfilt synth` to make real media with libavcodec.
public struct MediaSpec: Sendable {
    public enum VideoCodec: String, Sendable, CaseIterable { case h264, mpeg4, ffv1, png }
    public enum AudioCodec: String, Sendable { case aac, flac, pcm }
    public enum SubtitleCodec: String, Sendable { case subrip, ass, movText = "mov_text" }

    public struct Video: Sendable {
        public var codec: VideoCodec
        public var width: Int
        public var height: Int
        public var fps: Int
        public var frames: Int
        /// Frames between keyframes.
        public var gop: Int
        /// Clockwise display rotation stored as a display matrix (0, 90, 180, 270).
        public var rotation: Int
        public var sampleAspectRatio: (num: Int32, den: Int32)
        /// 4:4:4 chroma keeps odd sizes and colour edges exact; 10-bit tests high bit depths.
        public var pixelFormat: String
        public init(codec: VideoCodec = .h264, width: Int, height: Int, fps: Int = 30, frames: Int, gop: Int = 30,
                    rotation: Int = 0, sampleAspectRatio: (num: Int32, den: Int32) = (1, 1), pixelFormat: String? = nil) {
            self.codec = codec; self.width = width; self.height = height; self.fps = fps; self.frames = frames
            self.gop = gop; self.rotation = rotation; self.sampleAspectRatio = sampleAspectRatio
            self.pixelFormat = pixelFormat ?? (codec == .png ? "rgb24" : codec == .mpeg4 ? "yuv420p" : "yuv444p")
        }
    }

    public struct Audio: Sendable {
        public var codec: AudioCodec
        public var sampleRate: Int
        public var channels: Int
        public var duration: Double
        public init(codec: AudioCodec = .aac, sampleRate: Int = 44_100, channels: Int = 2, duration: Double) {
            self.codec = codec; self.sampleRate = sampleRate; self.channels = channels; self.duration = duration
        }
    }

    public var video: Video?
    public var audio: Audio?
    public var subtitles: (codec: SubtitleCodec, cues: [SubtitleCue])?
    public init(video: Video? = nil, audio: Audio? = nil, subtitles: (codec: SubtitleCodec, cues: [SubtitleCue])? = nil) {
        self.video = video; self.audio = audio; self.subtitles = subtitles
    }
}

/// Owning wrapper of an output `AVFormatContext`.
final class Muxer {
    let context: UnsafeMutablePointer<AVFormatContext>
    private var opened = false

    init(path: String) throws {
        _ = AV.quietOnce
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_alloc_output_context2(&ctx, nil, nil, path), "avformat_alloc_output_context2(\(path))")
        guard let ctx else { throw FFmpegError(operation: "avformat_alloc_output_context2", message: "no context") }
        context = ctx
        if (ctx.pointee.oformat.pointee.flags & AVFMT_NOFILE) == 0 {
            try check(avio_open(&context.pointee.pb, path, AVIO_FLAG_WRITE), "avio_open(\(path))")
            opened = true
        }
    }

    deinit {
        if opened { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }

    var needsGlobalHeader: Bool { (context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 }

    func addStream(for encoder: Encoder) throws -> UnsafeMutablePointer<AVStream> {
        guard let s = avformat_new_stream(context, nil) else {
            throw FFmpegError(operation: "avformat_new_stream", message: "out of memory")
        }
        try check(avcodec_parameters_from_context(s.pointee.codecpar, encoder.context), "avcodec_parameters_from_context")
        s.pointee.time_base = encoder.context.pointee.time_base
        return s
    }

    func writeHeader() throws { try check(avformat_write_header(context, nil), "avformat_write_header") }

    func write(_ packet: Packet, encoderTimeBase: AVRational, stream: UnsafeMutablePointer<AVStream>) throws {
        av_packet_rescale_ts(packet.pointer, encoderTimeBase, stream.pointee.time_base)
        packet.pointer.pointee.stream_index = stream.pointee.index
        try check(av_interleaved_write_frame(context, packet.pointer), "av_interleaved_write_frame")
    }

    func finish() throws { try check(av_write_trailer(context), "av_write_trailer") }
}

/// Writes a media file from generators, interleaving streams in time order as a real recorder would.
public enum MediaWriter {
    /// `frame(i)` renders video frame i; `sample(t, channel)` gives the audio signal at time t.
    public static func write(to path: String, spec: MediaSpec,
                             frame: @escaping (Int) -> RGBFrame = { _ in RGBFrame(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12)) },
                             sample: @escaping (Double, Int) -> Float = { t, _ in Float(sin(2 * Double.pi * 440 * t) * 0.5) }) throws {
        let muxer = try Muxer(path: path)
        let globalHeader = muxer.needsGlobalHeader
        var tracks: [Track] = []

        if let v = spec.video {
            if v.rotation != 0, let name = muxer.context.pointee.oformat.pointee.name, String(cString: name).contains("matroska") {
                throw FFmpegError(operation: "MediaWriter", message: "FFmpeg 5.1's Matroska muxer does not store a display matrix; write rotated video to MP4")
            }
            let enc = try videoEncoder(v, globalHeader: globalHeader)
            let stream = try muxer.addStream(for: enc)
            stream.pointee.sample_aspect_ratio = AVRational(num: v.sampleAspectRatio.num, den: v.sampleAspectRatio.den)
            if v.rotation != 0 {
                let size = 9 * MemoryLayout<Int32>.size
                if let data = av_stream_new_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, size) {
                    data.withMemoryRebound(to: Int32.self, capacity: 9) { m in
                        // av_display_rotation_set takes clockwise degrees (av_display_rotation_get answers counter-clockwise).
                        av_display_rotation_set(m, Double(v.rotation))
                    }
                }
            }
            tracks.append(try VideoTrack(spec: v, encoder: enc, stream: stream, render: frame))
        }
        if let a = spec.audio {
            let enc = try audioEncoder(a, globalHeader: globalHeader)
            let stream = try muxer.addStream(for: enc)
            tracks.append(try AudioTrack(spec: a, encoder: enc, stream: stream, signal: sample))
        }
        if let s = spec.subtitles {
            let enc = try subtitleEncoder(s.codec)
            let stream = try muxer.addStream(for: enc)
            tracks.append(try SubtitleTrack(cues: s.cues, encoder: enc, stream: stream))
        }
        try muxer.writeHeader()
        let packet = try Packet()
        // Always advance the track that is furthest behind, so packets reach the muxer in time order.
        while let next = tracks.filter({ !$0.done }).min(by: { $0.clock < $1.clock }) {
            try next.step(packet: packet) { p in try muxer.write(p, encoderTimeBase: next.encoder.context.pointee.time_base, stream: next.stream) }
        }
        try muxer.finish()
    }

    private static func videoEncoder(_ v: MediaSpec.Video, globalHeader: Bool) throws -> Encoder {
        let name: String
        var options: [String: String] = [:]
        switch v.codec {
        case .h264: name = "libx264"; options = ["preset": "ultrafast", "crf": "12"]
        case .mpeg4: name = "mpeg4"; options = ["qscale": "2"]
        case .ffv1: name = "ffv1"
        case .png: name = "png"
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
            if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        }, options: options.merging(v.codec == .h264 ? ["x264-params": "keyint=\(v.gop):min-keyint=\(v.gop):scenecut=0:log=-1"] : [:]) { a, _ in a })
    }

    private static func audioEncoder(_ a: MediaSpec.Audio, globalHeader: Bool) throws -> Encoder {
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

    private static func subtitleEncoder(_ codec: MediaSpec.SubtitleCodec) throws -> Encoder {
        try Encoder(name: codec.rawValue, configure: { ctx in
            ctx.pointee.time_base = AVRational(num: 1, den: 1000)
            // Text subtitle encoders parse the ASS header for styles; FFmpeg's default one is private API.
            let header = SubtitleTrack.assHeader
            let bytes = Array(header.utf8) + [0]
            guard let mem = av_malloc(bytes.count) else { throw FFmpegError(operation: "av_malloc", message: "out of memory") }
            mem.copyMemory(from: bytes, byteCount: bytes.count)
            ctx.pointee.subtitle_header = mem.assumingMemoryBound(to: UInt8.self)
            ctx.pointee.subtitle_header_size = Int32(bytes.count - 1)
        })
    }
}

/// One stream being generated; `clock` is where it stands in seconds.
private class Track {
    let encoder: Encoder
    let stream: UnsafeMutablePointer<AVStream>
    var clock = 0.0
    var done = false
    init(encoder: Encoder, stream: UnsafeMutablePointer<AVStream>) { self.encoder = encoder; self.stream = stream }
    func step(packet: Packet, write: (Packet) throws -> Void) throws {}
}

private final class VideoTrack: Track {
    let spec: MediaSpec.Video
    let filler: RGBFrameFiller
    let render: (Int) -> RGBFrame
    var index = 0

    init(spec: MediaSpec.Video, encoder: Encoder, stream: UnsafeMutablePointer<AVStream>, render: @escaping (Int) -> RGBFrame) throws {
        self.spec = spec
        self.render = render
        filler = try RGBFrameFiller(width: spec.width, height: spec.height, format: encoder.context.pointee.pix_fmt)
        super.init(encoder: encoder, stream: stream)
    }

    override func step(packet: Packet, write: (Packet) throws -> Void) throws {
        if index >= spec.frames {
            try encoder.encode(nil, packet: packet) { p in
                p.pointer.pointee.duration = 1
                try write(p)
            }
            done = true
            return
        }
        try filler.fill(from: render(index))
        filler.frame.pointer.pointee.pts = Int64(index)
        try encoder.encode(filler.frame, packet: packet) { p in
            // Without a duration the MP4 muxer drops the last frame's length (FFmpeg 5.1).
            p.pointer.pointee.duration = 1
            try write(p)
        }
        index += 1
        clock = Double(index) / Double(spec.fps)
    }
}

private final class AudioTrack: Track {
    let spec: MediaSpec.Audio
    let frame: Frame
    let signal: (Double, Int) -> Float
    var written = 0
    let total: Int

    init(spec: MediaSpec.Audio, encoder: Encoder, stream: UnsafeMutablePointer<AVStream>, signal: @escaping (Double, Int) -> Float) throws {
        self.spec = spec
        self.signal = signal
        total = Int((spec.duration * Double(spec.sampleRate)).rounded())
        frame = try Frame()
        super.init(encoder: encoder, stream: stream)
    }

    override func step(packet: Packet, write: (Packet) throws -> Void) throws {
        if written >= total {
            try encoder.encode(nil, packet: packet, sink: write)
            done = true
            return
        }
        let ctx = encoder.context.pointee
        let frameSize = ctx.frame_size > 0 ? Int(ctx.frame_size) : 1024
        let n = min(frameSize, total - written)
        let f = frame.pointer
        av_frame_unref(f)
        f.pointee.nb_samples = Int32(n)
        f.pointee.format = ctx.sample_fmt.rawValue
        f.pointee.sample_rate = ctx.sample_rate
        try check(av_channel_layout_copy(&f.pointee.ch_layout, &encoder.context.pointee.ch_layout), "av_channel_layout_copy")
        try check(av_frame_get_buffer(f, 0), "av_frame_get_buffer")
        let channels = spec.channels
        for c in 0..<channels {
            for i in 0..<n {
                let t = Double(written + i) / Double(spec.sampleRate)
                let v = max(-1, min(1, signal(t, c)))
                if ctx.sample_fmt == AV_SAMPLE_FMT_FLTP {
                    f.pointee.extended_data[c]!.withMemoryRebound(to: Float.self, capacity: n) { $0[i] = v }
                } else {
                    f.pointee.extended_data[0]!.withMemoryRebound(to: Int16.self, capacity: n * channels) {
                        $0[i * channels + c] = Int16(v * 32767)
                    }
                }
            }
        }
        f.pointee.pts = Int64(written)
        try encoder.encode(frame, packet: packet, sink: write)
        written += n
        clock = Double(written) / Double(spec.sampleRate)
    }
}

private final class SubtitleTrack: Track {
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
    let cues: [SubtitleCue]
    var index = 0

    init(cues: [SubtitleCue], encoder: Encoder, stream: UnsafeMutablePointer<AVStream>) throws {
        self.cues = cues.sorted { $0.start < $1.start }
        super.init(encoder: encoder, stream: stream)
        clock = self.cues.first?.start ?? 0
        done = self.cues.isEmpty
    }

    override func step(packet: Packet, write: (Packet) throws -> Void) throws {
        let cue = cues[index]
        let durationMs = UInt32(((cue.end - cue.start) * 1000).rounded())
        let line = "\(index),0,Default,,0,0,0,,\(cue.text.replacingOccurrences(of: "\n", with: "\\N"))"
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
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
        try check(size, "avcodec_encode_subtitle")
        try check(av_new_packet(packet.pointer, size), "av_new_packet")
        buffer.withUnsafeBufferPointer { packet.pointer.pointee.data.update(from: $0.baseAddress!, count: Int(size)) }
        packet.pointer.pointee.pts = Int64((cue.start * 1000).rounded())
        packet.pointer.pointee.dts = packet.pointer.pointee.pts
        packet.pointer.pointee.duration = Int64(durationMs)
        try write(packet)
        packet.unref()
        index += 1
        if index >= cues.count { done = true } else { clock = cues[index].start }
    }
}
