// The image type the pipeline hands to models: decoded 8-bit RGB, no alpha, row-major HWC.
public struct RGBImage: Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage: empty image \(width)×\(height)")
        precondition(pixels.count == width * height * 3,
                     "RGBImage: \(width)×\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
