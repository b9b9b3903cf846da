// swift-tools-version:5.9
// The iOS package `BitNet`: the Rust core as a static library in BitNetFFI.xcframework (built
// by scripts/build-xcframework.sh), the generated Swift bindings and a thin Swift layer.
import PackageDescription

let package = Package(
    name: "BitNet",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "BitNet", targets: ["BitNet"]),
    ],
    targets: [
        .binaryTarget(name: "BitNetFFI", path: "ios/BitNetFFI.xcframework"),
        .target(name: "BitNet", dependencies: ["BitNetFFI"], path: "ios/Sources/BitNet"),
        .testTarget(name: "BitNetTests", dependencies: ["BitNet"], path: "ios/Tests/BitNetTests"),
    ]
)
