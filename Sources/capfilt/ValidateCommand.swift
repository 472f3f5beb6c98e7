import ArgumentParser
import Foundation
import Pipeline

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a pipeline file without running it; errors are printed as file:line:col.",
        discussion: """
        Example:
          capfilt validate pipelines/demo.yaml
          capfilt validate pipelines/capfilt.yaml --load-models
        Prints the stages (models by fingerprint: no weights are loaded unless --load-models) and the
        inputs found; exit code 64 when the file, or a model it names, is wrong.
        """
    )

    @Argument(help: "The pipeline YAML file.") var pipeline: String
    @Flag(help: "Also list the inputs the file's folders and manifests name.") var listInputs = false
    @Flag(help: "Also load every model the file names, as a run does at its start.") var loadModels = false

    func run() throws {
        let config = try PipelineConfig.load(path: pipeline)
        print("\(pipeline): ok")
        print("  name     \(config.name)")
        print("  output   \(config.outputDirectory.path) (shards of ≤ \(config.budget.maxMediaRows) media rows, ≤ \(config.budget.maxBytes / 1_048_576) MiB)")
        print("  workers  \(config.workers)")
        let names = [config.decode.name == DecodeConfig.typeName ? config.decode.name : "\(config.decode.name) (decode)"]
            + config.stages.map { $0.name == type(of: $0).typeName ? $0.name : "\($0.name) (\(type(of: $0).typeName))" }
        print("  stages   \(names.joined(separator: " → ")) → write")
        for s in config.stageFingerprints { print("    \(s.name): \(s.fingerprint)") }
        if loadModels {
            let start = Date()
            let cache = try ModelCache(config.stages.flatMap(\.models))
            print("  models   \(cache.loaded.count) loaded in \(String(format: "%.2f", Date().timeIntervalSince(start))) s: \(cache.loaded.joined(separator: ", "))")
        }
        let (inputs, report) = try Ingest.survey(config.inputs)
        print("  inputs   \(inputs.count) files, \(inputs.reduce(0) { $0 + $1.webTexts.count }) web texts")
        if report.manifestRows > 0 {
            print("  manifest \(report.manifestRows) rows, \(report.rowsWithoutFile) naming no existing file")
        }
        if listInputs { for i in inputs { print("    \(i.path)\(i.webTexts.isEmpty ? "" : "  [\(i.webTexts.count) texts]")") } }
    }
}
