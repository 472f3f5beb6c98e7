import ArgumentParser
import Dispatch
import Foundation
import Logging
import Pipeline

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline file: new and changed inputs are processed, the rest is skipped.",
        discussion: """
        Example:
          capfilt run pipelines/demo.yaml
          capfilt run pipelines/demo.yaml --workers 2 --retry-failed --log-format json

        Each input is committed in one SQLite transaction: a killed run resumes where it stopped.
        One run at a time per output folder (a lock file); a second one exits with code 75.

        On a cluster, each task of a Slurm job array or Kubernetes Indexed Job runs
          capfilt run PIPELINE --shard-count N [--listing LISTING]
        and takes the inputs whose path hashes to its index; `capfilt catalog OUT` then joins every
        task's shards and reports tasks missing or unfinished (README: At scale).
        """
    )

    @Argument(help: "The pipeline YAML file.") var pipeline: String
    @Option(help: "Worker threads (default: the file's 'workers', else the number of cores).") var workers: Int?
    @Flag(help: "Redo every input, whatever the output already holds.") var force = false
    @Flag(help: "Redo inputs that ended as errors in an earlier run.") var retryFailed = false
    @Flag(help: "Wait for another run on the same output to finish instead of exiting.") var wait = false
    @Option(help: "Log format on stderr: text or json.") var logFormat: LogFormat = .text
    @Flag(help: "No progress bar or human summary; logs stay.") var quiet = false
    @Option(help: ArgumentHelp("This task's index in an array job (default: SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX).",
                               valueName: "I")) var shardIndex: Int?
    @Option(help: ArgumentHelp("The number of tasks the corpus is split into (default: CAPFILT_SHARD_COUNT, else SLURM_ARRAY_TASK_COUNT).",
                               valueName: "N")) var shardCount: Int?
    @Option(help: ArgumentHelp("What ties one submission's tasks together, for `capfilt catalog` (default: CAPFILT_RUN_GROUP, else SLURM_ARRAY_JOB_ID).",
                               valueName: "G")) var runGroup: String?
    @Option(help: ArgumentHelp("Node-local folder a task writes its open shard in (default: SLURM_TMPDIR, else TMPDIR, else /tmp).",
                               valueName: "DIR")) var scratch: String?
    @Option(help: ArgumentHelp("A task publishes its open shard into the output at least this often (seconds).", valueName: "S"))
    var publishEvery: Double = 900
    @Option(help: ArgumentHelp("A listing made by `capfilt list`, read instead of walking the input folders.", valueName: "FILE"))
    var listing: String?

    func run() throws {
        // JSON logs are for collectors (cron, systemd): every line is an object, and the run's info lines
        // (the last one with every figure) stand in for the summary a terminal gets.
        LogSetup.bootstrap(format: logFormat, level: logFormat == .json ? .info : .notice)
        let logger = Logger(label: "capfilt.run")
        let config = try PipelineConfig.load(path: pipeline)
        var options = RunOptions()
        options.workers = workers
        options.force = force
        options.retryFailed = retryFailed
        options.wait = wait
        options.capfiltVersion = Capfilt.version
        options.task = try ArrayTaskEnvironment.resolve(index: shardIndex, count: shardCount, group: runGroup, scratch: scratch,
                                                        publishEvery: publishEvery)
        options.listing = listing.map { URL(fileURLWithPath: $0) }
        let stop = options.stop
        let signals = Signals.install { stop.stop() }
        defer { withExtendedLifetime(signals) {} }
        let progress = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) == 1)
        options.progress = { progress.update(done: $0, total: $1) }
        let summary = try PipelineRunner(logger: logger, config: config, options: options).run()
        progress.finish()
        if !quiet && logFormat == .text { print(SummaryText.render(summary)) }
        if summary.outcome != .ok { throw CommandExit(outcome: summary.outcome) }
    }
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

/// SIGINT/SIGTERM ask the run to stop at the next commit boundary; a second signal ends it at once.
final class Signals {
    private var sources: [DispatchSourceSignal] = []
    /// Touched only by the handlers, which all run on `queue` (serial), so two signals cannot race.
    private var count = 0
    private let queue = DispatchQueue(label: "capfilt.signals")

    static func install(_ onStop: @escaping () -> Void) -> Signals {
        let s = Signals()
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: s.queue)
            src.setEventHandler { [weak s] in
                guard let s else { return }
                s.count += 1
                if s.count > 1 { exit(ExitCode.interrupted) }
                FileHandle.standardError.write(Data("\ncapfilt: stopping after the inputs in progress (signal again to stop now)\n".utf8))
                onStop()
            }
            src.resume()
            s.sources.append(src)
        }
        return s
    }
}
