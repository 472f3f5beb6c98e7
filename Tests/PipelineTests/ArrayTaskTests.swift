import Foundation
import Store
import XCTest
@testable import Pipeline

/// A task's place in an array, as Slurm and Kubernetes give it, and the split of a corpus between tasks.
final class ArrayTaskTests: XCTestCase {
    func resolve(_ env: [String: String], index: Int? = nil, count: Int? = nil) throws -> ArrayTask? {
        try ArrayTaskEnvironment.resolve(index: index, count: count, group: nil, scratch: nil, environment: env)
    }

    func testSlurmArrayGivesIndexCountGroupAndScratch() throws {
        let t = try XCTUnwrap(resolve(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0",
                                       "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_JOB_ID": "812", "SLURM_TMPDIR": "/local/job812", "TMPDIR": "/tmp/x"]))
        XCTAssertEqual([t.index, t.count], [2, 4])
        XCTAssertEqual(t.group, "812")
        XCTAssertEqual(t.scratch.path, "/local/job812")
    }

    func testAResubmittedSubsetNeedsTheCorpusCount() throws {
        // `sbatch --array=1,3`: Slurm says 2 tasks, but the corpus was split in 4.
        let env = ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"]
        XCTAssertThrowsError(try resolve(env)) { XCTAssertTrue("\($0)".contains("--shard-count"), "\($0)") }
        var withCount = env
        withCount["CAPFILT_SHARD_COUNT"] = "4"
        let t = try XCTUnwrap(resolve(withCount))
        XCTAssertEqual([t.index, t.count], [3, 4])
    }

    func testKubernetesIndexNeedsACount() throws {
        XCTAssertThrowsError(try resolve(["JOB_COMPLETION_INDEX": "1"])) { XCTAssertTrue("\($0)".contains("CAPFILT_SHARD_COUNT"), "\($0)") }
        let t = try XCTUnwrap(resolve(["JOB_COMPLETION_INDEX": "1", "CAPFILT_SHARD_COUNT": "3", "CAPFILT_RUN_GROUP": "nightly-7"]))
        XCTAssertEqual([t.index, t.count], [1, 3])
        XCTAssertEqual(t.group, "nightly-7")
        XCTAssertEqual(t.scratch.path, "/tmp")
    }

    func testFlagsWinAndBadValuesAreRefused() throws {
        let t = try XCTUnwrap(resolve(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"], index: 0, count: 2))
        XCTAssertEqual([t.index, t.count], [0, 2])
        XCTAssertNil(try resolve([:]))
        XCTAssertThrowsError(try resolve([:], count: 2))
        XCTAssertThrowsError(try resolve([:], index: 4, count: 4)) { XCTAssertTrue("\($0)".contains("outside 0…3"), "\($0)") }
        XCTAssertThrowsError(try resolve(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"]))
    }

    func testTheSplitIsStableAndEven() {
        let paths = (0..<20_000).map { "/data/corpus/\($0 / 100)/clip-\($0).mp4" }
        for n in [1, 3, 4, 64] {
            var sizes = [Int](repeating: 0, count: n)
            for p in paths { sizes[ArrayTask.owner(of: p, count: n)] += 1 }
            let mean = Double(paths.count) / Double(n)
            let worst = sizes.map { abs(Double($0) - mean) / mean }.max()!
            print("split of \(paths.count) paths into \(n): sizes \(sizes.min()!)–\(sizes.max()!), worst deviation \(String(format: "%.3f", worst))")
            XCTAssertLessThan(worst, n == 64 ? 0.2 : 0.05)
        }
        // The owner is the path's SHA-256 (first 64 bits) modulo the count, fixed here (python3 hashlib gives
        // the same): changing it would move every input to another task's output between releases.
        XCTAssertEqual(ArrayTask.owner(of: "/data/corpus/a.mp4", count: 1000), 991)
        XCTAssertEqual((0..<4).filter { ArrayTask(index: $0, count: 4, scratch: URL(fileURLWithPath: "/tmp")).owns("/x/y.jpg") }, [0])
    }

    func testArrayExpressions() {
        XCTAssertEqual(Catalog.arrayExpression([1, 3, 4, 5, 9]), "1,3-5,9")
        XCTAssertEqual(Catalog.arrayExpression([0]), "0")
        XCTAssertEqual(Catalog.arrayExpression([7, 6, 2, 6]), "2,6-7")
        XCTAssertEqual(Catalog.arrayExpression([]), "")
    }
}
