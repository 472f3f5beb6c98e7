import Foundation

/// A web text for an input, from a manifest row.
public struct WebText: Sendable, Equatable, Codable {
    public var text: String
    public var id: String?
    /// `manifest:<file name>`, so a text can be traced back to where it came from.
    public var manifest: String
    /// The span of the file the text describes (seconds; nil: from the start / to the end). A text with
    /// a span pairs only with frames sampled inside it (`TextItem.frames(times:)`).
    public var start: Double? = nil
    public var end: Double? = nil

    /// What identifies the text for the work keys (`Planner.digest`): a span enters only when given,
    /// so manifests without spans keep their keys.
    var identity: String {
        "\(manifest)\t\(id ?? "")\t\(text)" + (start == nil && end == nil ? "" : "\t\(start.map { "\($0)" } ?? "")-\(end.map { "\($0)" } ?? "")")
    }
}

/// One input file as ingest found it (before hashing).
public struct InputItem: Sendable {
    public var path: String
    /// What is stored as the source's uri: the path as given (relative paths resolved).
    public var uri: String
    public var externalID: String?
    public var webTexts: [WebText]
}

/// Where inputs come from, as written in the pipeline file.
public enum InputSpec: Sendable, Equatable {
    case folder(path: URL, include: [String], exclude: [String])
    case manifest(path: URL, format: ManifestFormat, pathField: String, textField: String, idField: String,
                  startField: String = "start", endField: String = "end")

    /// Extensions of the containers this FFmpeg demuxes and decodes (checked against its demuxer and
    /// decoder lists): MPEG-TS/PS, Ogg, ASF, FLV, MXF, DV, Y4M and still images besides the usual ones.
    public static let videoExtensions = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts", "m2ts", "mpg", "mpeg", "vob",
                                         "ogv", "3gp", "3g2", "wmv", "asf", "flv", "mxf", "dv", "y4m"]
    public static let imageExtensions = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
    public static let audioExtensions = ["mp3", "m4a", "wav", "flac", "mka", "ogg", "oga", "opus", "aac", "aif", "aiff",
                                         "wma", "amr", "caf"]
    public static let defaultInclude = (videoExtensions + imageExtensions + audioExtensions).map { "**/*.\($0)" }
}

extension InputSpec {
    var isFolder: Bool { if case .folder = self { return true }; return false }
}

public enum ManifestFormat: String, Sendable, CaseIterable {
    case jsonl, csv, tsv
}

public struct IngestError: Error, CustomStringConvertible {
    public let description: String
}

/// Lists inputs from folders and manifests. Rows naming the same file merge into one input with all
/// their web texts; the order is by path, so runs are reproducible.
public enum Ingest {
    /// What the manifests said, for `validate`.
    public struct Report: Sendable {
        public var manifestRows = 0
        /// Manifest rows naming a file that does not exist (they become error rows).
        public var rowsWithoutFile = 0
    }

    public static func collect(_ specs: [InputSpec]) throws -> [InputItem] {
        try survey(specs).inputs
    }

    /// `requireMatches` (validate) makes a folder input that lists no file an error: a wrong path or
    /// include pattern would otherwise give an empty corpus silently. A run allows it, since a corpus
    /// whose files were all deleted is a real state (its inputs are retired).
    public static func survey(_ specs: [InputSpec], requireMatches: Bool = false, listing: URL? = nil,
                              keep: (String) -> Bool = { _ in true }) throws -> (inputs: [InputItem], report: Report) {
        let sink = MemorySink()
        let report = try survey(specs, requireMatches: requireMatches, listing: listing, keep: keep, into: sink)
        return (sink.byPath.values.sorted { $0.path < $1.path }, report)
    }

    /// Streams every input into `sink`, which merges them by path. `listing` (written by `capfilt list`)
    /// stands in for walking the folders; `keep` picks the paths of one task of an array job. Nothing here
    /// holds the corpus in memory: folders are walked and manifests read one row at a time.
    public static func survey(_ specs: [InputSpec], requireMatches: Bool = false, listing: URL? = nil,
                              keep: (String) -> Bool = { _ in true }, into sink: InputSink) throws -> Report {
        var report = Report()
        if let listing {
            try Listing.read(listing, folders: specs.filter(\.isFolder)) { path in if keep(path) { try sink.file(path) } }
        }
        for spec in specs {
            switch spec {
            case let .folder(root, include, exclude):
                if listing != nil { continue }
                try forEachFile(root, include: include, exclude: exclude, requireMatches: requireMatches) { path in
                    if keep(path) { try sink.file(path) }
                }
            case let .manifest(url, format, pathField, textField, idField, startField, endField):
                try checkFields(url, format: format, pathField: pathField, textField: textField)
                let base = url.deletingLastPathComponent()
                try forEachRow(url, format: format) { line, row in
                    report.manifestRows += 1
                    guard let p = row[pathField], !p.isEmpty else {
                        throw IngestError(description: "\(url.path):\(line): row has no '\(pathField)' field (fields: \(row.keys.sorted().joined(separator: ", ")))")
                    }
                    let path = p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path
                    guard keep(path) else { return }
                    if !FileManager.default.fileExists(atPath: path) { report.rowsWithoutFile += 1 }
                    let id = row[idField].flatMap { $0.isEmpty ? nil : $0 }
                    var text: WebText? = nil
                    if let t = row[textField]?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty {
                        var w = WebText(text: t, id: id, manifest: "manifest:\(url.lastPathComponent)")
                        (w.start, w.end) = try span(row, startField: startField, endField: endField, at: "\(url.path):\(line)")
                        text = w
                    }
                    try sink.row(path, id: id, text: text)
                }
            }
        }
        return report
    }

