// What scripts/test-swift.sh prepares for the tests, as scripts/test-kotlin.sh does for the JVM
// (the same names, as environment variables): a synthetic model, the prompt and sampling
// options, the text `bitnet generate` printed for them and `bitnet estimate --json`'s output.
// On a simulator, prefix each name with SIMCTL_CHILD_.

import Foundation
import XCTest
import BitNet

enum Fixture {
    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "\(name) is not set (scripts/test-swift.sh sets it)" }
    }

    /// The variable `name`; a test without it fails (it must not pass by skipping).
    static func setting(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name] else { throw Missing(name: name) }
        return value
    }

    static func model() throws -> String { try setting("BITNET_TEST_MODEL") }
    static func prompt() throws -> String { try setting("BITNET_TEST_PROMPT") }

    /// The reference text (without the CLI's final newline).
    static func expected() throws -> String {
        try String(contentsOfFile: try setting("BITNET_TEST_EXPECTED"), encoding: .utf8)
    }

    /// The options the script passed to `bitnet generate`.
    static func options() throws -> GenerationOptions {
        GenerationOptions(
            maxTokens: UInt32(try setting("BITNET_TEST_MAX_TOKENS"))!,
            sampling: SamplingParams(
                temperature: Float(try setting("BITNET_TEST_TEMPERATURE"))!,
                topK: UInt32(try setting("BITNET_TEST_TOP_K"))!,
                seed: UInt64(try setting("BITNET_TEST_SEED"))!
            )
        )
    }
}

/// The text pieces of `events`, joined.
func texts(_ events: [GenerationEvent]) -> String {
    events.map { event -> String in
        if case let .text(text) = event { return text }
        return ""
    }.joined()
}

/// The thermal states `events` report, in order.
func thermalStates(_ events: [GenerationEvent]) -> [ThermalState] {
    events.compactMap { event -> ThermalState? in
        if case let .thermal(state, _, _) = event { return state }
        return nil
    }
}

/// Every event of `stream`.
func collect<S: AsyncSequence>(_ stream: S) async throws -> [S.Element] {
    var events: [S.Element] = []
    for try await event in stream { events.append(event) }
    return events
}

/// The summary of the `.finished` event ending `events`.
func summary(
    _ events: [GenerationEvent], file: StaticString = #filePath, line: UInt = #line
) throws -> GenerationSummary {
    guard case let .finished(summary) = events.last else {
        XCTFail("no Finished event at the end: \(events)", file: file, line: line)
        throw Failure(message: "no Finished event")
    }
    return summary
}

/// Ends a test that cannot go on (after recording why with XCTFail).
struct Failure: Error {
    let message: String
}

/// Asserts `body` throws a `BitNetError` that `match` accepts (returning its fields).
func assertThrowsBitNet<T>(
    _ body: () async throws -> Void, _ match: (BitNetError) -> T?,
    file: StaticString = #filePath, line: UInt = #line
) async -> T? {
    do {
        try await body()
        XCTFail("no error thrown", file: file, line: line)
    } catch let error as BitNetError {
        if let fields = match(error) { return fields }
        XCTFail("unexpected BitNetError: \(error)", file: file, line: line)
    } catch {
        XCTFail("not a BitNetError: \(error)", file: file, line: line)
    }
    return nil
}

/// Waits (polling) until `condition` holds, for at most `seconds`.
func eventually(
    _ seconds: Double = 10, _ condition: () throws -> Bool,
    file: StaticString = #filePath, line: UInt = #line
) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try !condition() {
        if Date() > deadline { return XCTFail("timed out after \(seconds) s", file: file, line: line) }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

/// A fresh directory, removed by the test's teardown.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// A value shared between tasks and threads, under a lock.
final class Box<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T

    init(_ value: T) { stored = value }

    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); defer { lock.unlock() }; stored = newValue }
    }

    /// Changes the value in place, atomically.
    func update(_ change: (inout T) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&stored)
    }
}
