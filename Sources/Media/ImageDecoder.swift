import CFFmpeg

/// Decodes an encoded picture held in memory (a stored frame: JPEG, WebP or PNG) back to RGB with
/// libavcodec, so model stages can run on exactly what a shard holds without touching the source.
public final class ImageDecoder {
    private let packet: Packet
    private let frame: Frame
    private let converter = FrameConverter()

    public init() throws {
        _ = AV.quietOnce
        packet = try Packet()
        frame = try Frame()
    }

    /// A fresh decoder per picture: decoders keep state between frames (PNG keeps the last picture
    /// for APNG blending), and opening one costs microseconds.
    private func context(_ format: ImageFormat) throws -> UnsafeMutablePointer<AVCodecContext> {
        let id: AVCodecID = format == .jpeg ? AV_CODEC_ID_MJPEG : format == .png ? AV_CODEC_ID_PNG : AV_CODEC_ID_WEBP
        guard let codec = avcodec_find_decoder(id), let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(operation: "avcodec_find_decoder", message: "no \(format.rawValue) decoder in this FFmpeg build")
        }
        do { try check(avcodec_open2(ctx, codec, nil), "avcodec_open2(\(format.rawValue))") } catch {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            throw error
        }
        return ctx
    }

    public func decode(_ bytes: [UInt8], format: ImageFormat) throws -> RGBFrame {
        let ctx = try context(format)
        defer { var c: UnsafeMutablePointer<AVCodecContext>? = ctx; avcodec_free_context(&c) }
        try check(av_new_packet(packet.pointer, Int32(bytes.count)), "av_new_packet")
        defer { packet.unref() }
        bytes.withUnsafeBufferPointer { packet.pointer.pointee.data.update(from: $0.baseAddress!, count: bytes.count) }
        try check(avcodec_send_packet(ctx, packet.pointer), "avcodec_send_packet(\(format.rawValue))")
        var r = avcodec_receive_frame(ctx, frame.pointer)
        if r == AV.again {
            // Decoders with a delay give the picture on drain.
            _ = avcodec_send_packet(ctx, nil)
            r = avcodec_receive_frame(ctx, frame.pointer)
        }
        try check(r, "avcodec_receive_frame(\(format.rawValue))")
        defer { frame.unref() }
        return try converter.rgb(frame, sampleAspectRatio: 1, rotation: 0, resize: .none)
    }
}