    /// A row's optional time span: numbers of seconds, start before end.
    static func span(_ row: [String: String], startField: String, endField: String, at place: String) throws -> (Double?, Double?) {
        func seconds(_ field: String) throws -> Double? {
            guard let raw = row[field]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            guard let v = Double(raw), v.isFinite, v >= 0 else {
                throw IngestError(description: "\(place): '\(field)' must be a number of seconds ≥ 0; found '\(raw)'")
            }
            return v
        }
        let (start, end) = (try seconds(startField), try seconds(endField))
        if let start, let end, end <= start {
            throw IngestError(description: "\(place): '\(endField)' (\(end)) must be after '\(startField)' (\(start))")
        }
        return (start, end)
    }

    /// A manifest whose configured path or text field is missing from every row, or from most rows, is
    /// a misconfigured manifest, not a corpus without texts: stop, naming the fields the rows do have.
    /// Read before any row is used, so a wrong field stops the run before it starts.
    static func checkFields(_ url: URL, format: ManifestFormat, pathField: String, textField: String) throws {
        var seen: [String: Int] = [:]
        var rows = 0
        try forEachRow(url, format: format) { _, row in
            rows += 1
            for k in row.keys { seen[k, default: 0] += 1 }
        }
        guard rows > 0 else { return }
        let fields = seen.keys.sorted().joined(separator: ", ")
        for (field, key) in [(pathField, "path_field"), (textField, "text_field")] {
            let n = seen[field] ?? 0
            if n * 2 < rows {
                throw IngestError(description: "\(url.path): \(n == 0 ? "no row" : "only \(n) of \(rows) rows") has the field '\(field)' (\(key)); the rows have: \(fields)")
            }
        }
    }

    /// Calls `visit` with each file under `root` that the patterns take, in walk order.
    static func forEachFile(_ root: URL, include: [String], exclude: [String], requireMatches: Bool = false,
                            _ visit: (String) throws -> Void) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw IngestError(description: "input folder \(root.path) does not exist or is not a folder")
        }
        let inc = include.map(Glob.init), exc = exclude.map(Glob.init)
        var matched = 0
        var visited: Set<FileIdentity> = []
        try walk(root.path, relative: "", visited: &visited) { rel, full in
            if inc.contains(where: { $0.matches(rel) }) && !exc.contains(where: { $0.matches(rel) }) {
                matched += 1
                try visit(full)
            }
        }
        if matched == 0 && requireMatches {
            throw IngestError(description: "input folder \(root.path) has no file matching include \(include.joined(separator: ", "))"
                              + (exclude.isEmpty ? "" : " and not exclude \(exclude.joined(separator: ", "))"))
        }
    }

    /// A folder's device and inode, so a symlink loop is walked once.
    private struct FileIdentity: Hashable { let device: UInt64; let inode: UInt64 }

    /// Walks a folder depth-first, following symlinks to folders (a mount point linked in, say) but
    /// entering each real folder once, so a link back up the tree ends instead of looping.
    private static func walk(_ folder: String, relative: String, visited: inout Set<FileIdentity>,
                             _ visit: (String, String) throws -> Void) throws {
        var st = stat()
        guard stat(folder, &st) == 0, visited.insert(FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))).inserted else { return }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw IngestError(description: "cannot list the input folder \(folder): \(error.localizedDescription)")
        }
        for name in names.sorted() {
            let full = folder + "/" + name, rel = relative.isEmpty ? name : relative + "/" + name
            var target = stat()
            // stat follows links; a dangling link fails and is kept as a file, so it becomes an error row.
            if stat(full, &target) == 0 && (target.st_mode & S_IFMT) == S_IFDIR {
                try walk(full, relative: rel, visited: &visited, visit)
            } else {
                try visit(rel, full)
            }
        }
    }

    /// Each row as field → value, with the line it starts on, read one line at a time (a CSV field in
    /// quotes may span lines).
    static func forEachRow(_ url: URL, format: ManifestFormat, _ body: (Int, [String: String]) throws -> Void) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue, let file = fopen(url.path, "r") else {
            throw IngestError(description: "cannot read the manifest \(url.path): no such file")
        }
        defer { fclose(file) }
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        var number = 0
        func nextLine() throws -> String? {
            let n = getline(&buffer, &capacity, file)
            guard n > 0, let buffer else { return nil }
            number += 1
            guard let line = String(validatingCString: buffer) else {
                throw IngestError(description: "cannot read the manifest \(url.path): line \(number) is not UTF-8 text")
            }
            return line
        }
        switch format {
        case .jsonl:
            while let line = try nextLine() {
                let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty { continue }
                guard let obj = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                    throw IngestError(description: "\(url.path):\(number): not a JSON object")
                }
                var row: [String: String] = [:]
                for (k, v) in obj {
                    if let s = v as? String { row[k] = s } else if let n = v as? NSNumber { row[k] = n.stringValue }
                }
                try body(number, row)
            }
        case .csv, .tsv:
            let separator: Character = format == .csv ? "," : "\t"
            var header: [String]? = nil
            while var record = try nextLine() {
                let start = number
                // An odd number of quotes so far: a quoted field goes on to the next line.
                var quotes = record.utf8.count { $0 == UInt8(ascii: "\"") }
                while quotes % 2 == 1, let more = try nextLine() {
                    record += more
                    quotes += more.utf8.count { $0 == UInt8(ascii: "\"") }
                }
                guard let fields = DelimitedText.parse(record, separator: separator).first else { continue }
                if fields.count == 1 && fields[0].isEmpty { continue }
                guard let names = header else { header = fields; continue }
                var row: [String: String] = [:]
                for (k, v) in zip(names, fields) { row[k] = v }
                try body(start, row)
            }
        }
    }
}

