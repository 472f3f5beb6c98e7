import CFFmpeg
import Foundation

/// SHA-256 of a file's bytes, read in chunks (libavutil's implementation: no extra dependency).
public enum ContentHash {
    public static func sha256(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FFmpegError(operation: "open(\(path))", message: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        guard let sha = av_sha_alloc() else { throw FFmpegError(operation: "av_sha_alloc", message: "out of memory") }
        defer { av_free(UnsafeMutableRawPointer(sha)) }
        av_sha_init(sha, 256)
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() }
            catch { throw FFmpegError(operation: "read(\(path))", message: error.localizedDescription) }
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { av_sha_update(sha, $0.bindMemory(to: UInt8.self).baseAddress, chunk.count) }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        av_sha_final(sha, &digest)
        return hex(digest)
    }

    public static func sha256(bytes: [UInt8]) -> String {
        guard let sha = av_sha_alloc() else { return "" }
        defer { av_free(UnsafeMutableRawPointer(sha)) }
        av_sha_init(sha, 256)
        av_sha_update(sha, bytes, bytes.count)
        var digest = [UInt8](repeating: 0, count: 32)
        av_sha_final(sha, &digest)
        return hex(digest)
    }

    /// Lower-case hex, without `String(format:)` (which costs microseconds a byte on Linux: the planner
    /// hashes two keys for every input of a nightly run).
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
