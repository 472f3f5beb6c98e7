import Foundation
import Media
import Models

/// Decodes a still image (JPEG, PNG, WebP, … anything libavformat opens; a video gives its first
/// frame) to the 8-bit RGB the models take, upright (rotation applied).
func loadRGBImage(path: String) throws -> RGBImage {
    var image: RGBFrame? = nil
    let options = DecodeOptions(sampling: .uniform(count: 1), audio: nil, subtitles: false)
    _ = try MediaDecoder.decode(path: path, options: options) { if image == nil { image = $0.image } }
    guard let image else { throw FFmpegError(operation: "decode(\(path))", message: "no picture could be decoded") }
    return RGBImage(width: image.width, height: image.height, pixels: image.pixels)
}
