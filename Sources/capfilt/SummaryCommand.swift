import ArgumentParser
import Foundation
import Serve

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Write a one-page static HTML report of an output folder (counts, latest run, histograms, examples).",
        discussion: """
        Example:
          capfilt summary out/demo --html out/demo-report.html
        The page is self-contained (frames inlined, histograms as SVG): a nightly job can mail or publish it.
        Shards are opened read-only.
        """
    )

    @Argument(help: "An output folder holding shard-*.sqlite files.") var output: String
    @Option(help: "Where to write the HTML page.") var html: String
    @Option(help: "Examples on each side of the filter.") var examples = 8

    func run() throws {
        let page = try HTMLReport.render(directory: URL(fileURLWithPath: output), examples: examples)
        try Data(page.utf8).write(to: URL(fileURLWithPath: html), options: .atomic)
        print("wrote \(html) (\(page.utf8.count / 1024) KiB)")
    }
}
