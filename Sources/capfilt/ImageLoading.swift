// TEMPORARY (clip branch): decodes binary PPM (P6, maxval 255) only, so the CLIP commands can be
// exercised without the Media module. The main branch replaces this file with the FFmpeg-based
// loader (JPEG/PNG/WebP) that has the same signature.
import Foundation
import Models

struct ImageLoadingError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "\(path): \(reason)" }
}

func loadRGBImage(path: String) throws -> RGBImage {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ImageLoadingError(path: path, reason: "cannot read file")
    }
    let bytes = [UInt8](data)
    var i = 0
    func token() throws -> String {
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "#") {
                while i < bytes.count, bytes[i] != 0x0A { i += 1 }
            } else if [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) {
                i += 1
            } else { break }
        }
        let start = i
        while i < bytes.count, ![0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        guard i > start else { throw ImageLoadingError(path: path, reason: "truncated PPM header") }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }
    guard try token() == "P6" else {
        throw ImageLoadingError(path: path, reason: "not a binary PPM (P6); this temporary loader reads only PPM")
    }
    guard let w = Int(try token()), let h = Int(try token()), let maxval = Int(try token()), w > 0, h > 0 else {
        throw ImageLoadingError(path: path, reason: "bad PPM header")
    }
    guard maxval == 255 else { throw ImageLoadingError(path: path, reason: "PPM maxval \(maxval) is not 255") }
    i += 1   // the single whitespace byte after maxval
    guard bytes.count - i >= w * h * 3 else {
        throw ImageLoadingError(path: path, reason: "PPM data truncated (\(bytes.count - i) of \(w * h * 3) bytes)")
    }
    return RGBImage(width: w, height: h, pixels: Array(bytes[i..<(i + w * h * 3)]))
}
