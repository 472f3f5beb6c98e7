import CFFmpeg

/// Scene-change scores as FFmpeg's `select` filter computes its `scene` value, so thresholds known from
/// `select='gt(scene,0.3)'` transfer: with MAFD the mean absolute difference of co-located samples of
/// the frame and the previous one (in 8-bit levels), score = clip(min(MAFD, |MAFD − previous MAFD|) / 100,
/// 0, 1). Planar YUV compares the luma plane only; other formats compare every byte of packed RGB24.
/// The first frame scores 1 here (it is always kept), where FFmpeg gives it 0.
struct SceneScore {
    private var previous: [UInt16]? = nil
    private var previousSize = (0, 0)
    private var previousMAFD = 0.0
    private var lastChosen = -Double.infinity

    /// The score that chooses the frame at `t`, or nil when it is below the threshold or too close to
    /// the last frame chosen. `scale` is 2^(bit depth − 8): MAFD is in 8-bit levels whatever the depth.
    mutating func score(_ samples: [UInt16], width: Int, height: Int, scale: Int, at t: Double,
                        threshold: Double, minGap: Double) -> Double? {
        defer { previous = samples; previousSize = (width, height) }
        guard let previous else { lastChosen = t; return 1 }
        // FFmpeg scores a change of size 0 and keeps its previous MAFD.
        guard previousSize == (width, height), previous.count == samples.count, !samples.isEmpty else { return nil }
        var sad: UInt64 = 0
        for i in 0..<samples.count { sad += UInt64(abs(Int(samples[i]) - Int(previous[i]))) }
        let mafd = Double(sad) / Double(samples.count) / Double(scale)
        let score = min(max(min(mafd, abs(mafd - previousMAFD)) / 100, 0), 1)
        previousMAFD = mafd
        guard score >= threshold && t - lastChosen >= minGap else { return nil }
        lastChosen = t
        return score
    }

    /// The samples FFmpeg's scene detection compares (luma of planar YUV at its depth, else packed
    /// RGB24 bytes), with their row length, rows and depth scale.
    static func samples(_ frame: Frame, converter: FrameConverter) throws -> (values: [UInt16], width: Int, height: Int, scale: Int) {
        let f = frame.pointer.pointee
        guard let desc = av_pix_fmt_desc_get(AVPixelFormat(rawValue: f.format)) else {
            throw FFmpegError(operation: "scene score", message: "unknown pixel format \(f.format)")
        }
        let d = desc.pointee
        let planarYUV = (d.flags & UInt64(AV_PIX_FMT_FLAG_RGB)) == 0 && (d.flags & UInt64(AV_PIX_FMT_FLAG_PLANAR)) != 0 && d.nb_components >= 3
        let (w, h) = (Int(f.width), Int(f.height))
        guard planarYUV, let plane = f.data.0 else {
            let rgb = try converter.fullSizeRGB(frame)
            return (rgb.map { UInt16($0) }, w * 3, h, 1)
        }
        let depth = Int(d.comp.0.depth), line = Int(f.linesize.0)
        var out = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h {
            let row = plane + y * line
            if depth <= 8 {
                for x in 0..<w { out[y * w + x] = UInt16(row[x]) }
            } else {
                let wide = UnsafeRawPointer(row).assumingMemoryBound(to: UInt16.self)
                for x in 0..<w { out[y * w + x] = UInt16(littleEndian: wide[x]) }
            }
        }
        return (out, w, h, 1 << max(0, depth - 8))
    }
}
