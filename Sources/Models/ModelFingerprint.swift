import Foundation

/// A checkpoint folder's identity without loading its weights: "<folder name>-<12 hex digits>" from
/// FNV-1a over config.json, the safetensors header and sampled tensor bytes (so retrained weights
/// with an unchanged config get another id). Pipeline keys and the `models` table use it, and
/// `capfilt validate` can compute it in milliseconds.
public enum ModelFingerprint {
    public static func modelID(directory: URL) throws -> String {
        let configURL = directory.appendingPathComponent("config.json")
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        for url in [configURL, weightsURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw CheckpointError.missingFile(url.path)
        }
        return directory.standardizedFileURL.lastPathComponent + "-" + (try hash(configURL: configURL, weightsURL: weightsURL))
    }

    static func hash(configURL: URL, weightsURL: URL) throws -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        }
        mix(try Data(contentsOf: configURL))
        let handle = try FileHandle(forReadingFrom: weightsURL)
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        withUnsafeBytes(of: size.littleEndian) { mix($0) }
        func block(at offset: UInt64, _ length: UInt64) throws {
            try handle.seek(toOffset: min(offset, size))
            mix(try handle.read(upToCount: Int(min(length, size - min(offset, size)))) ?? Data())
        }
        try handle.seek(toOffset: 0)
        let prefix = try handle.read(upToCount: 8) ?? Data()
        var headerLength: UInt64 = 0
        for (i, b) in prefix.enumerated() { headerLength |= UInt64(b) << (8 * UInt64(i)) }
        try block(at: 8, headerLength)
        try block(at: 0, 1 << 16)
        try block(at: size > 1 << 16 ? size - (1 << 16) : 0, 1 << 16)
        for i in 1...64 { try block(at: size / 65 * UInt64(i), 1 << 12) }
        return String(String(String(repeating: "0", count: 16) + String(h, radix: 16)).suffix(16).prefix(12))
    }
}
