// Port of transformers' BlipImageProcessorPil (image_processing_pil_blip.py over the PilBackend):
// resize to exactly size.height × size.width with Pillow's 8-bit resampling (bicubic by default), no
// crop, rescale in float64 then cast, normalise in float32. These are the CLIP processor's steps
// without its shortest-edge resize and centre crop, so it runs on CLIPImageProcessor's code.
import Foundation
import Tensor

public struct BLIPImageProcessor: Sendable {
    public let base: CLIPImageProcessor

    public var height: Int {
        if case .exact(let h, _) = base.config.size { return h }
        return 0
    }

    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("preprocessor_config.json")
        guard let data = try? Data(contentsOf: url) else { throw BLIPError.missingFile(url.path) }
        var config = CLIPImageProcessorConfig()
        do {
            let c = try JSONDecoder().decode(Raw.self, from: data)
            config.doResize = c.do_resize ?? true
            let size = c.size ?? Raw.Size(height: 384, width: 384)
            guard let h = size.height, let w = size.width, h > 0, w > 0 else {
                throw BLIPError.invalidPreprocessor(file: url.lastPathComponent,
                    detail: "size must give height and width (BLIP resizes to an exact size)")
            }
            config.size = .exact(height: h, width: w)
            if let r = c.resample {
                guard let f = PillowFilter(rawValue: r) else {
                    throw BLIPError.invalidPreprocessor(file: url.lastPathComponent, detail: "unsupported resample \(r)")
                }
                config.resample = f
            }
            config.doCenterCrop = false
            config.doRescale = c.do_rescale ?? true
            config.rescaleFactor = c.rescale_factor ?? 1.0 / 255.0
            config.doNormalize = c.do_normalize ?? true
            config.imageMean = c.image_mean ?? config.imageMean
            config.imageStd = c.image_std ?? config.imageStd
            guard config.imageMean.count == 3, config.imageStd.count == 3 else {
                throw BLIPError.invalidPreprocessor(file: url.lastPathComponent, detail: "image_mean and image_std need 3 values")
            }
        } catch let e as BLIPError {
            throw e
        } catch {
            throw BLIPError.invalidPreprocessor(file: url.lastPathComponent, detail: "\(error)")
        }
        base = CLIPImageProcessor(config: config)
    }

    struct Raw: Decodable {
        struct Size: Decodable { var height: Int?; var width: Int? }
        var do_resize: Bool?
        var size: Size?
        var resample: Int?
        var do_rescale: Bool?
        var rescale_factor: Double?
        var do_normalize: Bool?
        var image_mean: [Double]?
        var image_std: [Double]?
    }

    /// pixel_values of one image as [3, H, W].
    public func preprocess(_ image: RGBImage) throws -> Tensor { try base.preprocess(image) }

    /// pixel_values [B, 3, H, W], the images spread over the cores.
    public func preprocess(_ images: [RGBImage]) throws -> Tensor { try base.preprocess(images) }
}
