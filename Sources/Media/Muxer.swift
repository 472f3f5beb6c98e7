import CFFmpeg

/// Owning wrapper of an output `AVFormatContext` (and the file it opened); freed in `deinit`.
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

    var formatName: String { context.pointee.oformat.pointee.name.map { String(cString: $0) } ?? "" }

    var needsGlobalHeader: Bool { (context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 }

    func addStream(for encoder: Encoder) throws -> UnsafeMutablePointer<AVStream> {
        guard let s = avformat_new_stream(context, nil) else {
            throw FFmpegError(operation: "avformat_new_stream", message: "out of memory")
        }
        try check(avcodec_parameters_from_context(s.pointee.codecpar, encoder.context), "avcodec_parameters_from_context")
        s.pointee.time_base = encoder.context.pointee.time_base
        return s
    }

    /// Stores a clockwise display rotation as the stream's display matrix (what phones write).
    func setRotation(_ degrees: Int, of stream: UnsafeMutablePointer<AVStream>) {
        let size = 9 * MemoryLayout<Int32>.size
        guard let data = av_stream_new_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, size) else { return }
        data.withMemoryRebound(to: Int32.self, capacity: 9) { m in
            // av_display_rotation_set takes clockwise degrees (av_display_rotation_get answers counter-clockwise).
            av_display_rotation_set(m, Double(degrees))
        }
    }

    func writeHeader() throws { try check(avformat_write_header(context, nil), "avformat_write_header") }

    func write(_ packet: Packet, encoder: Encoder, stream: UnsafeMutablePointer<AVStream>) throws {
        av_packet_rescale_ts(packet.pointer, encoder.context.pointee.time_base, stream.pointee.time_base)
        packet.pointer.pointee.stream_index = stream.pointee.index
        try check(av_interleaved_write_frame(context, packet.pointer), "av_interleaved_write_frame")
    }

    func finish() throws { try check(av_write_trailer(context), "av_write_trailer") }
}
