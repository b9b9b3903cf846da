// Mirrors android/jvm/bitnet-jvm/src/test/kotlin/dev/bitnet/BitNetTest.kt. The model, prompt,
// options and the CLI's reference text come from the environment, as scripts/test-kotlin.sh
// sets them (for the simulator, prefix each name with SIMCTL_CHILD_).

import Foundation
import XCTest
import BitNet

final class BitNetTests: XCTestCase {
    private var env: [String: String] { ProcessInfo.processInfo.environment }

    private func setting(_ name: String) throws -> String {
        guard let value = env[name] else { throw XCTSkip("\(name) is not set") }
        return value
    }

    private func model() throws -> String { try setting("BITNET_TEST_MODEL") }

    private func options() throws -> GenerationOptions {
        GenerationOptions(
            maxTokens: UInt32(try setting("BITNET_TEST_MAX_TOKENS"))!,
            temperature: Float(try setting("BITNET_TEST_TEMPERATURE"))!,
            topK: UInt32(try setting("BITNET_TEST_TOP_K"))!,
            seed: UInt64(try setting("BITNET_TEST_SEED"))!
        )
    }

    private func texts(_ events: [GenerationEvent]) -> String {
        events.map { event -> String in
            if case let .text(text) = event { return text }
            return ""
        }.joined()
    }

    private func collect(_ stream: AsyncThrowingStream<GenerationEvent, Error>) async throws -> [GenerationEvent] {
        var events: [GenerationEvent] = []
        for try await event in stream { events.append(event) }
        return events
    }

    func testStreamsTheSameTextAsTheCli() async throws {
        let expected = try String(contentsOfFile: try setting("BITNET_TEST_EXPECTED"), encoding: .utf8)
        let engine = try await BitNetEngine.load(path: try model())
        let events = try await collect(try engine.session().generate(try setting("BITNET_TEST_PROMPT"), options: try options()))
        XCTAssertEqual(texts(events), expected)
        guard case let .finished(summary) = events.last else { return XCTFail("no Finished event") }
        XCTAssertEqual(summary.text, expected)
    }

