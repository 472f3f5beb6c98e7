import ArgumentParser
import Foundation
import Pipeline
import Store

struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Join every shard of an output (every task, every night) into OUT/catalog.sqlite and check it.",
        discussion: """
        Example:
          capfilt catalog /data/out
          sqlite3 /data/out/catalog.sqlite "SELECT origin, COUNT(*) FROM curated_pairs GROUP BY origin"

        The catalog has the shards' tables and views (pairs, curated_pairs, capfilt_result, errors,
        live_sources, runs); frames' bytes stay in the shards (sources.shard, media.shard_media_id) unless
        --images copies them. The report checks the latest run group (an array job's submission): every
        task finished, no input done twice, and prints the indices to resubmit as a Slurm --array=
        expression. Exit code 1 when something needs resubmitting or looks wrong, else 0.
        """
    )

    @Argument(help: "An output folder holding shard-*.sqlite files.") var output: String
    @Option(help: "The run group to check (default: the latest one).") var group: String?
    @Flag(help: "Copy the frames' bytes into the catalog too.") var images = false

    func run() throws {
        let dir = URL(fileURLWithPath: output)
        guard !ShardStore.shardFiles(in: dir).isEmpty else { throw ValidationError("\(output) holds no shard-*.sqlite files") }
        let started = Date()
        let r = try Catalog.build(directory: dir, group: group, images: images)
        print(String(format: "%@: %d shards, %d runs, %d inputs, %d pairs (%d superseded rows left out) in %.2f s",
                     dir.appendingPathComponent(Catalog.fileName).path, r.shards, r.runs, r.sources, r.pairs, r.superseded,
                     Date().timeIntervalSince(started)))
        print("failed inputs: \(r.failures)")
        for f in r.failureSamples { print("  \(f.uri): \(f.error)") }
        guard let group = r.group, let count = r.taskCount else {
            print("no array tasks recorded (single-process runs only)")
            return
        }
        let finished = r.tasks.filter { $0.status == .finished }.count
        print("run group \(group): \(finished) of \(count) tasks finished")
        for t in r.tasks where t.status != .finished {
            print("  task \(t.index): \(t.status.rawValue)\(t.runs.isEmpty ? "" : " (runs: \(t.runs.joined(separator: ", ")))")")
        }
        if !r.otherCounts.isEmpty {
            print("  runs of this group also used --shard-count \(r.otherCounts.map(String.init).joined(separator: ", ")): their inputs overlap")
        }
        if r.doneTwice.isEmpty {
            print("every input done once")
        } else {
            print("inputs done by more than one run of the group: \(r.doneTwice.count)")
            for d in r.doneTwice.prefix(10) { print("  \(d.uri) (\(d.runs) runs)") }
        }
        if !r.toResubmit.isEmpty {
            print("resubmit: --array=\(Catalog.arrayExpression(r.toResubmit))")
        }
        if !r.consistent { throw CommandExit(outcome: .errors) }
    }
}
