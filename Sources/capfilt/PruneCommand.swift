import ArgumentParser
import Foundation
import Pipeline
import Store

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete retired inputs (files gone from the corpus) and give their space back.",
        discussion: """
        Example:
          capfilt prune out/demo
        A run retires inputs whose files are gone: they leave every view at once, and their rows stay so
        that a file that comes back (a remounted disk) costs nothing. prune deletes them for good and
        vacuums each shard. After an array job it also applies the tasks' retirements and deletes rows
        that a newer row of the same bytes in another task's shard superseded, so that every shard's
        views (and export and serve, which read the shards) show what the catalog shows. It takes the
        output's lock, like a run.
        """
    )

    @Argument(help: "An output folder holding shard-*.sqlite files.") var output: String
    @Flag(help: "Wait for a run on the same output to finish instead of exiting.") var wait = false

    func run() throws {
        let dir = URL(fileURLWithPath: output)
        guard !ShardStore.shardFiles(in: dir).isEmpty else { throw ValidationError("\(output) holds no shard-*.sqlite files") }
        let lock = try RunLock(directory: dir, wait: wait)
        defer { withExtendedLifetime(lock) {} }
        let store = try ShardStore(directory: dir)
        try store.settle(dropSuperseded: true)
        let deleted = try store.prune()
        try store.close()
        print("\(output): \(deleted) retired input(s) deleted")
    }
}
