import ArgumentParser
import Foundation
import Pipeline

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List a pipeline's input folders once, for the tasks of an array job to share (--listing).",
        discussion: """
        Example:
          capfilt list pipelines/nightly.yaml --out /data/out/listing.jsonl
          capfilt run pipelines/nightly.yaml --shard-count 64 --listing /data/out/listing.jsonl

        Walking a huge tree is slow on a shared file system; with a listing, each task reads one file and
        keeps the paths it owns. Manifests are read by the tasks themselves. A listing is a snapshot: make
        it again before each submission.
        """
    )

    @Argument(help: "The pipeline YAML file.") var pipeline: String
    @Option(help: "Where to write the listing (default: OUT/listing.jsonl).") var out: String?

    func run() throws {
        let config = try PipelineConfig.load(path: pipeline)
        let url = out.map { URL(fileURLWithPath: $0) } ?? config.outputDirectory.appendingPathComponent("listing.jsonl")
        try OutputFolder.create(url.deletingLastPathComponent())
        let started = Date()
        let n = try Listing.write(config.inputs, to: url)
        print(String(format: "%@: %d files in %.2f s", url.path, n, Date().timeIntervalSince(started)))
    }
}