    func testCancellingTheConsumerStopsWithinOneToken() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let session = try engine.session()
        var long = try options()
        long.maxTokens = 200
        var received = 0
        for try await event in session.generate(try setting("BITNET_TEST_PROMPT"), options: long) {
            if case .text = event { received += 1 }
            if received == 3 { break }
        }
        // Leaving the loop cancelled the generation; wait until it has ended.
        var summary = session.lastGeneration()
        while summary == nil {
            try await Task.sleep(nanoseconds: 10_000_000)
            summary = session.lastGeneration()
        }
        XCTAssertEqual(summary?.finishReason, .cancelled)
        // The stream buffers, so the generation may run ahead of the consumer; it still stops
        // far short of max_tokens.
        XCTAssertLessThan(summary!.stats.generatedTokens, 200)
    }

    func testTwoSessionsGenerateConcurrently() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let prompt = try setting("BITNET_TEST_PROMPT")
        let options = try options()
        async let first = collect(try engine.session().generate(prompt, options: options))
        async let second = collect(try engine.session().generate(prompt, options: options))
        let (a, b) = try await (first, second)
        XCTAssertEqual(texts(a), texts(b))
    }

    func testMissingFileIsFileUnreadable() async throws {
        do {
            _ = try await BitNetEngine.load(path: "/nonexistent/model.gguf")
            XCTFail("loaded a missing file")
        } catch BitNetError.FileUnreadable {}
    }

    func testMalformedFileIsInvalidModelFile() async throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("bad.gguf")
        try Data(repeating: 0x47, count: 64).write(to: bad)
        do {
            _ = try await BitNetEngine.load(path: bad.path)
            XCTFail("loaded a malformed file")
        } catch BitNetError.InvalidModelFile {}
    }

    func testPromptOverTheLimitIsPromptTooLong() async throws {
        var config = EngineConfig()
        config.maxInputTokens = 4
        let engine = try await BitNetEngine.load(path: try model(), config: config)
        let prompt = String(repeating: try setting("BITNET_TEST_PROMPT"), count: 8)
        do {
            _ = try await collect(try engine.session().generate(prompt, options: try options()))
            XCTFail("a prompt over the limit was accepted")
        } catch let BitNetError.PromptTooLong(detail, tokens, limit) {
            XCTAssertEqual(limit, 4)
            XCTAssertGreaterThan(tokens, 4)
            XCTAssertTrue(detail.hasPrefix("prompt too long"), detail)
        }
    }

    func testASecondRequestWithinTheRateLimitIsRateLimitedWithWhenToRetry() async throws {
        var config = EngineConfig()
        config.rateLimitPerMinute = 1
        let engine = try await BitNetEngine.load(path: try model(), config: config)
        let session = try engine.session()
        let prompt = try setting("BITNET_TEST_PROMPT")
        _ = try await collect(session.generate(prompt, options: GenerationOptions(maxTokens: 2)))
        do {
            _ = try await collect(session.generate(prompt, options: try options()))
            XCTFail("a second request within the minute was admitted")
        } catch let BitNetError.RateLimited(_, retryAfterMs) {
            XCTAssert((1...60_000).contains(retryAfterMs), "\(retryAfterMs) ms")
        }
    }

    func testUseAfterReleaseIsClosed() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let session = try engine.session()
        engine.release()
        XCTAssertThrowsError(try engine.session()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
        session.release()
        XCTAssertThrowsError(try session.reset()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
    }

    func testABudgetTooSmallIsBudgetExceeded() async throws {
        var config = EngineConfig()
        config.memoryBudgetBytes = 1024
        do {
            _ = try await BitNetEngine.load(path: try model(), config: config)
            XCTFail("a 1 KiB budget was accepted")
        } catch let BitNetError.BudgetExceeded(_, needed, budget, _, fitsProfile) {
            XCTAssertEqual(budget, 1024)
            XCTAssertGreaterThan(needed, budget)
            XCTAssertEqual(fitsProfile, .mobile)
        }
    }

    func testAContextLargerThanTheDeviceIsInsufficientMemory() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        do {
            _ = try engine.session(config: SessionConfig(contextLength: UInt32.max))
            XCTFail("a 4-billion-token context was accepted")
        } catch let BitNetError.InsufficientMemory(_, needed, available) {
            XCTAssertGreaterThan(needed, available)
        }
        engine.release()
    }

    func testAModelFileChangedOnDiskIsModelFileChangedWithItsPath() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("model.gguf")
        try FileManager.default.copyItem(atPath: try model(), toPath: copy.path)
        let engine = try await BitNetEngine.load(path: copy.path)
        let session = try engine.session()
        let handle = try FileHandle(forWritingTo: copy)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 4096))
        try handle.close()
        do {
            _ = try await collect(session.generate(try setting("BITNET_TEST_PROMPT"), options: try options()))
            XCTFail("a grown model file was used")
        } catch let BitNetError.ModelFileChanged(_, path) {
            XCTAssertEqual(path, copy.path)
        }
        session.release()
        engine.release()
    }

    func testTheBuiltInCatalogListsTheOfficialModelAndTheDemo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try ModelStore(dir: dir.path)
        XCTAssertEqual(store.catalog().map(\.id), ["bitnet-b1.58-2b-4t-i2_s", "bitnet-demo-i2_s"])
        XCTAssertEqual(store.catalog()[0].sizeBytes, 1_187_801_280)
        XCTAssertEqual(try store.fits(id: "bitnet-b1.58-2b-4t-i2_s").map(\.fits), [false, false, true, true])
        XCTAssertThrowsError(try store.partialBytes(id: "nope")) { error in
            guard case BitNetError.ModelNotFound = error else { return XCTFail("\(error)") }
        }
    }

    func testTrimReleasesAnIdleSessionWhichAnswersTheSame() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let session = try engine.session()
        let prompt = try setting("BITNET_TEST_PROMPT")
        let first = texts(try await collect(session.generate(prompt, options: try options())))
        try session.reset()
        XCTAssertEqual(try engine.trim().sessions, 1)
        let again = texts(try await collect(session.generate(prompt, options: try options())))
        XCTAssertEqual(first, again)
        session.release()
        engine.release()
    }

    func testADeviceHeatingUpMidGenerationStopsWithTheTextSoFar() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let session = try engine.session()
        var events: [GenerationEvent] = []
        var pieces = 0
        // The fake platform: serious after 2 pieces, critical after 4, reported by the consumer.
        for try await event in session.generate(try setting("BITNET_TEST_PROMPT"), options: GenerationOptions(maxTokens: 1000)) {
            events.append(event)
            if case .text = event { pieces += 1 }
            if pieces == 2 { engine.reportThermal(state: .serious, headroom: nil) }
            if pieces == 4 { engine.reportThermal(state: .critical, headroom: nil) }
        }
        let states = events.compactMap { event -> ThermalState? in
            if case let .thermal(state, _, _) = event { return state }
            return nil
        }
        XCTAssertEqual(states, [.serious, .critical])
        guard case let .finished(summary) = events.last else { return XCTFail("no Finished event") }
        XCTAssertEqual(summary.finishReason, .thermalStop)
        XCTAssertFalse(summary.text.isEmpty)
        XCTAssertEqual(summary.text, texts(events))
        session.release()
        engine.release()
    }

    private func finishReason(_ engine: BitNetEngine) async throws -> FinishReason {
        let session = try engine.session()
        defer { session.release() }
        let events = try await collect(session.generate(try setting("BITNET_TEST_PROMPT"), options: GenerationOptions(maxTokens: 4)))
        guard case let .finished(summary) = events.last else { throw XCTSkip("no Finished event") }
        return summary.finishReason
    }

    // Mirrors EngineSignalsTest.kt: the platform's states reach the engine until detached.
    func testEngineSignalsReachTheEngineUntilDetached() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let signals = EngineSignals(engine: engine)
        signals.onThermalState(.critical)
        XCTAssertEqual(try await finishReason(engine), .thermalStop)
        signals.detach()
        signals.onThermalState(.nominal)
        XCTAssertEqual(try await finishReason(engine), .thermalStop)
        engine.release()
        signals.trim()
    }

    // Mirrors ReportsTest.kt (the CLI's estimate is compared there).
    func testTheLoadedEngineReportsTheEstimateItWasSizedWith() async throws {
        let estimate = try await BitNetEngine.estimate(path: try model())
        let engine = try await BitNetEngine.load(path: try model())
        XCTAssertEqual(try engine.memoryEstimate(), estimate)
        XCTAssertGreaterThan(estimate.totalBytes(contextTokens: estimate.defaultContextTokens), estimate.engineBytes())
        XCTAssertEqual(estimate.maxContextTokens(budgetBytes: 1), 0)
        engine.release()
    }

    func testTheKvPrecisionOptionReachesTheEngine() async throws {
        let f16 = try await BitNetEngine.estimate(path: try model())
        XCTAssertEqual(f16.kvPrecision, .f16)
        let config = EngineConfig(kvPrecision: .f32)
        let f32 = try await BitNetEngine.estimate(path: try model(), config: config)
        XCTAssertEqual(f32.kvPrecision, .f32)
        XCTAssertEqual(f32.kvBytesPerToken, 2 * f16.kvBytesPerToken)
        let engine = try await BitNetEngine.load(path: try model(), config: config)
        XCTAssertEqual(try engine.memoryEstimate(), f32)
        engine.release()
    }

    func testMetricsCountTwoGenerations() async throws {
        let engine = try await BitNetEngine.load(path: try model())
        let session = try engine.session()
        var generated: UInt64 = 0
        for _ in 0..<2 {
            let events = try await collect(session.generate(try setting("BITNET_TEST_PROMPT"), options: try options()))
            guard case let .finished(summary) = events.last else { return XCTFail("no Finished event") }
            generated += UInt64(summary.stats.generatedTokens)
        }
        let metrics = try engine.metrics()
        XCTAssertEqual(metrics.requests, 2)
        XCTAssertEqual(metrics.errors, 0)
        XCTAssertEqual(metrics.generatedTokens, generated)
        session.release()
        engine.release()
    }

    func testProfilePresetsAreTheDefaultConfigWithTheirThreadsAndBudget() {
        let mib: UInt64 = 1 << 20
        let table: [(Profile, UInt32, UInt64)] = [
            (.mobile, 2, 512 * mib), (.edge, 4, 1024 * mib), (.server, 8, 2048 * mib), (.cloud, 16, 4096 * mib),
        ]
        for (profile, threads, budget) in table {
            var expected = EngineConfig()
            expected.threads = threads
            expected.memoryBudgetBytes = budget
            XCTAssertEqual(profileConfig(profile: profile), expected)
            XCTAssertEqual(smallestProfile(bytes: budget), profile)
        }
    }

    func testAnInvalidThermalPolicyIsInvalidOption() async throws {
        var policy = defaultThermalPolicy()
        policy.serious = .run(threadsPercent: 0, pauseMs: 0)
        var config = EngineConfig()
        config.thermalPolicy = policy
        do {
            _ = try await BitNetEngine.load(path: try model(), config: config)
            XCTFail("a 0 % thread share was accepted")
        } catch BitNetError.InvalidOption {}
    }
}
