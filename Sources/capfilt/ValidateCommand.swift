import ArgumentParser
import Foundation
import Pipeline

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a pipeline file without running it; errors are printed as file:line:col.",
        discussion: """
        Example:
          capfilt validate pipelines/decode.yaml
        Prints the stages and the inputs found; exit code 64 when the file is wrong.
        """
    )

    @Argument(help: "The pipeline YAML file.") var pipeline: String
    @Flag(help: "Also list the inputs the file's folders and manifests name.") var listInputs = false

    func run() throws {
        let spec = try PipelineSpec.load(path: pipeline)
        print("\(pipeline): ok")
        print("  name     \(spec.name)")
        print("  output   \(spec.outputDirectory.path) (shards of ≤ \(spec.budget.maxMediaRows) media rows, ≤ \(spec.budget.maxBytes / 1_048_576) MiB)")
        print("  workers  \(spec.workers)")
        print("  stages   \(spec.stages.map { $0.name == type(of: $0).typeName ? $0.name : "\($0.name) (\(type(of: $0).typeName))" }.joined(separator: " → ")) → write")
        for s in spec.stages { print("    \(s.name): \(s.fingerprint)") }
        let inputs = try Ingest.collect(spec.inputs)
        print("  inputs   \(inputs.count) files, \(inputs.reduce(0) { $0 + $1.webTexts.count }) web texts")
        if listInputs { for i in inputs { print("    \(i.path)\(i.webTexts.isEmpty ? "" : "  [\(i.webTexts.count) texts]")") } }
    }
}
