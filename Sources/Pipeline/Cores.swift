import Foundation

/// The cores this process may use: the machine's, narrowed by its CPU affinity (what Slurm's task/affinity
/// or cgroup plugins and `taskset` set) and by `SLURM_CPUS_PER_TASK`, so that workers × BLAS threads
/// match a scheduler's allocation instead of the whole node.
public enum Cores {
    public static var available: Int {
        var n = ProcessInfo.processInfo.activeProcessorCount
        // The affinity mask as the kernel reports it (sched_getaffinity needs _GNU_SOURCE, which Swift's
        // Glibc module does not give): hex words separated by commas.
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
            let hex = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
            let count = hex.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
            if count > 0 { n = min(n, count) }
        }
        if let raw = ProcessInfo.processInfo.environment["SLURM_CPUS_PER_TASK"], let slurm = Int(raw), slurm > 0 { n = min(n, slurm) }
        return max(1, n)
    }
}
