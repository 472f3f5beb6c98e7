import CFFmpeg
import Foundation

/// Owning wrapper of an `AVCodecContext` opened for encoding.
final class Encoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    let codec: UnsafePointer<AVCodec>

    init(name: String, configure: (UnsafeMutablePointer<AVCodecContext>) throws -> Void,
         options: [String: String] = [:]) throws {
        _ = AV.quietOnce
        guard let codec = avcodec_find_encoder_by_name(name) else {
            throw FFmpegError(operation: "avcodec_find_encoder_by_name", message: "encoder '\(name)' is not available in this FFmpeg build")
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw FFmpegError(operation: "avcodec_alloc_context3", message: "out of memory")
        }
        self.codec = codec
        context = ctx
        do {
            try configure(ctx)
            var dict: OpaquePointer? = nil
            for (k, v) in options { av_dict_set(&dict, k, v, 0) }
            defer { av_dict_free(&dict) }
            try check(avcodec_open2(ctx, codec, &dict), "avcodec_open2(\(name))")
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

    /// Sends a frame (nil flushes) and hands every packet that comes out to `sink`.
    func encode(_ frame: Frame?, packet: Packet, sink: (Packet) throws -> Void) throws {
        try check(avcodec_send_frame(context, frame?.pointer), "avcodec_send_frame")
        while true {
            let r = avcodec_receive_packet(context, packet.pointer)
            if r == AV.again || r == AV.eof { return }
            try check(r, "avcodec_receive_packet")
            try sink(packet)
            packet.unref()
        }
    }
}

/// Turns `RGBFrame`s into frames of an encoder's pixel format.
final class RGBFrameFiller {
    private var sws: OpaquePointer? = nil
    let frame: Frame

    init(width: Int, height: Int, format: AVPixelFormat) throws {
        frame = try Frame()
        frame.pointer.pointee.width = Int32(width)
        frame.pointer.pointee.height = Int32(height)
        frame.pointer.pointee.format = format.rawValue
        try check(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer")
    }

    deinit { sws_freeContext(sws) }

    func fill(from image: RGBFrame) throws {
        let f = frame.pointer
        try check(av_frame_make_writable(f), "av_frame_make_writable")
        if f.pointee.format == AV_PIX_FMT_RGB24.rawValue && Int(f.pointee.width) == image.width && Int(f.pointee.height) == image.height,
           let plane = f.pointee.data.0 {
            // RGB in, RGB out (PNG): copy exactly rather than through swscale's YUV path.
            let rowBytes = image.width * 3
            image.pixels.withUnsafeBufferPointer { src in
                for y in 0..<image.height {
                    (plane + y * Int(f.pointee.linesize.0)).update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
            return
        }
        sws = sws_getCachedContext(sws, Int32(image.width), Int32(image.height), AV_PIX_FMT_RGB24,
                                   f.pointee.width, f.pointee.height, AVPixelFormat(rawValue: f.pointee.format),
                                   Int32(SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP), nil, nil, nil)
        guard let sws else { throw FFmpegError(operation: "sws_getCachedContext", message: "cannot convert RGB24 for the encoder") }
        let dstFormat = AVPixelFormat(rawValue: f.pointee.format)
        if let desc = av_pix_fmt_desc_get(dstFormat), (desc.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB)) == 0 {
            // Encoders write limited-range BT.601 unless the format is a full-range (J) one.
            let full: Int32 = [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P].contains(dstFormat) ? 1 : 0
            _ = sws_setColorspaceDetails(sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                         sws_getCoefficients(SWS_CS_DEFAULT), full, 0, 1 << 16, 1 << 16)
        }
        image.pixels.withUnsafeBufferPointer { buf in
            var src: [UnsafePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
            var srcStride: [Int32] = [Int32(image.width * 3), 0, 0, 0]
            withUnsafeMutablePointer(to: &f.pointee.data) { dataTuple in
                dataTuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dst in
                    withUnsafePointer(to: &f.pointee.linesize) { lsTuple in
                        lsTuple.withMemoryRebound(to: Int32.self, capacity: 8) { ls in
                            _ = sws_scale(sws, &src, &srcStride, 0, Int32(image.height), dst, ls)
                        }
                    }
                }
            }
        }
    }
}
