import ArgumentParser
import Export
import Foundation
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export pairs from all shards of an output folder as WebDataset tars or a JSONL image folder.",
        discussion: """
        Examples:
          capfilt export out/demo --to webdataset out/wds
          capfilt export out/demo --to jsonl out/hf --where "itm >= 0.7 AND clip >= 0.28"
        webdataset: capfilt-NNNNN.tar files of KEY.jpg / KEY.txt / KEY.json (scores, origin, source, time, models).
        jsonl: images/NNNNN/KEY.jpg plus metadata.jsonl, for datasets.load_dataset("imagefolder", data_dir=DIR).
        --where is an SQL condition over the capfilt_result view (columns: text_id, media_id, source_id, uri,
        frame_idx, t, origin, text, producer, itm, itc, clip, kept); it replaces the default `kept`, so a
        set can be re-thresholded without recomputing. It is your own SQL on your own data: it runs as
        written, on read-only connections (the shards are opened read-only and query_only).
        Keys come from content (source hash, frame index, text), order from the shards; rerunning writes
        the same bytes for the same selection, and removes files an earlier, larger export left.
        """
    )

    @Argument(help: "An output folder holding shard-*.sqlite files.") var output: String
    @Option(name: .customLong("to"), help: "webdataset or jsonl.") var format: String
    @Argument(help: "Folder to write the export into (created; must be empty or an earlier export).") var destination: String
    @Option(name: .customLong("where"), help: "SQL condition over capfilt_result (default: kept).") var condition = "kept"
    @Option(help: "Samples per tar file (webdataset) or per image subfolder (jsonl).") var shardSize = 10_000

    func validate() throws {
        guard DatasetExporter.Format(rawValue: format) != nil else { throw ValidationError("--to takes webdataset or jsonl") }
        guard shardSize >= 1 else { throw ValidationError("--shard-size must be at least 1") }
    }

    func run() throws {
        let reader = try DatasetReader(directory: URL(fileURLWithPath: output))
        let exporter = DatasetExporter(format: DatasetExporter.Format(rawValue: format)!, condition: condition, shardSize: shardSize)
        let start = Date()
        let result = try exporter.export(from: reader, to: URL(fileURLWithPath: destination)) { done, total in
            FileHandle.standardError.write(Data("\rexported \(done) of \(total)".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let kind = exporter.format == .webDataset ? "\(result.files.count) tar file(s)" : "metadata.jsonl and \(result.files.count - 1) image(s)"
        print(String(format: "%d samples in %@ under %@ (%.1f s)", result.samples, kind, destination, Date().timeIntervalSince(start)))
        if !result.removed.isEmpty { print("removed \(result.removed.count) file(s) left by an earlier export") }
    }
}
