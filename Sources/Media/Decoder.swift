import CFFmpeg

/// Owning wrapper of an `AVCodecContext` opened to decode one stream of a `Demuxer`.
final class Decoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    let timeBase: AVRational

    init(demuxer: Demuxer, stream index: Int, threads: Int = 1) throws {
        let s = demuxer.stream(index)
        let par = s.pointee.codecpar!
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            let name = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "?"
            throw FFmpegError(operation: "avcodec_find_decoder", message: "no decoder for codec '\(name)'")
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(operation: "avcodec_alloc_context3", message: "out of memory")
        }
        context = ctx
        timeBase = s.pointee.time_base
        do {
            try check(avcodec_parameters_to_context(ctx, par), "avcodec_parameters_to_context")
            ctx.pointee.pkt_timebase = s.pointee.time_base
            // Frame threads add latency and memory per thread; the pipeline parallelises across inputs instead.
            ctx.pointee.thread_count = Int32(max(1, threads))
            try check(avcodec_open2(ctx, codec, nil), "avcodec_open2(\(String(cString: codec.pointee.name)))")
        } catch {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            throw error
        }
    }

    deinit {
        var c: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&c)
    }

    /// Frames the decoder may drop without reconstructing them.
    enum Skip { case nothing, nonReference, nonKey }

    func skip(_ frames: Skip) {
        switch frames {
        case .nothing: context.pointee.skip_frame = AVDISCARD_DEFAULT
        case .nonReference: context.pointee.skip_frame = AVDISCARD_NONREF
        case .nonKey: context.pointee.skip_frame = AVDISCARD_NONKEY
        }
    }

    /// Sends a packet (nil drains the decoder). Returns false when the decoder wants frames read first.
    func send(_ packet: Packet?) throws -> Bool {
        let r = avcodec_send_packet(context, packet?.pointer)
        if r == AV.again { return false }
        if r == AV.eof { return true }
        try check(r, "avcodec_send_packet")
        return true
    }

    /// Receives the next decoded frame; false when more input is needed or the decoder is drained.
    func receive(into frame: Frame) throws -> Bool {
        let r = avcodec_receive_frame(context, frame.pointer)
        if r == AV.again || r == AV.eof { return false }
        try check(r, "avcodec_receive_frame")
        return true
    }

    func flush() { avcodec_flush_buffers(context) }

    /// Decodes a subtitle packet into its cues (text and ASS lines; bitmap subtitles carry no text).
    func decodeSubtitle(_ packet: Packet) throws -> [SubtitleCue] {
        var sub = AVSubtitle()
        var got: Int32 = 0
        try check(avcodec_decode_subtitle2(context, &sub, &got, packet.pointer), "avcodec_decode_subtitle2")
        guard got != 0 else { return [] }
        defer { avsubtitle_free(&sub) }
        let pkt = packet.pointer.pointee
        let base = pkt.pts != AV.noPTS ? pkt.pts : pkt.dts
        guard base != AV.noPTS else { return [] }
        let start = Double(base) * av_q2d(timeBase) + Double(sub.start_display_time) / 1000
        var end: Double
        if sub.end_display_time > sub.start_display_time && sub.end_display_time != UInt32.max {
            end = Double(base) * av_q2d(timeBase) + Double(sub.end_display_time) / 1000
        } else {
            end = start + Double(pkt.duration) * av_q2d(timeBase)
        }
        if end <= start { end = start }
        var cues: [SubtitleCue] = []
        for i in 0..<Int(sub.num_rects) {
            guard let rect = sub.rects[i]?.pointee else { continue }
            var text = ""
            if let ass = rect.ass { text = SubtitleText.plainText(fromASS: String(cString: ass)) }
            else if let t = rect.text { text = String(cString: t) }
            text = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { cues.append(SubtitleCue(start: start, end: end, text: text)) }
        }
        return cues
    }
}
