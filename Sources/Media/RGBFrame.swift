/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), no padding.
public struct RGBFrame: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBFrame needs width×height×3 bytes")
        self.width = width; self.height = height; self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: (Int, Int) -> (UInt8, UInt8, UInt8)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let (r, g, b) = fill(x, y)
                let o = (y * width + x) * 3
                p[o] = r; p[o + 1] = g; p[o + 2] = b
            }
        }
        self.init(width: width, height: height, pixels: p)
    }

    public func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
        let o = (y * width + x) * 3
        return (pixels[o], pixels[o + 1], pixels[o + 2])
    }

    /// Turned clockwise by a multiple of 90 degrees.
    public func rotated(clockwise degrees: Int) -> RGBFrame {
        let d = ((degrees % 360) + 360) % 360
        if d == 0 { return self }
        let w = width, h = height
        let (nw, nh) = d == 180 ? (w, h) : (h, w)
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        let (nx, ny): (Int, Int)
                        switch d {
                        case 90: (nx, ny) = (h - 1 - y, x)
                        case 180: (nx, ny) = (w - 1 - x, h - 1 - y)
                        default: (nx, ny) = (y, w - 1 - x)
                        }
                        let s = (y * w + x) * 3, t = (ny * nw + nx) * 3
                        dst[t] = src[s]; dst[t + 1] = src[s + 1]; dst[t + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBFrame(width: nw, height: nh, pixels: out)
    }

    /// Mirrored left to right.
    public func mirrored() -> RGBFrame {
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                let s = (y * width + x) * 3, t = (y * width + width - 1 - x) * 3
                out[t] = pixels[s]; out[t + 1] = pixels[s + 1]; out[t + 2] = pixels[s + 2]
            }
        }
        return RGBFrame(width: width, height: height, pixels: out)
    }

    public func cropped(x: Int, y: Int, width cw: Int, height ch: Int) -> RGBFrame {
        precondition(x >= 0 && y >= 0 && x + cw <= width && y + ch <= height)
        if x == 0 && y == 0 && cw == width && ch == height { return self }
        var out = [UInt8](repeating: 0, count: cw * ch * 3)
        for row in 0..<ch {
            let s = ((y + row) * width + x) * 3
            out.replaceSubrange(row * cw * 3..<(row + 1) * cw * 3, with: pixels[s..<s + cw * 3])
        }
        return RGBFrame(width: cw, height: ch, pixels: out)
    }
}

/// How sampled frames are sized for storage and models.
public enum ResizePolicy: Sendable, Equatable, Codable {
    /// Keep the display size (sample aspect ratio and rotation applied).
    case none
    /// Scale so the shortest side is `size`; with `centerCrop`, cut the centre `size`×`size` square.
    case shortestSide(size: Int, centerCrop: Bool)
    /// Scale to fit inside `width`×`height`, keeping the aspect ratio.
    case fit(width: Int, height: Int)

    /// Scaled size and crop rectangle for a display size.
    func plan(displayWidth dw: Int, displayHeight dh: Int) -> (scaledW: Int, scaledH: Int, crop: (x: Int, y: Int, w: Int, h: Int)) {
        switch self {
        case .none:
            return (dw, dh, (0, 0, dw, dh))
        case let .shortestSide(size, centerCrop):
            let scale = Double(size) / Double(min(dw, dh))
            let sw = max(size, Int((Double(dw) * scale).rounded()))
            let sh = max(size, Int((Double(dh) * scale).rounded()))
            let (fw, fh) = dw <= dh ? (size, sh) : (sw, size)
            if centerCrop {
                return (fw, fh, ((fw - size) / 2, (fh - size) / 2, size, size))
            }
            return (fw, fh, (0, 0, fw, fh))
        case let .fit(width, height):
            let scale = min(Double(width) / Double(dw), Double(height) / Double(dh))
            let sw = max(1, Int((Double(dw) * scale).rounded()))
            let sh = max(1, Int((Double(dh) * scale).rounded()))
            return (sw, sh, (0, 0, sw, sh))
        }
    }
}

/// How a stored picture is turned for display: mirrored left to right first, then turned clockwise.
/// Video display matrices give a turn; JPEG EXIF orientations 1–8 give all eight.
struct Orientation: Equatable {
    var mirror = false
    var clockwise = 0

    /// EXIF Orientation (TIFF tag 0x0112): 2 mirror, 3 half turn, 4 flip (mirror + half turn),
    /// 5 transpose (mirror + 270), 6 quarter turn clockwise, 7 transverse (mirror + 90), 8 270.
    init(exif: Int, clockwise base: Int = 0) {
        let table: [Int: (Bool, Int)] = [2: (true, 0), 3: (false, 180), 4: (true, 180), 5: (true, 270),
                                         6: (false, 90), 7: (true, 90), 8: (false, 270)]
        let (m, turn) = table[exif] ?? (false, 0)
        mirror = m
        clockwise = (base + turn) % 360
    }

    var swapsSides: Bool { clockwise == 90 || clockwise == 270 }

    func apply(_ image: RGBFrame) -> RGBFrame {
        (mirror ? image.mirrored() : image).rotated(clockwise: clockwise)
    }
}
