// Exact port of Pillow 13.0's 8-bit convolution resampling (src/libImaging/Resample.c:
// precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc / Vertical_8bpc,
// ImagingResampleInner), which Image.resize uses for RGB images when reducing_gap is None.
// Pillow works in fixed point: coefficients are rounded to 22 fractional bits and every pass
// rounds and clamps back to 8 bits, so matching it to the last bit means doing the same.

public enum PillowFilter: Int, Sendable {
    // Values are PIL.Image.Resampling's, as stored in preprocessor_config.json's "resample".
    case box = 4, bilinear = 2, hamming = 5, bicubic = 3, lanczos = 1

    var support: Double {
        switch self {
        case .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    func callAsFunction(_ x0: Double) -> Double {
        switch self {
        case .box:
            return x0 > -0.5 && x0 <= 0.5 ? 1 : 0
        case .bilinear:
            let x = abs(x0)
            return x < 1 ? 1 - x : 0
        case .hamming:
            var x = abs(x0)
            if x == 0 { return 1 }
            if x >= 1 { return 0 }
            x *= Double.pi
            // Pillow writes 0.54f and 0.46f: float literals promoted to double.
            return sin(x) / x * (Double(Float(0.54)) + Double(Float(0.46)) * cos(x))
        case .bicubic:
            let a = -0.5
            let x = abs(x0)
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .lanczos:
            func sinc(_ v: Double) -> Double { v == 0 ? 1 : sin(v * Double.pi) / (v * Double.pi) }
            return (-3 <= x0 && x0 < 3) ? sinc(x0) * sinc(x0 / 3) : 0
        }
    }
}

import Foundation

enum PillowResample {
    static let precisionBits = 32 - 8 - 2

    struct Coefficients {
        var ksize: Int
        var bounds: [Int]     // per output pixel: first input index, number of taps
        var kk: [Int32]       // outSize × ksize fixed-point weights
    }

    /// precompute_coeffs + normalize_coeffs_8bpc for the box [in0, in1) of an axis of inSize.
    static func coefficients(inSize: Int, in0: Float, in1: Float, outSize: Int, filter: PillowFilter) -> Coefficients {
        let scale = Double(in1 - in0) / Double(outSize)
        let filterscale = max(scale, 1)
        let support = filter.support * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var pre = [Double](repeating: 0, count: outSize * ksize)
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let ss = 1 / filterscale
            // C's (int) cast truncates toward zero, which is Int(_:) on a Double.
            var xmin = Int(center - support + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            for x in 0..<max(xmax, 0) {
                let w = filter((Double(x + xmin) - center + 0.5) * ss)
                pre[xx * ksize + x] = w
                ww += w
            }
            for x in 0..<max(xmax, 0) where ww != 0 { pre[xx * ksize + x] /= ww }
            bounds[xx * 2] = xmin
            bounds[xx * 2 + 1] = xmax
        }
        let one = Double(1 << precisionBits)
        let kk = pre.map { v -> Int32 in v < 0 ? Int32(-0.5 + v * one) : Int32(0.5 + v * one) }
        return Coefficients(ksize: ksize, bounds: bounds, kk: kk)
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> Int32(precisionBits)
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// Image.resize((width, height), filter) of an RGB8 image, box = whole image.
    /// Pillow 13 picks the pass order: vertical first when the height shrinks by more than twice
    /// as many pixels as the width does (so the horizontal pass has fewer rows); the 8-bit
    /// rounding between passes makes the order visible in the output, so it is reproduced here.
    static func resize(_ image: RGBImage, width: Int, height: Int, filter: PillowFilter) -> RGBImage {
        if width == image.width && height == image.height { return image }
        let needH = width != image.width
        let needV = height != image.height
        let dy = image.height - height, dx = image.width - width
        let horizontalFirst = !(dy > 0 && dy > dx * 2)
        var vert = coefficients(inSize: image.height, in0: 0, in1: Float(image.height), outSize: height, filter: filter)
        let horiz = needH
            ? coefficients(inSize: image.width, in0: 0, in1: Float(image.width), outSize: width, filter: filter)
            : nil

        var current = image
        if horizontalFirst {
            if let horiz {
                // Only the source rows the vertical pass will read are resampled horizontally.
                let yFirst = vert.bounds[0]
                let yLast = vert.bounds[height * 2 - 2] + vert.bounds[height * 2 - 1]
                for i in 0..<height { vert.bounds[i * 2] -= yFirst }
                current = horizontal(current, rows: yFirst..<yLast, outWidth: width, coeffs: horiz)
            }
            if needV { current = vertical(current, outHeight: height, coeffs: vert) }
        } else {
            if needV { current = vertical(current, outHeight: height, coeffs: vert) }
            if let horiz { current = horizontal(current, rows: 0..<current.height, outWidth: width, coeffs: horiz) }
        }
        return current
    }

    static func horizontal(_ src: RGBImage, rows: Range<Int>, outWidth: Int, coeffs: Coefficients) -> RGBImage {
        let outH = rows.count
        var out = [UInt8](repeating: 0, count: outWidth * outH * 3)
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { inp in
            coeffs.kk.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { o in
                    for yy in 0..<outH {
                        let rowIn = (yy + rows.lowerBound) * src.width * 3
                        for xx in 0..<outWidth {
                            let xmin = coeffs.bounds[xx * 2], xmax = coeffs.bounds[xx * 2 + 1]
                            let k = xx * coeffs.ksize
                            var s0 = half, s1 = half, s2 = half
                            for x in 0..<xmax {
                                let p = rowIn + (x + xmin) * 3
                                let w = kk[k + x]
                                // Wrapping ops: C's int arithmetic here never overflows for 8-bit inputs,
                                // and &+ / &* keep Swift from adding overflow checks in the hot loop.
                                s0 = s0 &+ Int32(inp[p]) &* w
                                s1 = s1 &+ Int32(inp[p + 1]) &* w
                                s2 = s2 &+ Int32(inp[p + 2]) &* w
                            }
                            let q = (yy * outWidth + xx) * 3
                            o[q] = clip8(s0); o[q + 1] = clip8(s1); o[q + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: outH, pixels: out)
    }

    static func vertical(_ src: RGBImage, outHeight: Int, coeffs: Coefficients) -> RGBImage {
        let w = src.width
        var out = [UInt8](repeating: 0, count: w * outHeight * 3)
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { inp in
            coeffs.kk.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { o in
                    for yy in 0..<outHeight {
                        let ymin = coeffs.bounds[yy * 2], ymax = coeffs.bounds[yy * 2 + 1]
                        let k = yy * coeffs.ksize
                        for xx in 0..<w {
                            var s0 = half, s1 = half, s2 = half
                            for y in 0..<ymax {
                                let p = ((y + ymin) * w + xx) * 3
                                let c = kk[k + y]
                                s0 = s0 &+ Int32(inp[p]) &* c
                                s1 = s1 &+ Int32(inp[p + 1]) &* c
                                s2 = s2 &+ Int32(inp[p + 2]) &* c
                            }
                            let q = (yy * w + xx) * 3
                            o[q] = clip8(s0); o[q + 1] = clip8(s1); o[q + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBImage(width: w, height: outHeight, pixels: out)
    }
}
