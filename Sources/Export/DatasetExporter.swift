import Foundation
import Store

/// Exports a selection of pairs from all shards of an output folder, for training loaders:
/// - `.webDataset`: `capfilt-NNNNN.tar` files of `KEY.jpg` / `KEY.txt` / `KEY.json` members;
/// - `.imageFolder`: `images/NNNNN/KEY.jpg` files plus `metadata.jsonl`, the layout Hugging Face
///   `datasets` loads with `load_dataset("imagefolder", data_dir=DIR)`.
/// Keys, order and every byte depend only on the selection, so a rerun rewrites identical files.
public struct DatasetExporter {
    public enum Format: String, CaseIterable, Sendable { case webDataset = "webdataset", imageFolder = "jsonl" }

    public struct Result: Sendable, Equatable {
        public var samples: Int
        public var files: [String]
        public var removed: [String]
    }

    public enum Failure: Error, CustomStringConvertible {
        case notAnExport(String)
        public var description: String {
            switch self {
            case let .notAnExport(p): return "\(p) is not empty and holds no earlier capfilt export; refusing to write into it"
            }
        }
    }

    public var format: Format
    /// An SQL condition over `capfilt_result`; the default is the pipeline's own decision.
    public var condition: String
    /// Samples per tar file (WebDataset) or per image subfolder (image folder).
    public var shardSize: Int

    public init(format: Format, condition: String = "kept", shardSize: Int = 10_000) {
        self.format = format; self.condition = condition; self.shardSize = max(1, shardSize)
    }

    public func export(from reader: DatasetReader, to dir: URL, progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let fm = FileManager.default
        try checkDestination(dir)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let refs = try reader.select(where: condition)
        var samples = Samples(reader: reader, refs: refs)
        switch format {
        case .webDataset: return try writeTars(&samples, to: dir, total: refs.count, progress: progress)
        case .imageFolder: return try writeImageFolder(&samples, to: dir, total: refs.count, progress: progress)
        }
    }

    private func checkDestination(_ dir: URL) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let ours = names.filter { $0 == "metadata.jsonl" || $0 == "images" || Self.isTarName($0) || $0.hasSuffix(".tmp") }
        if !names.isEmpty && ours.isEmpty { throw Failure.notAnExport(dir.path) }
    }

    static func tarName(_ n: Int) -> String { String(format: "capfilt-%05d.tar", n) }
    static func isTarName(_ s: String) -> Bool { s.hasPrefix("capfilt-") && s.hasSuffix(".tar") }

    private func writeTars(_ samples: inout Samples, to dir: URL, total: Int, progress: ((Int, Int) -> Void)?) throws -> Result {
        var files: [String] = []
        var writer: TarWriter? = nil
        var tmp: URL? = nil
        var count = 0
        func finish() throws {
            guard let w = writer, let t = tmp else { return }
            try w.close()
            writer = nil
            let final = dir.appendingPathComponent(files.last!)
            _ = try? FileManager.default.removeItem(at: final)
            try FileManager.default.moveItem(at: t, to: final)
        }
        while let (key, detail) = try samples.next() {
            if count % shardSize == 0 {
                try finish()
                files.append(Self.tarName(files.count))
                // Written beside the final name and renamed when complete: a reader never sees half a tar.
                tmp = dir.appendingPathComponent(files.last! + ".tmp")
                writer = try TarWriter(path: tmp!.path)
            }
            let meta = SampleMetadata(key: key, detail: detail)
            try writer!.add(name: "\(key).\(SampleKey.fileExtension(format: detail.format))", data: detail.image)
            try writer!.add(name: "\(key).txt", data: Array(detail.text.utf8))
            try writer!.add(name: "\(key).json", data: try meta.json())
            count += 1
            if count % 1000 == 0 { progress?(count, total) }
        }
        try finish()
        let stale = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { Self.isTarName($0) && !files.contains($0) }.sorted()
        for name in stale { try FileManager.default.removeItem(at: dir.appendingPathComponent(name)) }
        progress?(count, total)
        return Result(samples: count, files: files, removed: stale)
    }

    private func writeImageFolder(_ samples: inout Samples, to dir: URL, total: Int, progress: ((Int, Int) -> Void)?) throws -> Result {
        let fm = FileManager.default
        var written = Set<String>()
        var lines = Data()
        var count = 0
        while let (key, detail) = try samples.next() {
            let folder = String(format: "images/%05d", count / shardSize)
            let name = "\(folder)/\(key).\(SampleKey.fileExtension(format: detail.format))"
            if count % shardSize == 0 { try fm.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true) }
            try Data(detail.image).write(to: dir.appendingPathComponent(name))
            written.insert(name)
            var meta = SampleMetadata(key: key, detail: detail)
            meta.file_name = name
            lines.append(contentsOf: try meta.json())
            lines.append(0x0A)
            count += 1
            if count % 1000 == 0 { progress?(count, total) }
        }
        try lines.write(to: dir.appendingPathComponent("metadata.jsonl"), options: .atomic)
        // Images a previous, larger selection left behind would otherwise be loaded without metadata.
        var removed: [String] = []
        let images = dir.appendingPathComponent("images")
        if let e = fm.enumerator(atPath: images.path) {
            for case let rel as String in e {
                let path = "images/\(rel)"
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: dir.appendingPathComponent(path).path, isDirectory: &isDir), !isDir.boolValue, !written.contains(path) {
                    removed.append(path)
                }
            }
        }
        for path in removed.sorted() { try fm.removeItem(at: dir.appendingPathComponent(path)) }
        for sub in ((try? fm.contentsOfDirectory(atPath: images.path)) ?? []) where (try? fm.contentsOfDirectory(atPath: images.appendingPathComponent(sub).path))?.isEmpty == true {
            try fm.removeItem(at: images.appendingPathComponent(sub))
        }
        progress?(count, total)
        return Result(samples: count, files: ["metadata.jsonl"] + written.sorted(), removed: removed.sorted())
    }
}

/// The selected pairs in order, each with its unique key. Two pairs with the same content key (the
/// same text twice on one frame) get `-2`, `-3`… in order, so keys stay unique and still deterministic.
struct Samples {
    let reader: DatasetReader
    let refs: [DatasetReader.PairRef]
    var position = 0
    var keys = Set<String>()

    init(reader: DatasetReader, refs: [DatasetReader.PairRef]) { self.reader = reader; self.refs = refs }

    mutating func next() throws -> (String, DatasetReader.PairDetail)? {
        while position < refs.count {
            let ref = refs[position]
            position += 1
            guard let d = try reader.detail(ref) else { continue }
            let base = SampleKey.make(contentHash: d.contentHash, frameIndex: d.frameIndex, origin: d.origin, text: d.text)
            var key = base
            var n = 1
            while keys.contains(key) { n += 1; key = "\(base)-\(n)" }
            keys.insert(key)
            return (key, d)
        }
        return nil
    }
}
