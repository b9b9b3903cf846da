// swift-tools-version:6.0
// The iOS sample app's Swift package, over the root package `BitNet`, in the Swift 6 language
// mode:
//   - SampleViewModels: the three screens' view-models (Chat, Benchmark, Models) and their
//     state, on Foundation, Observation and BitNet only, so they build and are tested on Linux
//     too (scripts/test-ios-sample.sh);
//   - SampleViews: the SwiftUI screens, thin bindings to the view-models; every file is
//     `#if canImport(SwiftUI)`, so on Linux the target is empty;
//   - the app itself (App/, its `@main`) is the Xcode project's target (project.yml, XcodeGen).
// Observation's `@Observable` needs iOS 17 (the SDK itself needs iOS 15).
import PackageDescription

let package = Package(
    name: "BitNetSample",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "SampleViewModels", targets: ["SampleViewModels"]),
        .library(name: "SampleViews", targets: ["SampleViews"]),
    ],
    dependencies: [
        .package(name: "BitNet", path: "../.."),
    ],
    targets: [
        .target(name: "SampleViewModels", dependencies: [.product(name: "BitNet", package: "BitNet")]),
        .target(name: "SampleViews", dependencies: ["SampleViewModels"]),
        .testTarget(name: "SampleViewModelsTests", dependencies: ["SampleViewModels"]),
    ],
    swiftLanguageModes: [.v6]
)
