import ArgumentParser
import Foundation
import Demo

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Score a demo run against the corpus's ground truth: filter precision/recall, caption accuracy.",
        discussion: """
        Example:
          capfilt report out/demo --truth out/demo-media/truth.jsonl
        The truth file comes from `capfilt synth`: which web texts are noise and what each file shows.
        """
    )

    @Argument(help: "The output folder of the run.") var output: String
    @Option(help: "truth.jsonl written by `capfilt synth`.") var truth: String

    func run() throws {
        let r = try DemoReport.make(output: URL(fileURLWithPath: output), truth: URL(fileURLWithPath: truth))
        print(r.text)
    }
}
