import Foundation
import Store

/// The run's row in the `runs` table of every shard it writes: opened as `running` at the start and
/// always closed with the outcome, its exit code and the summary, whatever ended the run.
struct Ledger {
    let store: ShardStore
    let record: RunRecord

    static func begin(_ store: ShardStore, config: PipelineConfig, runID: String, version: String, started: Date,
                      task: ArrayTask? = nil) throws -> Ledger {
        var record = RunRecord(id: runID, pipelineName: config.name, pipelineHash: config.hash, pipelineYAML: config.yaml,
                               capfiltVersion: version, host: ProcessInfo.processInfo.hostName,
                               startedAt: ISO8601DateFormatter().string(from: started))
        record.runGroup = task?.group; record.taskIndex = task?.index; record.taskCount = task?.count
        try store.beginRun(record)
        return Ledger(store: store, record: record)
    }

    /// Records the end; an error that stopped the run decides its exit code. A storage failure can make this fail too; the next run then finds the row still
    /// `running` and marks it `interrupted`.
    func finish(_ summary: RunSummary, error: Error? = nil) {
        let code = error.map { ExitCode.for(error: $0) } ?? ExitCode.for(summary.outcome)
        try? store.finishRun(status: summary.outcome.rawValue, exitCode: code, stats: summary.json)
    }
}

/// Exit codes, documented in README: the one table that maps a run's outcome or an error to one.
public enum ExitCode {
    public static let success: Int32 = 0
    public static let finishedWithErrors: Int32 = 1
    public static let fatal: Int32 = 2
    public static let usage: Int32 = 64
    public static let locked: Int32 = 75
    public static let interrupted: Int32 = 130

    public static func `for`(_ outcome: RunSummary.Outcome) -> Int32 {
        switch outcome {
        case .ok: return success
        case .errors: return finishedWithErrors
        case .failed: return fatal
        case .interrupted: return interrupted
        }
    }

    /// An error that ended a command: a pipeline file (or a model, folder or manifest it names) that
    /// cannot be used is a usage error, a locked output is 75, anything else is fatal.
    public static func `for`(error: Error) -> Int32 {
        switch error {
        case is SpecError, is IngestError, is OutputFolderError, is ArrayTaskEnvironment.Error: return usage
        case is RunLock.Busy: return locked
        default: return fatal
        }
    }
}
