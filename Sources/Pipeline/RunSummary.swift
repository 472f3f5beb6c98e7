import Foundation
import Logging

/// How a run ended, for the summary, the ledger and the exit code.
public struct RunSummary: Sendable {
    public enum Outcome: String, Sendable { case ok, errors, failed, interrupted }
    public var runID: String
    public var outcome: Outcome
    public var fatal: String?
    public var inputsSeen = 0
    /// Files whose bytes were read to hash them (the rest came from the hash cache).
    public var hashed = 0
    public var unique = 0
    public var duplicates = 0
    public var new = 0
    public var changed = 0
    /// Changed inputs whose stored frames were reused (only later stages were redone).
    public var reused = 0
    public var retried = 0
    public var skipped = 0
    /// Unchanged inputs found under another name: rewritten, nothing recomputed.
    public var renamed = 0
    /// Retired inputs whose file came back.
    public var restored = 0
    /// Inputs the shards held that no current file has: out of the views from this run on.
    public var retired = 0
    public var processed = 0
    public var failed = 0
    public var partial = 0
    public var frames = 0
    public var audioSegments = 0
    public var texts: [String: Int] = [:]
    /// Texts of the processed inputs with at least one pair no stage dropped (the `pairs` view's rule).
    public var textsKept = 0
    /// Texts whose every pair was dropped.
    public var textsDropped = 0
    /// Texts paired with no frame (a subtitle cue between sampled frames, a web text of a failed input).
    public var textsUnpaired = 0
    /// Checkpoint folders loaded, one entry per load.
    public var modelsLoaded: [String] = []
    /// Seconds from the first checkpoint opened to the last one ready (they load side by side).
    public var modelLoadSeconds = 0.0
    public var wallSeconds = 0.0
    /// Per stage (the reader as `decode`, then the model stages, in order): in, errors, seconds, pairs
    /// kept and dropped, and the stage's own counts.
    public var stages: [(name: String, counters: [String: Double])] = []
    public var errorSamples: [(uri: String, message: String)] = []
    public var outputDirectory: String = ""
    public var shards: [String] = []
    /// Set for a task of an array job.
    public var task: ArrayTask? = nil

    public init(runID: String, outcome: Outcome) {
        self.runID = runID
        self.outcome = outcome
    }

    public func counters(_ stage: String) -> [String: Double] {
        stages.first { $0.name == stage }?.counters ?? [:]
    }

    mutating func take(_ plan: Plan) {
        inputsSeen = plan.inputsSeen; hashed = plan.hashed; unique = plan.unique; duplicates = plan.duplicates
        new = plan.new; changed = plan.changed; reused = plan.reused; retried = plan.retried; skipped = plan.skipped
        renamed = plan.renamed; restored = plan.restored
    }

    /// The figures as one JSON object: the ledger's `stats`.
    public var json: String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The same figures as log metadata: numbers stay numbers and nested figures stay objects.
    public var metadata: Logger.Metadata {
        func value(_ v: Any) -> Logger.MetadataValue {
            switch v {
            case let i as Int: return .stringConvertible(i)
            case let d as Double: return .stringConvertible(d)
            case let d as [String: Any]: return .dictionary(d.mapValues(value))
            default: return .string("\(v)")
            }
        }
        return object.mapValues(value)
    }

    private var object: [String: Any] {
        var o: [String: Any] = [
            "inputs_seen": inputsSeen, "hashed": hashed, "unique": unique, "duplicates": duplicates, "new": new, "changed": changed, "reused": reused,
            "retried": retried, "skipped": skipped, "renamed": renamed, "restored": restored, "retired": retired, "processed": processed,
            "failed": failed, "partial": partial, "frames": frames, "audio_segments": audioSegments, "texts": texts, "texts_kept": textsKept,
            "texts_dropped": textsDropped, "texts_unpaired": textsUnpaired, "models_loaded": modelsLoaded.count,
            "models_load_seconds": (modelLoadSeconds * 1000).rounded() / 1000,
            "wall_seconds": (wallSeconds * 1000).rounded() / 1000,
        ]
        var st: [String: Any] = [:]
        for s in stages { st[s.name] = s.counters.mapValues { ($0 * 1000).rounded() / 1000 } }
        o["stages"] = st
        if let fatal { o["fatal"] = fatal }
        if let task {
            o["task_index"] = task.index; o["task_count"] = task.count
            if let g = task.group { o["run_group"] = g }
        }
        return o
    }
}

/// The run's figures as the worker threads produce them; every access holds the lock.
final class RunTally: @unchecked Sendable {
    private let lock = NSLock()
    private var summary: RunSummary
    private var stageOrder: [String]
    private var stageCounters: [String: [String: Double]] = [:]
    private var fatalMessage: String?

    init(stages: [String]) {
        summary = RunSummary(runID: "", outcome: .ok)
        stageOrder = stages
    }

    private func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }

    var done: Int { locked { summary.processed } }

    /// The first storage failure stops the run; later ones add nothing.
    var fatal: String? {
        get { locked { fatalMessage } }
        set { locked { if fatalMessage == nil { fatalMessage = newValue } } }
    }

    func count(_ stage: String, _ counters: [String: Double]) {
        locked { stageCounters[stage, default: [:]].merge(counters, uniquingKeysWith: +) }
    }

    /// Records a written input; returns how many inputs are done.
    /// `recomputed` is false for an input only written again (renamed or restored): an old failure
    /// rewritten is not a failure of this run.
    func record(_ item: WorkItem, recomputed: Bool) -> Int {
        let figures = item.textFigures
        return locked {
            summary.processed += 1
            if item.status == "error" && recomputed {
                summary.failed += 1
                if summary.errorSamples.count < 20 { summary.errorSamples.append((item.input.uri, item.error ?? "")) }
            }
            if item.status == "partial" { summary.partial += 1 }
            summary.frames += item.frames.count
            summary.audioSegments += item.audio.count
            for t in item.texts { summary.texts[t.origin.rawValue, default: 0] += 1 }
            summary.textsKept += figures.kept
            summary.textsDropped += figures.dropped
            summary.textsUnpaired += figures.unpaired
            return summary.processed
        }
    }

    /// The worker-side figures, copied into `into`.
    func fill(_ into: inout RunSummary) {
        locked {
            into.processed = summary.processed; into.failed = summary.failed; into.partial = summary.partial
            into.frames = summary.frames; into.audioSegments = summary.audioSegments; into.texts = summary.texts
            into.textsKept = summary.textsKept; into.textsDropped = summary.textsDropped; into.textsUnpaired = summary.textsUnpaired
            into.errorSamples = summary.errorSamples
            into.stages = stageOrder.map { ($0, stageCounters[$0] ?? [:]) }
            if let fatalMessage { into.fatal = fatalMessage }
        }
    }
}
