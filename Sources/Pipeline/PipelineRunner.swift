import Foundation
import Logging
import Media
import Store
import Tensor

public struct RunOptions: Sendable {
    public var workers: Int?
    /// Redo every input, whatever the output holds.
    public var force = false
    /// Redo inputs that ended as errors last time.
    public var retryFailed = false
    public var wait = false
    public var capfiltVersion = "dev"
    public var stop = StopFlag()
    /// SQLite's page limit for the shards, to test running out of space without filling a disk.
    public var maxPageCount: Int? = nil
    /// OpenBLAS threads for model stages (default: cores / workers).
    public var blasThreads: Int? = nil
    /// Called after each input with (done, total).
    public var progress: (@Sendable (Int, Int) -> Void)? = nil
    /// A task of an array job: plans its own inputs, writes its own shards (via scratch) and retires nothing.
    public var task: ArrayTask? = nil
    /// `capfilt list`'s output, read instead of walking the input folders.
    public var listing: URL? = nil
    public init() {}
}

/// Runs a pipeline: takes the output's lock, loads the models once, opens the ledger, plans (what is
/// new or changed), executes on worker threads, and closes the ledger whatever happened.
public struct PipelineRunner {
    public let config: PipelineConfig
    public let options: RunOptions
    let logger: Logger

    public init(logger: Logger = Logger(label: "capfilt"), config: PipelineConfig, options: RunOptions = RunOptions()) {
        self.config = config
        self.options = options
        self.logger = logger
    }

    public func run() throws -> RunSummary {
        let started = Date()
        let runID = UUID().uuidString.lowercased()
        let locks = try takeLocks()
        defer { withExtendedLifetime(locks) {} }
        let store = try ShardStore(directory: config.outputDirectory, budget: config.budget, pageLimit: options.maxPageCount,
                                   task: options.task?.shards(runID: runID))
        // Before the ledger: a model that cannot load is an error in the pipeline file, not a run.
        let loadStarted = Date()
        let models = try ModelCache(config.stages.flatMap(\.models))
        let loadSeconds = Date().timeIntervalSince(loadStarted)
        var summary = RunSummary(runID: runID, outcome: .ok)
        summary.outputDirectory = config.outputDirectory.path
        summary.modelsLoaded = models.loaded
        summary.modelLoadSeconds = loadSeconds
        summary.task = options.task
        let ledger = try Ledger.begin(store, config: config, runID: summary.runID, version: options.capfiltVersion, started: started, task: options.task)
        var startLog: Logger.Metadata = ["run": "\(summary.runID)", "pipeline": "\(config.name)", "output": "\(config.outputDirectory.path)"]
        if let t = options.task { startLog["task"] = "\(t.index) of \(t.count)"; startLog["scratch"] = "\(store.task?.scratch.path ?? "")" }
        logger.info("run started", metadata: startLog)
        do {
            try execute(store: store, models: models, summary: &summary)
        } catch {
            summary.outcome = .failed
            summary.fatal = "\(error)"
            try close(ledger, store, &summary, started: started, error: error)
            throw error
        }
        try close(ledger, store, &summary, started: started, error: nil)
        return summary
    }

    /// One run per output folder; the tasks of an array job share the output's lock and each holds its own.
    private func takeLocks() throws -> [RunLock] {
        guard let task = options.task else { return [try RunLock(directory: config.outputDirectory, wait: options.wait)] }
        return [try RunLock(directory: config.outputDirectory, wait: options.wait, shared: true),
                try RunLock(directory: config.outputDirectory, wait: options.wait, name: task.lockName)]
    }

    private func execute(store: ShardStore, models: ModelCache, summary: inout RunSummary) throws {
        let workers = max(1, options.workers ?? config.workers)
        // Workers × BLAS threads stays within the cores: no oversubscription on a small machine.
        BLAS.setThreads(options.blasThreads ?? max(1, Cores.available / workers))
        let planner = Planner(config: config, force: options.force, retryFailed: options.retryFailed, workers: workers,
                              task: options.task, listing: options.listing)
        // What array tasks left (retirements, superseded rows) is applied first, holding the lock alone.
        if options.task == nil { try store.settle(dropSuperseded: false) }
        let (plan, spool) = try planner.plan(store: store)
        summary.take(plan)
        logger.info("inputs", metadata: ["seen": .stringConvertible(plan.inputsSeen), "unique": .stringConvertible(plan.unique),
                                         "to_process": .stringConvertible(plan.toProcess), "reusing_frames": .stringConvertible(plan.reused),
                                         "skipped": .stringConvertible(plan.skipped)])
        let tally = RunTally(stages: config.stageFingerprints.map(\.name))
        let executor = Executor(reader: MediaReader(config: config.decode, pictures: config.needsPictures),
                                stages: try config.stages.map { try $0.makeStage(models: models) },
                                store: StoreAccess(store), tally: tally, stop: options.stop, logger: logger, progress: options.progress)
        executor.run(WorkQueue(spool: spool, planner: planner, total: plan.toProcess), workers: workers)
        tally.fill(&summary)
        if summary.fatal == nil, let task = options.task {
            // A task judges only the names it owns, and records the retirements in its own shard.
            let gone = try spool.vanished(ownedBy: task)
            try store.recordRetirements(gone, run: summary.runID)
            summary.retired += gone.count
        } else if summary.fatal == nil {
            for (shard, hashes) in try spool.vanished() {
                try store.retire(hashes: hashes, shard: shard, run: summary.runID)
                summary.retired += hashes.count
            }
        }
        if let fatal = summary.fatal {
            summary.outcome = .failed
            summary.fatal = fatal
        } else if options.stop.isSet && summary.processed < plan.toProcess {
            summary.outcome = .interrupted
        } else if summary.failed > 0 {
            summary.outcome = .errors
        }
    }

    private func close(_ ledger: Ledger, _ store: ShardStore, _ summary: inout RunSummary, started: Date, error: Error?) throws {
        summary.wallSeconds = Date().timeIntervalSince(started)
        // The ledger is written even after a storage failure when the disk allows it.
        ledger.finish(summary, error: error)
        do {
            if try !store.close() {
                logger.notice("shard left in WAL mode: another connection has it open; the next run finalizes it", metadata: ["shard": "\(store.currentShard)"])
            }
        } catch let publishError {
            // A task's last shard could not be moved into the output: its work is not there, and its ledger
            // row with it, so the catalog names the task for resubmission. Report the run as failed.
            logger.error("run failed", metadata: ["run": "\(summary.runID)", "error": "\(publishError)"])
            if error == nil { throw publishError }
        }
        summary.shards = ShardStore.shardFiles(in: config.outputDirectory).map(\.lastPathComponent)
        logger.info("run finished", metadata: ["run": "\(summary.runID)", "outcome": "\(summary.outcome.rawValue)",
                                               "exit_code": .stringConvertible(Int(error.map { ExitCode.for(error: $0) } ?? ExitCode.for(summary.outcome))), "stats": .dictionary(summary.metadata)])
    }
}
