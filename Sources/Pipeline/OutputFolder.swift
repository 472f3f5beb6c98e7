import Foundation

/// The pipeline's `output.dir` cannot be used: a read-only disk, no permission, a file in the way. A
/// usage error (exit 64) that names the folder and the reason, instead of Foundation's error domain.
public struct OutputFolderError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Checks and creates the output folder with POSIX calls, so the reason comes from `strerror`.
public enum OutputFolder {
    /// The folder exists and a file can be made in it, or the nearest existing folder above it can
    /// take the new folder. Used by `validate`, which creates nothing that stays.
    public static func checkWritable(_ dir: URL) throws {
        var probe = dir.standardizedFileURL
        while !FileManager.default.fileExists(atPath: probe.path) && probe.path != "/" { probe.deleteLastPathComponent() }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: probe.path, isDirectory: &isDir), isDir.boolValue else {
            throw OutputFolderError(description: "the output folder \(dir.path) cannot be made: \(probe.path) is a file, not a folder; "
                                    + "choose another output.dir")
        }
        // access(2) says yes to root on a read-only mount; making a file is the real test.
        let name = probe.appendingPathComponent(".capfilt-write-check-\(getpid())").path
        let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw unwritable(dir, at: probe.path, errno) }
        close(fd)
        unlink(name)
    }

    /// `mkdir -p`, failing with the folder that could not be made and why.
    public static func create(_ dir: URL) throws {
        let path = dir.standardizedFileURL.path
        var made = ""
        for part in path.split(separator: "/") {
            made += "/" + part
            var st = stat()
            if stat(made, &st) == 0 {
                if (st.st_mode & S_IFMT) != S_IFDIR {
                    throw OutputFolderError(description: "the output folder \(path) cannot be made: \(made) is a file, not a folder; choose another output.dir")
                }
                continue
            }
            if mkdir(made, 0o755) != 0 && errno != EEXIST { throw unwritable(dir, at: made, errno) }
        }
        try checkWritable(dir)
    }

    private static func unwritable(_ dir: URL, at path: String, _ code: Int32) -> OutputFolderError {
        let reason = String(cString: strerror(code))
        let hint = code == EROFS ? "the disk is mounted read-only; remount it writable or choose another output.dir"
            : "make it writable for this user or choose another output.dir"
        return OutputFolderError(description: "the output folder \(dir.path) is not writable (\(path): \(reason)): \(hint)")
    }
}
