// swift-tools-version:6.0
import PackageDescription

import Foundation

// The numeric modules' own loops (softmax, GELU, layer norm, the decoder's sampling) are compiled
// for AVX2 + FMA (x86-64-v3, any x86 CPU since 2013–2015), not baseline x86-64's 4-wide SSE:
// softmax over BLIP's 577-key attention rows ran 2× faster (issue #14's note). CAPFILT_PORTABLE=1
// at build time keeps the baseline, for older CPUs.
#if arch(x86_64)
let vectorISA: [SwiftSetting] = ProcessInfo.processInfo.environment["CAPFILT_PORTABLE"] == nil
    ? [.unsafeFlags(["-target-cpu", "haswell"])] : []
#else
let vectorISA: [SwiftSetting] = []
#endif

// FFmpeg, OpenBLAS, oneDNN and SQLite come from Debian's -dev packages (`make deps`); each is one
// system-library target whose modulemap links the libraries and whose shim.h exposes what Swift
// cannot import (function-like macros). Swift code reaches them only through one wrapper per library.
let package = Package(
    name: "capfilt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "capfilt", targets: ["capfilt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CFFmpeg", path: "Sources/CFFmpeg"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive"),
        .systemLibrary(name: "COneDNN", path: "Sources/COneDNN"),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // The one C target of our own: AVX-512 kernels (CKernels.h says why they are C).
        .target(name: "CKernels", path: "Sources/CKernels"),

        // The core modules and Demo compile in the Swift 6 language mode (complete concurrency checking);
        // the default below (5) is left to the CLI, the bench and the tests.
        .target(name: "Media", dependencies: ["CFFmpeg"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "Store", dependencies: ["CSQLite"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "COneDNN", "CMalloc", "CKernels"], swiftSettings: [.swiftLanguageMode(.v6)] + vectorISA),
        .target(name: "Models", dependencies: ["Tensor"], swiftSettings: [.swiftLanguageMode(.v6)] + vectorISA),
        .target(name: "Pipeline", dependencies: [
            "Media", "Store", "Models", "Tensor",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        // Synthetic corpora and the demo report: used by the CLI, the tests and the benchmarks, not core API.
        .target(name: "Demo", dependencies: ["Media", "Store", "Tensor"], swiftSettings: [.swiftLanguageMode(.v6)]),
        // Read side: export to WebDataset tars / JSONL image folders, and the read-only browser.
        .target(name: "Export", dependencies: ["Store", "CArchive", "Tensor"]),
        .target(name: "Serve", dependencies: ["Store", "Export", .product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(name: "capfilt", dependencies: [
            "Pipeline", "Media", "Store", "Models", "Demo", "Export", "Serve",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "capfilt-bench", dependencies: [
            "Media", "Models", "Tensor", "Demo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "MediaTests", dependencies: ["Media", "Demo"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"], exclude: ["Fixtures"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Media", "Store", "Models", "Demo", .product(name: "Logging", package: "swift-log"),
                                                    .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "CLITests", dependencies: ["Tensor"], exclude: ["Fixtures"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Store", "CArchive"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "Export", "Store", "Media"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BLIPTests", dependencies: ["Models", "Tensor"], resources: [.copy("Fixtures")]),
    ],
    // The CLI, the bench and the tests stay in Swift 5 mode; the modules above opt in to 6.
    swiftLanguageModes: [.v5]
)
