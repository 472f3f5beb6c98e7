import Foundation

/// A listing of the pipeline's input folders, made once (`capfilt list`) so that the tasks of an array
/// job do not each walk a huge tree: each reads the listing line by line and keeps only its own paths.
///
/// JSON lines: a header naming the folders (and their include/exclude patterns) it lists, then one
/// `{"path": …}` per file. A listing made for other folders is refused rather than used.
public enum Listing {
    struct Header: Codable, Equatable {
        struct Folder: Codable, Equatable {
            var path: String
            var include: [String]
            var exclude: [String]
        }
        var capfilt_listing: Int
        var folders: [Folder]
    }

    static func header(for specs: [InputSpec]) -> Header {
        Header(capfilt_listing: 1, folders: specs.compactMap {
            guard case let .folder(root, include, exclude) = $0 else { return nil }
            return Header.Folder(path: root.path, include: include, exclude: exclude)
        })
    }

    /// Walks the folders and writes the listing (under a temporary name, then renamed, so a task never
    /// reads half a listing). Returns the number of files listed.
    @discardableResult
    public static func write(_ specs: [InputSpec], to url: URL) throws -> Int {
        let partial = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        guard FileManager.default.createFile(atPath: partial.path, contents: nil), let out = FileHandle(forWritingAtPath: partial.path) else {
            throw IngestError(description: "cannot write the listing \(partial.path): \(String(cString: strerror(errno)))")
        }
        defer { try? out.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var buffer = Data()
        buffer.append(try encoder.encode(header(for: specs)))
        buffer.append(0x0A)
        var count = 0
        // Streamed as walked: a path under two overlapping folders is listed twice and merged by the reader.
        for case let .folder(root, include, exclude) in specs {
            try Ingest.forEachFile(root, include: include, exclude: exclude) { path in
                buffer.append(try encoder.encode(["path": path]))
                buffer.append(0x0A)
                count += 1
                if buffer.count > 1 << 20 { try out.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
            }
        }
        try out.write(contentsOf: buffer)
        try out.synchronize()
        guard rename(partial.path, url.path) == 0 else {
            throw IngestError(description: "cannot rename the listing to \(url.path): \(String(cString: strerror(errno)))")
        }
        return count
    }

    /// Calls `visit` with every path of the listing, reading one line at a time.
    static func read(_ url: URL, folders: [InputSpec], _ visit: (String) throws -> Void) throws {
        guard let file = fopen(url.path, "r") else {
            throw IngestError(description: "cannot read the listing \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        var number = 0
        let decoder = JSONDecoder()
        while getline(&line, &capacity, file) > 0, let line {
            number += 1
            let text = String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            if number == 1 {
                guard let h = try? decoder.decode(Header.self, from: Data(text.utf8)) else {
                    throw IngestError(description: "\(url.path):1: not a capfilt listing (make one with `capfilt list PIPELINE`)")
                }
                guard h == header(for: folders) else {
                    throw IngestError(description: "\(url.path) lists \(h.folders.map(\.path).joined(separator: ", ")) with other patterns or folders "
                                      + "than the pipeline's; make it again with `capfilt list` for this pipeline")
                }
                continue
            }
            guard let row = try? decoder.decode([String: String].self, from: Data(text.utf8)), let path = row["path"] else {
                throw IngestError(description: "\(url.path):\(number): expected {\"path\": …}")
            }
            try visit(path)
        }
    }
}
