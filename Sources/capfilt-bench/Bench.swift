import ArgumentParser
import Foundation

/// `make bench`: capfilt against the reference stack, measured in the same run, as medians and ratios.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capfilt-bench",
        abstract: "Benchmarks against the reference stack (ffmpeg CLI for decoding), medians of repeated runs.",
        subcommands: [DecodeBench.self, ClipBench.self, BlipBench.self]
    )
}

/// Median of repeated timings (seconds); machines are shared and noisy.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func time(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
