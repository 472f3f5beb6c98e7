import Foundation
import XCTest

/// The array-job path under a real Slurm: a one-node cluster on localhost (tools/slurm/local-slurm.sh,
/// daemons stopped by their pids afterwards), the nightly submission script a cron line calls
/// (deploy/slurm/submit-nightly.sh: a listing, a 4-task array and the catalog job depending on it), and
/// the shipped demo models over rendered media. The catalog must equal a single-process run over the same
/// inputs; the next night, split in 3 with new inputs, must process only the new ones.
///
/// Needs root and the Debian packages slurm-wlm and munge (`make deps` installs them); skipped otherwise.
final class ClusterSlurmTests: XCTestCase {
    static let root = RefreshPropertyTests.root
    var dir: URL!
    var slurm: URL { dir.appendingPathComponent("slurm") }
    var started = false

    override func setUpWithError() throws {
        try XCTSkipUnless(getuid() == 0, "a local Slurm cluster needs root")
        for daemon in ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"] {
            try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: daemon), "\(daemon) missing: apt-get install slurm-wlm munge")
        }
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: RefreshPropertyTests.binary.path),
                          "`make test` builds \(RefreshPropertyTests.binary.path), which the Slurm jobs run")
        dir = URL(fileURLWithPath: "/tmp/capfilt-slurm-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if started { _ = try? shell(["tools/slurm/local-slurm.sh", "stop", slurm.path]) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SLURM_CONF"] = slurm.appendingPathComponent("slurm.conf").path
        env["CAPFILT_BIN"] = RefreshPropertyTests.binary.path
        // The deploy scripts ask for a real node's sizes; this one has 2 cores.
        env["SBATCH_ARGS"] = "--cpus-per-task=1 --mem=200M"
        return env
    }

    @discardableResult
    func shell(_ args: [String], cwd: URL? = nil) throws -> (code: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.currentDirectoryURL = cwd ?? ClusterSlurmTests.root
        p.environment = environment
        // A file, not a pipe: the daemons `start` leaves running would hold a pipe open for ever.
        let log = dir.appendingPathComponent("shell-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close(); try? FileManager.default.removeItem(at: log) }
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// Submits one night (listing, array, catalog job) and waits for both jobs to leave the queue.
    func night(_ pipeline: URL, tasks: Int) throws -> (array: String, catalog: String) {
        let submit = try shell([ClusterSlurmTests.root.appendingPathComponent("deploy/slurm/submit-nightly.sh").path, pipeline.path, "\(tasks)"], cwd: dir)
        XCTAssertEqual(submit.code, 0, submit.out)
        let words = submit.out.split(separator: "\n").last.map { $0.split(separator: " ").map(String.init) } ?? []
        guard let a = words.firstIndex(of: "array"), let c = words.firstIndex(of: "catalog") else {
            throw NSError(domain: "submit", code: 1, userInfo: [NSLocalizedDescriptionKey: submit.out])
        }
        let (array, catalog) = (words[a + 1], words[c + 1])
        let deadline = Date().addingTimeInterval(600)
        while Date() < deadline {
            let queue = try shell(["squeue", "-h", "-j", "\(array),\(catalog)"])
            if queue.code == 0 && queue.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
            usleep(500_000)
        }
        let jobs = try shell(["scontrol", "-o", "show", "job", array]).out
        print("night with \(tasks) tasks: array \(array), catalog \(catalog)")
        for line in jobs.split(separator: "\n") {
            let fields = line.split(separator: " ").filter { $0.hasPrefix("ArrayTaskId=") || $0.hasPrefix("JobState=") || $0.hasPrefix("ExitCode=") }
            print("  " + fields.joined(separator: " "))
            // A task exits 1 when some of its inputs failed (the corpus has broken files on purpose).
            XCTAssertTrue(line.contains("ExitCode=0:0") || line.contains("ExitCode=1:0"), String(line))
        }
        return (array, catalog)
    }

    func output(_ name: String) throws -> String {
        try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    }

    func testArrayJobUnderSlurmEqualsOneProcessAndANewSplitOnlyAddsTheNewInputs() throws {
        let corpus = try ArrayJobCorpus(dir: dir.appendingPathComponent("corpus"))
        let out = dir.appendingPathComponent("out"), single = dir.appendingPathComponent("single")
        let pipeline = try corpus.pipeline("nightly", output: out), reference = try corpus.pipeline("single", output: single)

        let clock = Date()
        let start = try shell(["tools/slurm/local-slurm.sh", "start", slurm.path])
        started = true
        XCTAssertEqual(start.code, 0, start.out)
        print(String(format: "one-node Slurm up in %.2f s", Date().timeIntervalSince(clock)))

        let first = try night(pipeline, tasks: 4)
        let report = try output("capfilt-catalog-\(first.catalog).out")
        print(report)
        XCTAssertTrue(report.contains("run group \(first.array): 4 of 4 tasks finished"), report)
        XCTAssertTrue(report.contains("every input done once"), report)
        XCTAssertTrue([0, 1].contains(try runCapfiltRelease(["run", reference.path, "--quiet"]).code))
        let expected = try ArrayJobCorpus.rows(single.appendingPathComponent("shard-00000.sqlite"))
        XCTAssertGreaterThan(expected.count, 20)
        XCTAssertEqual(try ArrayJobCorpus.rows(out.appendingPathComponent("catalog.sqlite")), expected)

        // The next night: three more files, and the corpus split in 3 instead of 4.
        try corpus.add(images: 2, seed: 9)
        let second = try night(pipeline, tasks: 3)
        var figures: [String: Int] = [:]
        for i in 0..<3 {
            for (k, v) in ArrayJobCorpus.stats(try output("capfilt-\(second.array)_\(i).out")) { if let v = v as? Int { figures[k, default: 0] += v } }
        }
        print("second night: \(figures["new"] ?? -1) new, \(figures["changed"] ?? -1) changed, \(figures["processed"] ?? -1) processed, "
              + "\(figures["skipped"] ?? -1) skipped")
        XCTAssertEqual(figures["new"], 3)
        XCTAssertEqual(figures["processed"], 3)
        XCTAssertEqual(figures["changed"], 0)
        let report2 = try output("capfilt-catalog-\(second.catalog).out")
        XCTAssertTrue(report2.contains("run group \(second.array): 3 of 3 tasks finished") && report2.contains("every input done once"), report2)
        XCTAssertTrue([0, 1].contains(try runCapfiltRelease(["run", reference.path, "--quiet"]).code))
        XCTAssertEqual(try ArrayJobCorpus.rows(out.appendingPathComponent("catalog.sqlite")),
                       try ArrayJobCorpus.rows(single.appendingPathComponent("shard-00000.sqlite")))

        let stop = try shell(["tools/slurm/local-slurm.sh", "stop", slurm.path])
        started = false
        XCTAssertEqual(stop.code, 0, stop.out)
        XCTAssertFalse(try shell(["pgrep", "-f", slurm.path]).out.contains(where: \.isNumber), "daemons left running")
    }
}
