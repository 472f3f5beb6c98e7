import CFFmpeg

/// Owning wrapper of a `SwrContext`: decoded audio in any layout and format to mono float at one rate.
final class AudioResampler {
    private var context: OpaquePointer?
    let outputRate: Int

    init(decoder: Decoder, outputRate: Int) throws {
        self.outputRate = outputRate
        let ctx = decoder.context
        var outLayout = AVChannelLayout()
        av_channel_layout_default(&outLayout, 1)
        var inLayout = AVChannelLayout()
        if ctx.pointee.ch_layout.nb_channels > 0 {
            try check(av_channel_layout_copy(&inLayout, &ctx.pointee.ch_layout), "av_channel_layout_copy")
        } else {
            av_channel_layout_default(&inLayout, 1)
        }
        defer { av_channel_layout_uninit(&inLayout); av_channel_layout_uninit(&outLayout) }
        var swr: OpaquePointer? = nil
        try check(swr_alloc_set_opts2(&swr, &outLayout, AV_SAMPLE_FMT_FLT, Int32(outputRate),
                                      &inLayout, ctx.pointee.sample_fmt, ctx.pointee.sample_rate, 0, nil),
                  "swr_alloc_set_opts2")
        context = swr
        // Downmix to the mean of the channels: FFmpeg's default matrix sums at -3 dB and can clip floats.
        av_opt_set_double(UnsafeMutableRawPointer(swr), "rematrix_maxval", 1.0, 0)
        try check(swr_init(swr), "swr_init")
    }

    deinit { swr_free(&context) }

    /// Converts a decoded frame (nil drains the resampler's delay) and appends the samples to `out`.
    func convert(_ frame: Frame?, into out: inout [Float]) throws {
        let inCount = frame.map { Int($0.pointer.pointee.nb_samples) } ?? 0
        let capacity = Int(swr_get_out_samples(context, Int32(inCount))) + 32
        guard capacity > 0 else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: capacity))
        let produced: Int32 = out.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.advanced(by: start).withMemoryRebound(to: UInt8.self, capacity: capacity * 4) { dst in
                var outPtr: UnsafeMutablePointer<UInt8>? = dst
                if let frame {
                    let data = frame.pointer.pointee.extended_data.map { UnsafeMutableRawPointer($0) }
                    return data.map { raw in
                        swr_convert(context, &outPtr, Int32(capacity),
                                    raw.assumingMemoryBound(to: UnsafePointer<UInt8>?.self), Int32(inCount))
                    } ?? 0
                }
                return swr_convert(context, &outPtr, Int32(capacity), nil, 0)
            }
        }
        out.removeLast(capacity - max(0, Int(produced)))
        try check(produced, "swr_convert")
    }
}
