// Twin of ConcurrencyTest.kt: `EngineConfig.maxConcurrentGenerations` through the binding,
// against the synthetic model.

import Foundation
import XCTest
import BitNet

/// Holds its request (and its slot) at the first thermal event until released.
private final class Holder: GenerationListener, @unchecked Sendable {
    let release = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var held = false
    /// Whether the request is being held.
    var holding: Bool {
        lock.lock()
        defer { lock.unlock() }
        return held
    }

    func onEvent(event: GenerationEvent) {
        guard case .thermal = event else { return }
        lock.lock()
        let first = !held
        held = true
        lock.unlock()
        if first {
            _ = release.wait(timeout: .now() + 30)
        }
    }
}

/// Counts the events it gets.
private final class Counter: GenerationListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen = 0
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }

    func onEvent(event: GenerationEvent) {
        lock.lock()
        seen += 1
        lock.unlock()
    }
}

final class ConcurrencyTests: XCTestCase {
    // `under a limit of one a second session waits for the first, then runs`
    func testUnderALimitOfOneASecondSessionWaitsForTheFirstThenRuns() async throws {
        let engine = try await BitNetEngine.load(
            path: try Fixture.model(), config: EngineConfig(threads: 1, maxConcurrentGenerations: 1))
        // The first request's first event is this thermal change.
        engine.reportThermal(state: .fair, headroom: nil)
        let holder = Holder()
        let counter = Counter()
        let first = try engine.session()
        let second = try engine.session()
        let options = GenerationOptions(maxTokens: 2)
        let held = Task { try await first.generate(prompt: .text(text: "Once upon a time"), options: options, listener: holder) }
        while !holder.holding {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let queued = Task { try await second.generate(prompt: .text(text: "Once upon a time"), options: options, listener: counter) }
        while try engine.metrics().queued == 0 {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let m = try engine.metrics()
        XCTAssertEqual(m.generating, 1)
        XCTAssertEqual(m.queued, 1)
        XCTAssertEqual(counter.count, 0, "the waiting request has not started")
        try await Task.sleep(nanoseconds: 50_000_000)
        holder.release.signal()
        _ = try await held.value
        let summary = try await queued.value
        XCTAssertGreaterThanOrEqual(summary.stats.queuedMs, 50, "ms in the queue")
        let after = try engine.metrics()
        XCTAssertEqual(after.generating, 0)
        XCTAssertEqual(after.queued, 0)
        XCTAssertNotNil(after.queueWaitP95Ms)
        engine.reportThermal(state: .nominal, headroom: nil)
        first.release()
        second.release()
        engine.release()
    }
}
