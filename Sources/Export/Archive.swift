import CArchive
import Foundation

/// A libarchive failure, with libarchive's own message (`archive_error_string`) and what we were doing.
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let operation: String
    public var description: String { "libarchive: \(operation): \(message) (code \(code))" }
}

/// The one place that turns a libarchive status into a Swift error. ARCHIVE_WARN is kept as success:
/// libarchive uses it for recoverable oddities (e.g. a lossy name conversion) that still wrote the entry.
private func check(_ rc: Int32, _ handle: OpaquePointer, _ operation: @autoclosure () -> String) throws {
    guard rc < ARCHIVE_WARN else { return }
    let message = archive_error_string(handle).map { String(cString: $0) } ?? "unknown error"
    throw ArchiveError(code: rc, message: message, operation: operation())
}

/// Owns one `archive_entry`; freed in deinit.
final class ArchiveEntry {
    let handle: OpaquePointer
    init() throws {
        guard let h = archive_entry_new() else { throw ArchiveError(code: -30, message: "out of memory", operation: "archive_entry_new") }
        handle = h
    }
    deinit { archive_entry_free(handle) }
}

/// Writes a POSIX ustar file member by member. Every header field that could vary between runs is
/// fixed (mtime 0, uid/gid 0, no user names, mode 0644), so the same members give the same bytes.
public final class TarWriter {
    private let handle: OpaquePointer
    public let path: String
    private var closed = false

    public init(path: String) throws {
        guard let h = archive_write_new() else { throw ArchiveError(code: -30, message: "out of memory", operation: "archive_write_new") }
        handle = h
        self.path = path
        try check(archive_write_set_format_ustar(h), h, "set ustar format")
        try check(archive_write_open_filename(h, path), h, "open \(path)")
    }

    /// Closing flushes the last blocks; its errors (a full disk) are only seen here, so callers close
    /// explicitly. deinit frees without reporting, for the error paths.
    deinit { archive_write_free(handle) }

    public func add(name: String, data: [UInt8]) throws {
        let entry = try ArchiveEntry()
        archive_entry_set_pathname(entry.handle, name)
        archive_entry_set_size(entry.handle, la_int64_t(data.count))
        archive_entry_set_filetype(entry.handle, UInt32(capfilt_archive_regular_file()))
        archive_entry_set_perm(entry.handle, 0o644)
        archive_entry_set_mtime(entry.handle, 0, 0)
        archive_entry_set_uid(entry.handle, 0)
        archive_entry_set_gid(entry.handle, 0)
        try check(archive_write_header(handle, entry.handle), handle, "header of \(name) in \(path)")
        if !data.isEmpty {
            let written = data.withUnsafeBytes { archive_write_data(handle, $0.baseAddress, $0.count) }
            if written < 0 { try check(Int32(written), handle, "data of \(name) in \(path)") }
            guard written == data.count else {
                throw ArchiveError(code: -30, message: "short write: \(written) of \(data.count) bytes", operation: "data of \(name) in \(path)")
            }
        }
        try check(archive_write_finish_entry(handle), handle, "finish \(name) in \(path)")
    }

    public func close() throws {
        guard !closed else { return }
        closed = true
        try check(archive_write_close(handle), handle, "close \(path)")
    }
}

/// Reads the regular-file members of an archive in order (any format and filter libarchive knows).
public final class ArchiveReader {
    public struct Member: Sendable, Equatable {
        public var name: String
        public var data: [UInt8]
        public var mode: UInt32
        public var mtime: Int
    }

    private let handle: OpaquePointer
    public let path: String

    public init(path: String) throws {
        guard let h = archive_read_new() else { throw ArchiveError(code: -30, message: "out of memory", operation: "archive_read_new") }
        handle = h
        self.path = path
        try check(archive_read_support_format_all(h), h, "support formats")
        try check(archive_read_support_filter_all(h), h, "support filters")
        try check(archive_read_open_filename(h, path, 64 * 1024), h, "open \(path)")
    }

    deinit { archive_read_free(handle) }

    /// The next member, or nil at the end. The entry libarchive hands back belongs to the reader.
    public func next() throws -> Member? {
        var entry: OpaquePointer? = nil
        let rc = archive_read_next_header(handle, &entry)
        if rc == ARCHIVE_EOF { return nil }
        try check(rc, handle, "read header in \(path)")
        guard let entry else { return nil }
        let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        let size = Int(archive_entry_size(entry))
        var data = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let n = data.withUnsafeMutableBytes { archive_read_data(handle, $0.baseAddress! + filled, size - filled) }
            if n < 0 { try check(Int32(n), handle, "read \(name) in \(path)") }
            if n == 0 { break }
            filled += n
        }
        guard filled == size else {
            throw ArchiveError(code: -30, message: "truncated member: \(filled) of \(size) bytes", operation: "read \(name) in \(path)")
        }
        return Member(name: name, data: data, mode: UInt32(archive_entry_perm(entry)), mtime: Int(archive_entry_mtime(entry)))
    }

    public func readAll() throws -> [Member] {
        var members: [Member] = []
        while let m = try next() { members.append(m) }
        return members
    }
}
