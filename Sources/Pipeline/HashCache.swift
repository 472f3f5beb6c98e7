import Foundation
import Store

/// Remembers content hashes by (path, size, mtime, inode) in `OUT/hash-cache.sqlite`, so a nightly run
/// over a large, mostly unchanged folder reads only the files that are new or changed. It is only a
/// memo: losing it (or a crash while writing it) costs rehashing, never a wrong row.
final class HashCache: @unchecked Sendable {
    // Hashing threads share one cache: `select`, `others`, `fresh` and `db` are used under `lock` only.
    struct Key: Hashable { let path: String; let size: Int64; let mtimeNS: Int64; let inode: UInt64 }

    private let db: Database
    private let select: Statement
    /// Other tasks' caches, read-only: when the split changes between nights, a file another task
    /// hashed is not read again.
    private var others: [(Database, Statement)] = []
    private var fresh: [(Key, String)] = []
    private let lock = NSLock()

    init(directory: URL, name: String = "hash-cache.sqlite", wal: Bool = true, readOthers: Bool = false) throws {
        db = try Database(path: directory.appendingPathComponent(name).path)
        try db.execute("""
            PRAGMA journal_mode=\(wal ? "WAL" : "DELETE");
            CREATE TABLE IF NOT EXISTS hashes (path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                inode INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (path)) WITHOUT ROWID;
            """)
        // Looked up one file at a time (the primary key), not loaded: the cache of a corpus of millions
        // of files stays on disk.
        select = try db.prepare("SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ?")
        guard readOthers else { return }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for other in names.sorted() where other != name && other.hasPrefix("hash-cache") && other.hasSuffix(".sqlite") {
            guard let odb = try? Database(path: directory.appendingPathComponent(other).path, readOnly: true),
                  let ostmt = try? odb.prepare("SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ?") else { continue }
            others.append((odb, ostmt))
        }
    }

    static func key(_ path: String) -> Key? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Key(path: path, size: Int64(st.st_size), mtimeNS: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                   inode: UInt64(st.st_ino))
    }

    func lookup(_ key: Key) -> String? {
        lock.lock(); defer { lock.unlock() }
        var hash: String? = nil
        if (try? select.bind([key.path, key.size, key.mtimeNS, Int64(bitPattern: key.inode)])) != nil, (try? select.step()) == true {
            hash = select.row().first?.text
        }
        try? select.bind([])
        if hash == nil {
            for (_, other) in others {
                guard (try? other.bind([key.path, key.size, key.mtimeNS, Int64(bitPattern: key.inode)])) != nil, (try? other.step()) == true else { continue }
                hash = other.row().first?.text
                try? other.bind([])
                // Kept in this task's own cache, so the next night needs no other file.
                if let hash { fresh.append((key, hash)) }
                break
            }
        }
        return hash
    }

    func remember(_ key: Key, _ hash: String) {
        lock.lock(); fresh.append((key, hash)); lock.unlock()
    }

    func save() throws {
        lock.lock(); defer { lock.unlock() }
        guard !fresh.isEmpty else { return }
        try db.transaction {
            let s = try db.prepare("INSERT OR REPLACE INTO hashes(path, size, mtime_ns, inode, sha256) VALUES (?, ?, ?, ?, ?)")
            for (k, h) in fresh {
                try s.bind([k.path, k.size, k.mtimeNS, Int64(bitPattern: k.inode), h])
                try s.stepToEnd()
            }
        }
        fresh = []
    }
}
