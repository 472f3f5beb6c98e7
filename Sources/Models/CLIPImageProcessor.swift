// Port of transformers' CLIPImageProcessorPil (image_processing_pil_clip.py over the PilBackend
// and image_transforms.py): shortest-side resize with Pillow's 8-bit resampling, centre crop,
// rescale (in float64, then cast to float32), normalise (in float32). The torchvision-based
// CLIPImageProcessor resizes differently (up to ~0.015 per pixel); this matches the Pillow one.
import Foundation
import Tensor

public struct CLIPImageProcessorConfig: Decodable, Sendable {
    /// `size` is either {"shortest_edge": n}, {"height": h, "width": w} or a bare int (older
    /// configs, meaning shortest_edge since CLIP uses default_to_square=False).
    public enum Size: Sendable, Equatable {
        case shortestEdge(Int)
        case exact(height: Int, width: Int)
    }

    public var doResize = true
    public var size = Size.shortestEdge(224)
    public var resample = PillowFilter.bicubic
    public var doCenterCrop = true
    public var cropHeight = 224
    public var cropWidth = 224
    public var doRescale = true
    public var rescaleFactor = 1.0 / 255.0
    public var doNormalize = true
    public var imageMean: [Double] = [0.48145466, 0.4578275, 0.40821073]
    public var imageStd: [Double] = [0.26862954, 0.26130258, 0.27577711]

    enum CodingKeys: String, CodingKey {
        case doResize = "do_resize", size, resample, doCenterCrop = "do_center_crop", cropSize = "crop_size"
        case doRescale = "do_rescale", rescaleFactor = "rescale_factor", doNormalize = "do_normalize"
        case imageMean = "image_mean", imageStd = "image_std"
    }

    struct SizeDict: Decodable {
        var shortest_edge: Int?
        var height: Int?
        var width: Int?
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        doResize = try c.decodeIfPresent(Bool.self, forKey: .doResize) ?? true
        if let n = try? c.decodeIfPresent(Int.self, forKey: .size) {
            size = .shortestEdge(n)
        } else if let d = try c.decodeIfPresent(SizeDict.self, forKey: .size) {
            if let s = d.shortest_edge {
                size = .shortestEdge(s)
            } else if let h = d.height, let w = d.width {
                size = .exact(height: h, width: w)
            } else {
                throw DecodingError.dataCorruptedError(forKey: .size, in: c,
                    debugDescription: "size needs shortest_edge or height and width")
            }
        }
        if let r = try c.decodeIfPresent(Int.self, forKey: .resample) {
            guard let f = PillowFilter(rawValue: r) else {
                throw DecodingError.dataCorruptedError(forKey: .resample, in: c,
                    debugDescription: "unsupported resample \(r) (nearest is not implemented)")
            }
            resample = f
        }
        doCenterCrop = try c.decodeIfPresent(Bool.self, forKey: .doCenterCrop) ?? true
        if let n = try? c.decodeIfPresent(Int.self, forKey: .cropSize) {
            cropHeight = n; cropWidth = n
        } else if let d = try c.decodeIfPresent(SizeDict.self, forKey: .cropSize) {
            guard let h = d.height, let w = d.width else {
                throw DecodingError.dataCorruptedError(forKey: .cropSize, in: c, debugDescription: "crop_size needs height and width")
            }
            cropHeight = h; cropWidth = w
        }
        doRescale = try c.decodeIfPresent(Bool.self, forKey: .doRescale) ?? true
        rescaleFactor = try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) ?? 1.0 / 255.0
        doNormalize = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) ?? true
        imageMean = try c.decodeIfPresent([Double].self, forKey: .imageMean) ?? imageMean
        imageStd = try c.decodeIfPresent([Double].self, forKey: .imageStd) ?? imageStd
        guard imageMean.count == 3, imageStd.count == 3 else {
            throw DecodingError.dataCorruptedError(forKey: .imageMean, in: c, debugDescription: "image_mean and image_std need 3 values")
        }
    }
}

public struct CLIPImageProcessor: Sendable {
    public let config: CLIPImageProcessorConfig

