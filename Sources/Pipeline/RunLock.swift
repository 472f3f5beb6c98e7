import Foundation

/// One run at a time per output folder: an exclusive `flock` on `.capfilt.lock` inside it, released
/// by the kernel when the process dies, so a killed run never leaves a stale lock.
public final class RunLock {
    private let fd: Int32
    private let shared: Bool
    public let path: String

    public struct Busy: Error, CustomStringConvertible {
        public let path: String
        public let holder: String
        public var description: String { "another capfilt run holds \(path)\(holder.isEmpty ? "" : " (\(holder))"); try again later or pass --wait" }
    }

    /// The lock file cannot be opened in a folder that took a test file: fatal, not a usage error (an
    /// output folder that cannot be made or written is an `OutputFolderError`, a usage error).
    public struct Unavailable: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot open the lock file \(path): \(reason)" }
    }

    /// `shared`: the tasks of an array job hold the output's lock together (a single-process run, which
    /// may write any shard, then waits or exits 75), each with an exclusive lock of its own (`name`), so two
    /// attempts of one task never run at once.
    public init(directory: URL, wait: Bool, name: String = ".capfilt.lock", shared: Bool = false) throws {
        try OutputFolder.create(directory)
        path = directory.appendingPathComponent(name).path
        self.shared = shared
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Unavailable(path: path, reason: String(cString: strerror(errno))) }
        if flock(fd, (shared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB)) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw Busy(path: path, holder: holder)
        }
        // Holders of a shared lock leave the note of whoever held it alone.
        guard !shared else { return }
        let note = "pid \(getpid()) since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        if !shared { _ = ftruncate(fd, 0) }
        flock(fd, LOCK_UN)
        close(fd)
    }
}
