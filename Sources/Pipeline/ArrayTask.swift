import Foundation
import Media
import Store

/// One task of an array job (a Slurm job array, a Kubernetes Indexed Job): which inputs it owns, where
/// it writes, and the group its runs belong to.
public struct ArrayTask: Sendable, Equatable {
    public var index: Int
    public var count: Int
    /// What ties the tasks of one submission together (`SLURM_ARRAY_JOB_ID`, the Kubernetes Job's name):
    /// `capfilt catalog` checks that every index of the latest group finished.
    public var group: String?
    /// Node-local folder for the shard being written.
    public var scratch: URL
    /// How often an open shard is published into the output (seconds).
    public var publishEvery: TimeInterval = 900

    public init(index: Int, count: Int, group: String? = nil, scratch: URL, publishEvery: TimeInterval = 900) {
        self.index = index; self.count = count; self.group = group; self.scratch = scratch; self.publishEvery = publishEvery
    }

    /// The task that owns a path: a hash of the path, so every task decides alone, reading no file and
    /// no other task's list, and the same path always lands on the same task for a given count.
    public static func owner(of path: String, count: Int) -> Int {
        let digest = ContentHash.sha256(bytes: Array(path.utf8))
        let prefix = UInt64(digest.prefix(16), radix: 16) ?? 0
        return Int(prefix % UInt64(max(1, count)))
    }

    public func owns(_ path: String) -> Bool { ArrayTask.owner(of: path, count: count) == index }

    /// This task's own lock file in the output folder (with the output's lock held shared).
    var lockName: String { ".capfilt-t\(index)of\(count).lock" }

    func shards(runID: String) -> TaskShards {
        TaskShards(index: index, count: count, scratch: scratch.appendingPathComponent("capfilt-\(runID.prefix(8))"),
                   tag: String(runID.prefix(8)), publishEvery: publishEvery)
    }
}

/// The task's place in an array, from flags first, then the scheduler's environment.
public enum ArrayTaskEnvironment {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// nil when this is not a task of an array (no index anywhere). Slurm gives the index and the array's
    /// size; Kubernetes gives only `JOB_COMPLETION_INDEX`, so the count must come from `--shard-count` or
    /// `CAPFILT_SHARD_COUNT`. A resubmission of some indices (`--array=1,3`) is a smaller array: its
    /// `SLURM_ARRAY_TASK_COUNT` is not the corpus split, and is refused unless the count is given.
    public static func resolve(index flagIndex: Int?, count flagCount: Int?, group flagGroup: String?, scratch flagScratch: String?,
                               publishEvery: TimeInterval = 900,
                               environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> ArrayTask? {
        func int(_ name: String) throws -> Int? {
            guard let raw = env[name], !raw.isEmpty else { return nil }
            guard let v = Int(raw) else { throw Error(description: "\(name)=\(raw) is not a whole number") }
            return v
        }
        let slurmIndex = try int("SLURM_ARRAY_TASK_ID")
        guard let index = try flagIndex ?? slurmIndex ?? int("JOB_COMPLETION_INDEX") else {
            if flagCount != nil { throw Error(description: "--shard-count needs a task index: --shard-index, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX") }
            return nil
        }
        var count = try flagCount ?? int("CAPFILT_SHARD_COUNT")
        if count == nil, flagIndex == nil, slurmIndex != nil, let n = try int("SLURM_ARRAY_TASK_COUNT") {
            let (lo, hi) = (try int("SLURM_ARRAY_TASK_MIN") ?? 0, try int("SLURM_ARRAY_TASK_MAX") ?? n - 1)
            guard lo == 0 && hi == n - 1 else {
                throw Error(description: "this array (indices \(lo)–\(hi), \(n) tasks) does not cover 0…\(n - 1): it looks like a resubmission "
                            + "of some tasks; pass --shard-count with the corpus split (or set CAPFILT_SHARD_COUNT)")
            }
            count = n
        }
        guard let count else {
            throw Error(description: "task index \(index) has no task count: pass --shard-count N or set CAPFILT_SHARD_COUNT "
                        + "(Kubernetes gives JOB_COMPLETION_INDEX only)")
        }
        guard count >= 1, (0..<count).contains(index) else {
            throw Error(description: "task index \(index) is outside 0…\(count - 1) (--shard-count \(count))")
        }
        let group = flagGroup ?? env["CAPFILT_RUN_GROUP"].flatMap { $0.isEmpty ? nil : $0 } ?? env["SLURM_ARRAY_JOB_ID"]
        let scratch = flagScratch ?? [env["SLURM_TMPDIR"], env["TMPDIR"]].compactMap { $0 }.first { !$0.isEmpty } ?? "/tmp"
        return ArrayTask(index: index, count: count, group: group, scratch: URL(fileURLWithPath: scratch), publishEvery: publishEvery)
    }
}
