import ArgumentParser
import Foundation
import Pipeline
import Tensor

/// The command tree. Commands throw; exit codes come from one table, `ExitCode` (Main only adds
/// ArgumentParser's own errors).
struct Capfilt: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "capfilt",
        abstract: "Build curated image/video–text datasets: decode, caption, filter, score, write SQLite shards.",
        discussion: """
        Exit codes: 0 success, 1 finished with errors (some inputs failed; see `capfilt inspect`),
        2 fatal (the run could not go on, e.g. disk full), 64 usage (bad arguments or pipeline file),
        75 output locked by another run, 130 interrupted (SIGINT/SIGTERM; rerun to resume).
        """,
        version: version,
        subcommands: [RunCommand.self, ValidateCommand.self, InspectCommand.self, FramesCommand.self, SynthCommand.self,
                      ReportCommand.self, PruneCommand.self, CaptionCommand.self, EmbedCommand.self, ScoreCommand.self, MatchCommand.self, TokenizeCommand.self,
                      ExportCommand.self, ServeCommand.self, SummaryCommand.self, ListCommand.self, CatalogCommand.self,
                      SynthShardsCommand.self]
    )
}

/// A run that ended otherwise than ok (finished with errors, interrupted, failed): its exit code
/// comes from the outcome, through the same table the ledger uses.
struct CommandExit: Error {
    let outcome: RunSummary.Outcome
}

@main
enum Main {
    static func main() {
        Heap.keepFreedBlocks()
        let command: ParsableCommand
        do {
            command = try Capfilt.parseAsRoot()
        } catch {
            // Help, version and argument errors: ArgumentParser prints and picks 0 or 64.
            Capfilt.exit(withError: error)
        }
        do {
            var c = command
            try c.run()
            exit(0)
        } catch let e as CommandExit {
            exit(ExitCode.for(e.outcome))
        } catch {
            // Help, version and validation errors surface here too: ArgumentParser prints those itself.
            if isArgumentParserOutcome(error) { Capfilt.exit(withError: error) }
            let code = exitCode(for: error)
            if LogSetup.format == .json {
                JSONLogHandler.write(["ts": ISO8601DateFormatter().string(from: Date()), "level": "error", "logger": "capfilt",
                                      "msg": "\(error)", "exit_code": Int(code)])
            } else {
                FileHandle.standardError.write(Data("capfilt: error: \(error)\n".utf8))
            }
            exit(code)
        }
    }

    static func isArgumentParserOutcome(_ error: Error) -> Bool {
        if error is SpecError || error is RunLock.Busy { return false }
        if error is CleanExit || error is ValidationError { return true }
        let code = Capfilt.exitCode(for: error)
        return code == .success || code == .validationFailure
    }

    static func exitCode(for error: Error) -> Int32 {
        error is ValidationError ? ExitCode.usage : ExitCode.for(error: error)
    }
}

/// `--precision fp32|bf16` on the model commands.
extension Precision: ExpressibleByArgument {}
