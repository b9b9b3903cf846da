// What scripts/test-ios-sample.sh hands the tests, as environment variables (the same fixtures
// scripts/test-compose.sh hands the Compose app's tests): the demo model, its SHA-256 and the
// replies `bitnet chat` printed for it, one line per turn.

import BitNet
import Foundation
import Observation
import SampleViewModels
import XCTest

enum Fixtures {
    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "\(name) is not set (scripts/test-ios-sample.sh sets it)" }
    }

    /// The variable `name`; a test without it fails (it must not pass by skipping).
    static func setting(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name] else { throw Missing(name: name) }
        return value
    }

    /// The committed demo model.
    static func demoModel() throws -> String { try setting("BITNET_DEMO_MODEL") }

    /// sha256sum's of the demo model (Foundation on Linux has no SHA-256).
    static func demoSha256() throws -> String { try setting("BITNET_DEMO_MODEL_SHA256") }

    /// `bitnet chat` greedy: "What is 17 + 25?" then "Reverse the list: red, green, blue".
    static func greedyReplies() throws -> [String] {
        try String(contentsOfFile: try setting("BITNET_EXPECTED_GREEDY"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// `bitnet chat --system "You are terse." --temperature 0.8 --top-k 40 --seed 7`: "Define cynic.".
    static func sampledReply() throws -> String {
        var text = try String(contentsOfFile: try setting("BITNET_EXPECTED_SAMPLED"), encoding: .utf8)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// The two greedy prompts, in order.
    static let greedyPrompts = ["What is 17 + 25?", "Reverse the list: red, green, blue"]

    /// An environment over the demo model and a fresh store (removed by the test's teardown)
    /// with the built-in catalog, or `catalog`.
    static func env(
        _ test: XCTestCase, loader: EngineLoader = .plain, budget: UInt64? = nil, catalog: String? = nil
    ) throws -> SampleEnvironment {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bitnet-sample-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let store = try ModelStore(dir: dir.path, catalogJson: catalog, quotaBytes: nil)
        return SampleEnvironment(loader: loader, store: store, demoModelPath: try demoModel(), deviceBudgetBytes: budget)
    }
}

/// Loads engines as `EngineLoader.plain` does, keeping each one so that a test can ask the
/// engine itself what happened.
final class RecordingLoader: Sendable {
    private let loaded = Locked<[BitNetEngine]>([])

    /// Every engine loaded, in order.
    var engines: [BitNetEngine] { loaded.value }

    var loader: EngineLoader {
        EngineLoader { [loaded] path, config in
            let attached = try await EngineLoader.plain.load(path: path, config: config)
            loaded.update { $0.append(attached.engine) }
            return attached
        }
    }

    /// A warm device: engines whose policy pauses `pauseMs` between tokens when `.fair`, and
    /// which are told they are `.fair`: replies arrive slowly enough to be stopped midway.
    static func warm(pauseMs: UInt64 = 150) -> EngineLoader {
        EngineLoader { path, config in
            var config = config
            var policy = defaultThermalPolicy()
            policy.fair = .run(threadsPercent: 100, pauseMs: pauseMs)
            config.thermalPolicy = policy
            let attached = try await EngineLoader.plain.load(path: path, config: config)
            attached.engine.reportThermal(state: .fair, headroom: nil)
            return attached
        }
    }
}

/// A value shared between tasks and threads, under a lock.
final class Locked<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T

    init(_ value: T) { stored = value }

    var value: T {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    /// Changes the value in place, atomically.
    func update(_ change: (inout T) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&stored)
    }
}

/// Ends a test that cannot go on.
struct Timeout: Error, CustomStringConvertible {
    let description: String
}

/// Waits (at most `seconds`) until `read()` gives a state matching `predicate`, and returns it:
/// the twin of the Compose tests' `StateFlow.await`.
@MainActor
func waitFor<State>(
    _ read: () -> State, timeout seconds: Double = 30, until predicate: (State) -> Bool,
    file: StaticString = #filePath, line: UInt = #line
) async throws -> State {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        let state = read()
        if predicate(state) { return state }
        if Date() > deadline {
            XCTFail("no matching state after \(seconds) s; the last: \(state)", file: file, line: line)
            throw Timeout(description: "no matching state after \(seconds) s")
        }
        try await Task.sleep(nanoseconds: 2_000_000)
    }
}

/// Every value `read()` gives while `body` runs, recorded through Observation (as SwiftUI
/// watches a view-model): one per change of what `read` reads.
@MainActor
func observing<State: Sendable, Result: Sendable>(
    _ read: @escaping @Sendable @MainActor () -> State, during body: @MainActor () async throws -> Result
) async rethrows -> (seen: [State], result: Result) {
    let seen = Locked<[State]>([read()])
    let watching = Locked(true)
    track(read, into: seen, while: watching)
    let result = try await body()
    watching.update { $0 = false }
    return (seen.value, result)
}

/// Appends `read()` to `seen` after each change of what it reads, while `watching` holds.
@MainActor
private func track<State: Sendable>(
    _ read: @escaping @Sendable @MainActor () -> State, into seen: Locked<[State]>, while watching: Locked<Bool>
) {
    withObservationTracking { _ = read() } onChange: {
        Task { @MainActor in
            guard watching.value else { return }
            seen.update { $0.append(read()) }
            track(read, into: seen, while: watching)
        }
    }
}
