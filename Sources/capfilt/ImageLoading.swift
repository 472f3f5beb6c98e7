import ArgumentParser
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

/// What `score` and `match` both take after their model: BLAS threads, one image, its texts.
struct ImagePairArguments: ParsableArguments {
    @Option(name: .long, help: "OpenBLAS threads (default: OpenBLAS's own choice).")
    var threads: Int?

    @Argument(help: "The image file.")
    var image: String

    @Argument(help: "One or more texts.")
    var texts: [String]

    func validate() throws {
        if texts.isEmpty { throw ValidationError("give at least one TEXT after the image") }
    }
}
