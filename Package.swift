// swift-tools-version:6.0
import PackageDescription

// FFmpeg, OpenBLAS and SQLite come from Debian's -dev packages (`make deps`); each is one
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
    ],
    targets: [
        .systemLibrary(name: "CFFmpeg", path: "Sources/CFFmpeg"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),

        .target(name: "Media", dependencies: ["CFFmpeg"]),
        .target(name: "Store", dependencies: ["CSQLite"]),
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "Models", dependencies: ["Tensor"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "Pipeline", dependencies: [
            "Media", "Store", "Models", "Tensor",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "capfilt", dependencies: [
            "Pipeline", "Media", "Store", "Models",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "capfilt-bench", dependencies: [
            "Media", "Models", "Tensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "MediaTests", dependencies: ["Media"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Media", "Store", "Models", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "CLITests", dependencies: []),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BLIPTests", dependencies: ["Models", "Tensor"], resources: [.copy("Fixtures")]),
    ],
    // Worker threads share stages and counters behind locks; Swift 5 mode keeps that explicit code
    // free of Sendable annotations that would only restate it.
    swiftLanguageModes: [.v5]
)
