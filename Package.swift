// swift-tools-version:6.0
// The Swift package `BitNet`: the Rust core (bitnet-ffi), the generated Swift bindings
// (ios/Sources/BitNet/Generated, scripts/generate-bindings.sh) and a thin Swift layer, in the
// Swift 6 language mode (complete concurrency checking).
//
// The C module `BitNetFFI` the bindings import is, on Apple platforms, the static library in
// ios/BitNetFFI.xcframework (scripts/build-xcframework.sh, on a Mac); on Linux, where only the
// tests run (scripts/test-swift.sh), the host's libbitnet_ffi.so (`cargo build -p bitnet-ffi`)
// through a system-library module over the same generated header (ios/LinuxFFI); say where the
// library is with `swift build -Xlinker -L<dir>` and LD_LIBRARY_PATH.
import PackageDescription

#if os(Linux)
let core: Target = .systemLibrary(name: "BitNetFFI", path: "ios/LinuxFFI")
#else
let core: Target = .binaryTarget(name: "BitNetFFI", path: "ios/BitNetFFI.xcframework")
#endif

let package = Package(
    name: "BitNet",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "BitNet", targets: ["BitNet"]),
    ],
    targets: [
        core,
        .target(name: "BitNet", dependencies: ["BitNetFFI"], path: "ios/Sources/BitNet"),
        .testTarget(name: "BitNetTests", dependencies: ["BitNet"], path: "ios/Tests/BitNetTests"),
    ],
    swiftLanguageModes: [.v6]
)
