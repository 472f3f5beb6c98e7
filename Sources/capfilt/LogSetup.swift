import Foundation
import Logging

enum LogSetup {
    /// The format chosen for this process, so a fatal error at the top is written the same way.
    nonisolated(unsafe) static var format = LogFormat.text

    static func bootstrap(format: LogFormat, level: Logger.Level) {
        self.format = format
        LoggingSystem.bootstrap { label in
            var h: LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            h.logLevel = ProcessInfo.processInfo.environment["CAPFILT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? level
            return h
        }
    }
}

/// One JSON object per line on stderr, for log collectors.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var o: [String: Any] = ["ts": ISO8601DateFormatter().string(from: Date()), "level": event.level.rawValue,
                                "logger": label, "msg": event.message.description]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { o[k] = JSONLogHandler.json(v) }
        JSONLogHandler.write(o)
    }

    static func write(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            FileHandle.standardError.write(data + Data("\n".utf8))
        }
    }

    /// Numbers as numbers, nested metadata as objects and arrays.
    static func json(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c):
            switch c {
            case let i as Int: return i
            case let d as Double: return d.isFinite ? d : "\(d)"
            case let b as Bool: return b
            default: return c.description
            }
        case .dictionary(let d): return d.mapValues(json)
        case .array(let a): return a.map(json)
        }
    }
}
