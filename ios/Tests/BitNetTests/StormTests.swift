// Twin of StormTest.kt: a storm through the binding: 8 tasks each run random operations over one
// engine: sessions under a tight memory budget, generations cancelled at random points (the
// loop leaves early, or its task is cancelled from outside), trims, resets, released sessions
// and thermal flips. Asserts: no error but the refusals a tight budget causes, no deadlock (a
// watchdog ends the process), no session left once all are released, and resident memory back
// within a margin after a second storm (the first one warms the allocator).
//
// Environment, as for the Rust storm (`tests/storm.rs`): `BITNET_STORM_OPS`, operations per
// task (default 250; 1000 is the soak run), and `BITNET_STORM_RSS_MARGIN_MIB` (default 128).

import Foundation
import XCTest
import BitNet

final class StormTests: XCTestCase {
    private let ops = ProcessInfo.processInfo.environment["BITNET_STORM_OPS"].flatMap { Int($0) } ?? 250
    private let marginBytes = UInt64(ProcessInfo.processInfo.environment["BITNET_STORM_RSS_MARGIN_MIB"].flatMap { Int($0) } ?? 128) << 20

    /// What the tasks did, by operation.
    final class Tally: Sendable, CustomStringConvertible {
        let generations = Box(0)
        let cancelled = Box(0)
        let refused = Box(0)
        let trims = Box(0)
        let other = Box(0)

        static func bump(_ counter: Box<Int>) {
            counter.update { $0 += 1 }
        }

        var description: String {
            "generations=\(generations.value) cancelled=\(cancelled.value) refused=\(refused.value) trims=\(trims.value) other=\(other.value)"
        }
    }

    /// SplitMix64: a seeded generator, so a storm can be replayed.
    struct Rng: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private static let noPauses = Throttle.run(threadsPercent: 100, pauseMs: 0)
    private let policy = ThermalPolicy(
        nominal: noPauses, fair: noPauses, serious: .run(threadsPercent: 50, pauseMs: 0), critical: .stop)

    /// A refusal a tight budget or a small context explains; anything else is rethrown.
    private static func refusedOr(_ tally: Tally, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as BitNetError {
            switch error {
            case .BudgetExceeded, .InsufficientMemory, .ContextFull, .PromptTooLong: Tally.bump(tally.refused)
            default: throw error
            }
        }
    }

    private static func generate(_ session: ChatSession, _ rng: inout Rng, _ tally: Tally) async throws {
        let options = GenerationOptions(maxTokens: UInt32.random(in: 1..<5, using: &rng))
        let prompt = Bool.random(using: &rng) ? "Tell me something." : "Once upon a time"
        switch Int.random(in: 0..<3, using: &rng) {
        case 0:
            try await refusedOr(tally) {
                _ = try await collect(session.generate(prompt, options: options))
                Tally.bump(tally.generations)
            }
        case 1:
            // The loop leaves after a few events: the stream cancels the generation.
            let take = Int.random(in: 1..<3, using: &rng)
            try await refusedOr(tally) {
                var taken = 0
                for try await _ in session.generate(prompt, options: options) {
                    taken += 1
                    if taken == take { break }
                }
                Tally.bump(tally.cancelled)
            }
        default:
            // Cancelled from outside at a random moment.
            let job = Task {
                try await refusedOr(tally) {
                    for try await _ in session.generate(prompt, options: options) {}
                }
            }
            try await Task.sleep(nanoseconds: UInt64.random(in: 0..<3_000_000, using: &rng))
            job.cancel()
            try await job.value
            Tally.bump(tally.cancelled)
        }
    }

    private static func worker(_ engine: BitNetEngine, seed: UInt64, ops: Int, tally: Tally) async throws {
        var rng = Rng(state: seed)
        var sessions: [ChatSession] = []
        let contexts: [UInt32] = [64, 256, 1024, UInt32.max]
        let states: [ThermalState] = [.nominal, .fair, .serious, .critical]
        for _ in 0..<ops {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<15:
                let context = contexts.randomElement(using: &rng)!
                try await refusedOr(tally) {
                    let session = try engine.session(config: SessionConfig(contextLength: context))
                    if sessions.count < 3 { sessions.append(session) } else { session.release() }
                }
            case 15..<55:
                if !sessions.isEmpty {
                    try await generate(sessions.randomElement(using: &rng)!, &rng, tally)
                }
            case 55..<65:
                _ = try engine.trim()
                Tally.bump(tally.trims)
            case 65..<75:
                if !sessions.isEmpty {
                    try sessions.randomElement(using: &rng)!.reset()
                    Tally.bump(tally.other)
                }
            case 75..<85:
                if !sessions.isEmpty {
                    sessions.remove(at: Int.random(in: 0..<sessions.count, using: &rng)).release()
                    Tally.bump(tally.other)
                }
            default:
                engine.reportThermal(state: states.randomElement(using: &rng)!, headroom: nil)
                Tally.bump(tally.other)
            }
        }
        sessions.forEach { $0.release() }
    }

    /// One storm of 8 tasks; a watchdog ends the process if it outlasts 600 s.
    private func storm(_ engine: BitNetEngine, seed: UInt64) async throws -> Tally {
        let tally = Tally()
        let ops = self.ops
        let watchdog = Task.detached {
            try await Task.sleep(nanoseconds: 600_000_000_000)
            fatalError("the storm outlasted 600 s: deadlock? \(tally)")
        }
        defer { watchdog.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<UInt64(8) {
                group.addTask { try await Self.worker(engine, seed: seed * 8 + i, ops: ops, tally: tally) }
            }
            try await group.waitForAll()
        }
        return tally
    }

    private func resident(_ engine: BitNetEngine) throws -> UInt64 {
        try XCTUnwrap(try engine.metrics().residentBytes, "resident memory is readable here")
    }

    // `8 coroutines of random operations leave no session, no deadlock and no growth`
    func test8TasksOfRandomOperationsLeaveNoSessionNoDeadlockAndNoGrowth() async throws {
        let estimate = try await BitNetEngine.estimate(path: try Fixture.model())
        let sessionBytes = estimate.kvBytesPerToken * 1024 + estimate.scratchBytes
        var config = EngineConfig()
        config.threads = 2
        config.memoryBudgetBytes = estimate.engineBytes() + 4 * sessionBytes
        config.thermalPolicy = policy
        let engine = try await BitNetEngine.load(path: try Fixture.model(), config: config)
        let first = try await storm(engine, seed: 1)
        engine.reportThermal(state: .nominal, headroom: nil)
        let before = try resident(engine)
        let second = try await storm(engine, seed: 2)
        let trimmed = try engine.trim()
        let after = try resident(engine)
        print("storm 1: \(first)\nstorm 2: \(second)\nresident \(before >> 20) MiB -> \(after >> 20) MiB")
        XCTAssertEqual(trimmed.sessions, 0, "every session was released")
        XCTAssertGreaterThan(second.generations.value + second.cancelled.value, 0, "the storm generated: \(second)")
        XCTAssertLessThanOrEqual(after, before + marginBytes, "resident grew from \(before) to \(after) bytes")
        engine.release()
    }
}
