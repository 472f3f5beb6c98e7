import CFFmpeg

/// Every libav* failure surfaces as this error, carrying FFmpeg's own message (`av_strerror`) and
/// the call that failed, so a sources row can store exactly what FFmpeg said.
public struct FFmpegError: Error, CustomStringConvertible, Sendable, Equatable {
    public let code: Int32
    public let operation: String
    public let message: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
        self.message = FFmpegError.describe(code)
    }

    public init(operation: String, message: String) {
        self.code = capfilt_averror(EINVAL)
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message)" }

    public var isEndOfFile: Bool { code == capfilt_averror_eof() }
    public var isAgain: Bool { code == capfilt_averror_eagain() }

    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(capfilt_error_max_string_size()) + 1)
        if av_strerror(code, &buffer, buffer.count) < 0 {
            return "unknown FFmpeg error \(code)"
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The one place C return codes become Swift errors: negative means failure, as everywhere in libav*.
@discardableResult
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws -> Int32 {
    if code < 0 { throw FFmpegError(code: code, operation: operation()) }
    return code
}

enum AV {
    static let eof = capfilt_averror_eof()
    static let again = capfilt_averror_eagain()
    static let noPTS = capfilt_nopts()
    static let timeBaseQ = capfilt_time_base_q()

    /// libav* logs to stderr by default; a data tool reports errors through its rows instead.
    static let quietOnce: Void = { av_log_set_level(AV_LOG_FATAL) }()
}
