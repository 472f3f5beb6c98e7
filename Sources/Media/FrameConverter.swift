import CFFmpeg

/// Owning wrapper of a `SwsContext`: any pixel format and bit depth to RGB24 (or 8-bit grey),
/// scaled, with sample aspect ratio, rotation and crop applied. Reused across frames of one stream.
final class FrameConverter {
    private var context: OpaquePointer? = nil
    private var sceneContext: OpaquePointer? = nil
    /// Whether a converted frame's EXIF orientation turned it a quarter (its display size is swapped).
    private(set) var exifSwapsSides = false

    deinit {
        sws_freeContext(context)
        sws_freeContext(sceneContext)
    }

    /// Converts a decoded frame to display orientation and the policy's size.
    func rgb(_ frame: Frame, sampleAspectRatio: Double, rotation: Int, resize: ResizePolicy) throws -> RGBFrame {
        // A JPEG's EXIF orientation comes with the decoded frame, not the stream.
        let exif = frame.metadata("Orientation").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 1
        exifSwapsSides = Orientation(exif: exif).swapsSides
        return try rgb(frame, sampleAspectRatio: sampleAspectRatio, orientation: Orientation(exif: exif, clockwise: rotation), resize: resize)
    }

    private func rgb(_ frame: Frame, sampleAspectRatio: Double, orientation: Orientation, resize: ResizePolicy) throws -> RGBFrame {
        let f = frame.pointer.pointee
        let sarQ = f.sample_aspect_ratio
        let sar = sarQ.num > 0 && sarQ.den > 0 ? Double(sarQ.num) / Double(sarQ.den) : sampleAspectRatio
        var dw = max(1, Int((Double(f.width) * sar).rounded()))
        var dh = Int(f.height)
        let quarterTurn = orientation.swapsSides
        if quarterTurn { swap(&dw, &dh) }
        let plan = resize.plan(displayWidth: dw, displayHeight: dh)
        // Scale in the stored orientation, then turn: swscale cannot rotate.
        let (tw, th) = quarterTurn ? (plan.scaledH, plan.scaledW) : (plan.scaledW, plan.scaledH)
        var image = try scale(frame, to: tw, th, format: AV_PIX_FMT_RGB24, bytesPerPixel: 3, cache: &context)
        let out = RGBFrame(width: tw, height: th, pixels: image)
        image = []
        let turned = orientation.apply(out)
        return turned.cropped(x: plan.crop.x, y: plan.crop.y, width: plan.crop.w, height: plan.crop.h)
    }

    /// The frame as packed RGB24 at its stored size (scene scores of non-YUV formats).
    func fullSizeRGB(_ frame: Frame) throws -> [UInt8] {
        try scale(frame, to: frame.width, frame.height, format: AV_PIX_FMT_RGB24, bytesPerPixel: 3, cache: &sceneContext)
    }

    private func scale(_ frame: Frame, to width: Int, _ height: Int, format: AVPixelFormat, bytesPerPixel: Int,
                       cache: inout OpaquePointer?) throws -> [UInt8] {
        let f = frame.pointer.pointee
        let srcFormat = AVPixelFormat(rawValue: f.format)
        if srcFormat == format && Int(f.width) == width && Int(f.height) == height, let plane = f.data.0 {
            // Already what is wanted (a PNG's RGB): copy rows exactly; swscale would round-trip through YUV.
            let rowBytes = width * bytesPerPixel
            var out = [UInt8](repeating: 0, count: rowBytes * height)
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    (dst.baseAddress! + y * rowBytes).update(from: plane + y * Int(f.linesize.0), count: rowBytes)
                }
            }
            return out
        }
        let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT
        cache = sws_getCachedContext(cache, f.width, f.height, srcFormat, Int32(width), Int32(height), format,
                                     Int32(flags), nil, nil, nil)
        guard let sws = cache else {
            let name = av_get_pix_fmt_name(srcFormat).map { String(cString: $0) } ?? "\(f.format)"
            throw FFmpegError(operation: "sws_getCachedContext", message: "cannot convert pixel format \(name) (\(f.width)x\(f.height)) to RGB")
        }
        // Honour the frame's YUV matrix and range, as ffmpeg's filter graph does (YUV sources only).
        if let desc = av_pix_fmt_desc_get(srcFormat), (desc.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB)) == 0,
           desc.pointee.nb_components >= 3 {
            setColorDetails(sws, f)
        }

        let stride = width * bytesPerPixel
        var out = [UInt8](repeating: 0, count: stride * height)
        let rows = out.withUnsafeMutableBufferPointer { buf -> Int32 in
            var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
            var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
            return withUnsafePointer(to: frame.pointer.pointee.data) { dataTuple in
                dataTuple.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                    withUnsafePointer(to: frame.pointer.pointee.linesize) { lsTuple in
                        lsTuple.withMemoryRebound(to: Int32.self, capacity: 8) { ls in
                            sws_scale(sws, src, ls, 0, f.height, &dst, &dstStride)
                        }
                    }
                }
            }
        }
        if rows <= 0 { throw FFmpegError(code: rows < 0 ? rows : capfilt_averror(EINVAL), operation: "sws_scale") }
        return out
    }

    private func setColorDetails(_ sws: OpaquePointer, _ f: AVFrame) {
        let space = f.colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : Int32(f.colorspace.rawValue)
        let srcRange: Int32 = f.color_range == AVCOL_RANGE_JPEG ? 1 : 0
        _ = sws_setColorspaceDetails(sws, sws_getCoefficients(space), srcRange,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16)
    }
}