/// Where a survey puts its inputs: files from folders and rows from manifests, merged by path.
public protocol InputSink: AnyObject {
    func file(_ path: String) throws
    func row(_ path: String, id: String?, text: WebText?) throws
}

extension InputItem {
    /// A manifest row for this file: the first id names the input; each distinct text is kept once.
    mutating func merge(id: String?, text: WebText?) {
        if externalID == nil { externalID = id }
        if let text, !webTexts.contains(text) { webTexts.append(text) }
    }
}

/// The survey held in memory, for `validate` and the tests.
final class MemorySink: InputSink {
    var byPath: [String: InputItem] = [:]
    func file(_ path: String) { if byPath[path] == nil { byPath[path] = InputItem(path: path, uri: path, externalID: nil, webTexts: []) } }
    func row(_ path: String, id: String?, text: WebText?) {
        byPath[path, default: InputItem(path: path, uri: path, externalID: nil, webTexts: [])].merge(id: id, text: text)
    }
}

/// RFC 4180 fields: quotes, doubled quotes, separators and newlines inside quotes.
enum DelimitedText {
    static func parse(_ text: String, separator: Character) -> [[String]] {
        var records: [[String]] = []
        var field = "", record: [String] = []
        var inQuotes = false
        var chars = text.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == separator {
                record.append(field); field = ""
            } else if c == "\n" || c == "\r\n" {
                record.append(field); field = ""
                records.append(record); record = []
            } else if c != "\r" {
                field.append(c)
            }
        }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        return records
    }
}

/// Shell-style globs on relative paths: `*` and `?` stay within a path segment, `**/` spans folders.
struct Glob {
    let regex: NSRegularExpression
    /// `**/*.ext` (every default include) is a suffix test: no regular expression for each file.
    let suffix: [UInt8]?

    init(_ pattern: String) {
        let ext = pattern.hasPrefix("**/*.") ? pattern.dropFirst(5) : ""
        suffix = !ext.isEmpty && !ext.contains(where: { "*?[]/{}".contains($0) }) ? Array(("." + ext.lowercased()).utf8) : nil
        var re = "^"
        var chars = Array(pattern)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "*" {
                if i + 1 < chars.count && chars[i + 1] == "*" {
                    if i + 2 < chars.count && chars[i + 2] == "/" { re += "(?:.*/)?"; i += 3; continue }
                    re += ".*"; i += 2; continue
                }
                re += "[^/]*"
            } else if c == "?" {
                re += "[^/]"
            } else {
                re += NSRegularExpression.escapedPattern(for: String(c))
            }
            i += 1
        }
        chars = []
        regex = try! NSRegularExpression(pattern: re + "$", options: [.caseInsensitive])
    }

    func matches(_ path: String) -> Bool {
        if let suffix {
            let bytes = path.utf8
            guard bytes.count >= suffix.count else { return false }
            // ASCII case folding, as the regular expression's case-insensitive match does for extensions.
            return zip(bytes.suffix(suffix.count), suffix).allSatisfy { ($0 >= 65 && $0 <= 90 ? $0 + 32 : $0) == $1 }
        }
        return regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }
}
