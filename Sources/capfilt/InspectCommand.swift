import ArgumentParser
import Foundation
import Store

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise an output folder: sources by status, texts by origin, pairs kept, errors, runs.",
        discussion: """
        Example:
          capfilt inspect out/demo
          capfilt inspect out/demo --runs 10
        The shards are opened read-only; the same numbers come from `sqlite3 shard-00000.sqlite`.
        """
    )

    @Argument(help: "An output folder holding shard-*.sqlite files.") var output: String?
    @Option(help: "How many of the latest runs to list.") var runs = 5
    @Flag(help: "Print the shard schema (schemas/shard.sql) instead.") var schema = false

    func validate() throws {
        if output == nil && !schema { throw ValidationError("give an output folder, or --schema") }
    }

    func run() throws {
        if schema { print(ShardSchema.sql); return }
        guard let output else { return }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("\(output) is not a folder; give the output.dir of a pipeline that has run")
        }
        guard !ShardStore.shardFiles(in: URL(fileURLWithPath: output)).isEmpty else {
            throw ValidationError("\(output) holds no shard-*.sqlite files: no run has written there yet (capfilt run PIPELINE.yaml), "
                                  + "or it is not a capfilt output folder")
        }
        let s = try DatasetSummary.read(directory: URL(fileURLWithPath: output))
        func fmt(_ d: [String: Int]) -> String { d.isEmpty ? "none" : d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
        print("\(output): \(s.shards.count) shard(s)")
        for sh in s.shards {
            print(String(format: "  %@  %8.2f MiB  %6d sources  %7d media", sh.name, Double(sh.bytes) / 1_048_576, sh.sources, sh.media))
        }
        print("sources   \(fmt(s.sourcesByStatus))   [\(fmt(s.sourcesByKind))]")
        print("media     \(fmt(s.mediaByKind))")
        print("texts     \(fmt(s.textsByOrigin))")
        print("pairs     \(s.pairs) candidate, \(s.pairsKept) kept")
        if !s.scoresByMetric.isEmpty { print("scores    \(fmt(s.scoresByMetric))") }
        if !s.errors.isEmpty {
            print("errors (by message):")
            for e in s.errors.prefix(10) { print("  \(e.count) × \(e.message)\n      e.g. \(e.example)") }
        }
        print("runs (latest \(min(runs, s.runs.count)) of \(s.runs.count)):")
        for r in s.runs.suffix(runs) {
            print("  \(r.startedAt)  \(r.status.padding(toLength: 11, withPad: " ", startingAt: 0)) exit \(r.exitCode.map(String.init) ?? "-")  \(r.pipeline)  \(r.id)")
            if let st = r.stats { print("      \(st)") }
        }
    }
}