    public init(config: CLIPImageProcessorConfig) { self.config = config }

    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("preprocessor_config.json")
        guard let data = try? Data(contentsOf: url) else { throw CLIPError.missingFile(url.path) }
        do {
            config = try JSONDecoder().decode(CLIPImageProcessorConfig.self, from: data)
        } catch {
            throw CLIPError.invalidPreprocessor(file: url.lastPathComponent, detail: describe(error))
        }
    }

    /// Output (height, width) of get_resize_output_image_size(default_to_square=False).
    public func resizedSize(width: Int, height: Int) -> (height: Int, width: Int) {
        switch config.size {
        case .exact(let h, let w):
            return (h, w)
        case .shortestEdge(let s):
            let (short, long) = width <= height ? (width, height) : (height, width)
            // Python: int(size * long / short), true division then truncation.
            let newLong = Int(Double(s * long) / Double(short))
            return width <= height ? (newLong, s) : (s, newLong)
        }
    }

    /// The resized and centre-cropped 8-bit image, before rescaling.
    public func resizeAndCrop(_ image: RGBImage) throws -> RGBImage {
        var img = image
        if config.doResize {
            let (h, w) = resizedSize(width: image.width, height: image.height)
            img = PillowResample.resize(image, width: w, height: h, filter: config.resample)
        }
        if config.doCenterCrop, img.height != config.cropHeight || img.width != config.cropWidth {
            img = CLIPImageProcessor.centerCrop(img, height: config.cropHeight, width: config.cropWidth)
        }
        return img
    }

    /// image_transforms.center_crop: offsets rounded down (Python //); an image smaller than the
    /// crop is first centred on a zero canvas (padding rounded up on the top/left side).
    static func centerCrop(_ img: RGBImage, height ch: Int, width cw: Int) -> RGBImage {
        func floorHalf(_ v: Int) -> Int { v >= 0 ? v / 2 : -((-v + 1) / 2) }
        let newH = max(ch, img.height), newW = max(cw, img.width)
        let topPad = (newH - img.height + 1) / 2, leftPad = (newW - img.width + 1) / 2
        let top = floorHalf(img.height - ch) + topPad, left = floorHalf(img.width - cw) + leftPad
        let y0 = max(0, top), y1 = min(newH, top + ch), x0 = max(0, left), x1 = min(newW, left + cw)
        let outH = y1 - y0, outW = x1 - x0
        var px = [UInt8](repeating: 0, count: outH * outW * 3)
        for y in 0..<outH {
            let sy = y0 + y - topPad
            guard sy >= 0 && sy < img.height else { continue }
            for x in 0..<outW {
                let sx = x0 + x - leftPad
                guard sx >= 0 && sx < img.width else { continue }
                let s = (sy * img.width + sx) * 3, d = (y * outW + x) * 3
                px[d] = img.pixels[s]; px[d + 1] = img.pixels[s + 1]; px[d + 2] = img.pixels[s + 2]
            }
        }
        return RGBImage(width: outW, height: outH, pixels: px)
    }

    /// pixel_values of one image as [3, H, W].
    public func preprocess(_ image: RGBImage) throws -> Tensor {
        let img = try resizeAndCrop(image)
        let hw = img.width * img.height
        let mean = config.imageMean.map { Float($0) }, std = config.imageStd.map { Float($0) }
        let factor = config.rescaleFactor
        return Tensor.uninitialized([3, img.height, img.width]) { out in
            img.pixels.withUnsafeBufferPointer { px in
                for i in 0..<hw {
                    for c in 0..<3 {
                        var v = Float(px[i * 3 + c])
                        if config.doRescale { v = Float(Double(px[i * 3 + c]) * factor) }
                        if config.doNormalize { v = (v - mean[c]) / std[c] }
                        out[c * hw + i] = v
                    }
                }
            }
        }
    }

    /// pixel_values of a batch as [B, 3, H, W], the images spread over the threads the models may
    /// use (`BLAS.threads`, which the pipeline sets to cores / workers): each image is independent,
    /// and resampling costs as much as a small model's forward.
    public func preprocess(_ images: [RGBImage]) throws -> Tensor {
        let results = UnsafeMutableBufferPointer<Result<Tensor, Error>?>.allocate(capacity: images.count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        // Each range writes only its own slots.
        nonisolated(unsafe) let slots = results
        Parallel.forEachRange(images.count, minPerThread: 1) { range in
            for i in range { slots[i] = Result { try preprocess(images[i]) } }
        }
        return Tensor.stack(try results.map { try $0!.get() })
    }
}
