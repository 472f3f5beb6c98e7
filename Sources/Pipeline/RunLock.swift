import Foundation

/// One run at a time per output folder: an exclusive `flock` on `.capfilt.lock` inside it, released
/// by the kernel when the process dies, so a killed run never leaves a stale lock.
public final class RunLock {
    private let fd: Int32
    public let path: String

    public struct Busy: Error, CustomStringConvertible {
        public let path: String
        public let holder: String
        public var description: String { "another capfilt run holds \(path)\(holder.isEmpty ? "" : " (\(holder))"); try again later or pass --wait" }
    }

    /// The lock file cannot be made (a read-only or missing output folder): fatal, not a usage error.
    public struct Unavailable: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot open the lock file \(path): \(reason)" }
    }

    public init(directory: URL, wait: Bool) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(".capfilt.lock").path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Unavailable(path: path, reason: String(cString: strerror(errno))) }
        if flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw Busy(path: path, holder: holder)
        }
        let note = "pid \(getpid()) since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
