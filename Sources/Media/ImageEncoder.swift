import CFFmpeg

/// Still-image formats frames are stored in.
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case jpeg, webp, png

    var encoderName: String {
        switch self {
        case .jpeg: return "mjpeg"
        case .webp: return "libwebp"
        case .png: return "png"
        }
    }

    var pixelFormat: AVPixelFormat {
        switch self {
        case .jpeg: return AV_PIX_FMT_YUVJ444P
        case .webp: return AV_PIX_FMT_YUV420P
        case .png: return AV_PIX_FMT_RGB24
        }
    }

    public var fileExtension: String { self == .jpeg ? "jpg" : rawValue }
}

/// Encodes `RGBFrame`s to JPEG, WebP or PNG bytes with libavcodec.
public final class ImageEncoder {
    public let format: ImageFormat
    public let quality: Int
    private var encoder: Encoder?
    private var filler: RGBFrameFiller?
    private var size = (0, 0)
    private var nextPTS: Int64 = 0
    private let packet: Packet

    /// `quality` 1…100 (higher is better); PNG ignores it.
    public init(format: ImageFormat, quality: Int = 90) throws {
        self.format = format
        self.quality = max(1, min(100, quality))
        packet = try Packet()
    }

    public func encode(_ image: RGBFrame) throws -> [UInt8] {
        if encoder == nil || size != (image.width, image.height) {
            encoder = try makeEncoder(width: image.width, height: image.height)
            filler = try RGBFrameFiller(width: image.width, height: image.height, format: format.pixelFormat)
            size = (image.width, image.height)
        }
        guard let encoder, let filler else { return [] }
        try filler.fill(from: image)
        // Encoders want rising timestamps even for independent pictures.
        filler.frame.pointer.pointee.pts = nextPTS
        nextPTS += 1
        if format == .jpeg {
            filler.frame.pointer.pointee.quality = encoder.context.pointee.global_quality
        }
        var bytes: [UInt8] = []
        try encoder.encode(filler.frame, packet: packet) { p in
            bytes.append(contentsOf: UnsafeBufferPointer(start: p.pointer.pointee.data, count: Int(p.pointer.pointee.size)))
        }
        if bytes.isEmpty {
            // Encoders with delay (libwebp) release the picture on flush; such an encoder is then spent.
            try encoder.encode(nil, packet: packet) { p in
                bytes.append(contentsOf: UnsafeBufferPointer(start: p.pointer.pointee.data, count: Int(p.pointer.pointee.size)))
            }
            self.encoder = nil
        }
        return bytes
    }

    private func makeEncoder(width: Int, height: Int) throws -> Encoder {
        let format = self.format, quality = self.quality
        var options: [String: String] = [:]
        if format == .webp { options["quality"] = String(quality) }
        return try Encoder(name: format.encoderName, configure: { ctx in
            ctx.pointee.width = Int32(width)
            ctx.pointee.height = Int32(height)
            ctx.pointee.pix_fmt = format.pixelFormat
            ctx.pointee.time_base = AVRational(num: 1, den: 25)
            if format == .jpeg {
                // JPEG quality maps onto MJPEG's quantiser scale 2 (best) … 31 (worst).
                let q = 2 + (100 - quality) * 29 / 99
                ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
                ctx.pointee.global_quality = Int32(q) * FF_QP2LAMBDA
                ctx.pointee.color_range = AVCOL_RANGE_JPEG
                ctx.pointee.strict_std_compliance = FF_COMPLIANCE_UNOFFICIAL
            }
        }, options: options)
    }
}
