// Twin of android/jvm/bitnet-jvm/src/test/kotlin/dev/bitnet/BitNetTest.kt: the Swift package end
// to end against the host libbitnet_ffi.so and the synthetic model scripts/test-swift.sh makes
// (Fixture.swift), case by case; the Swift-only cases (the stream's turn order, task
// cancellation) follow them.

import Foundation
import XCTest
import BitNet

final class BitNetTests: XCTestCase {
    // `the Flow streams the same text as the CLI`
    func testTheStreamStreamsTheSameTextAsTheCli() async throws {
        let expected = try Fixture.expected()
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let events = try await collect(try engine.session().generate(try Fixture.prompt(), options: try Fixture.options()))
        let summary = try summary(events)
        XCTAssertEqual(texts(events), expected)
        XCTAssertEqual(summary.text, expected)
        XCTAssertEqual(events.filter { if case .finished = $0 { return true } else { return false } }.count, 1)
        XCTAssertGreaterThan(summary.stats.generatedTokens, 0)
    }

    // `chat messages get a reply`
    func testChatMessagesGetAReply() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let messages = [ChatMessage(role: .user, content: "Hello")]
        let events = try await collect(try engine.session().generate(messages, options: GenerationOptions(maxTokens: 8)))
        let summary = try summary(events)
        XCTAssertEqual(summary.text, texts(events))
        XCTAssert((1...8).contains(summary.stats.generatedTokens), "\(summary.stats.generatedTokens) tokens")
    }

    // `cancelling the collector stops the Rust side within one token`, and the next turn runs.
    func testLeavingTheLoopStopsTheRustSideWithinOneTokenAndTheNextTurnRuns() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let session = try engine.session()
        var long = try Fixture.options()
        long.maxTokens = 200
        // buffer 0: each event is handed over before the next token, so what was generated is
        // tied to what was received (Kotlin's Channel.RENDEZVOUS).
        var received: [GenerationEvent] = []
        for try await event in session.generate(try Fixture.prompt(), options: long, buffer: 0) {
            received.append(event)
            if received.count == 3 { break }
        }
        // Leaving the loop cancelled the generation; it stops before its next token.
        try await eventually { session.lastGeneration() != nil }
        let cancelled = try XCTUnwrap(session.lastGeneration())
        XCTAssertEqual(cancelled.finishReason, .cancelled)
        // With this model, prompt and seed each of the first tokens decodes to a piece, so 3
        // pieces are 3 tokens; at most the one being handed over when the loop left follows.
        XCTAssertLessThanOrEqual(cancelled.stats.generatedTokens, 4)
        XCTAssertTrue(cancelled.text.hasPrefix(texts(received)))
        // The next turn on the same session runs to its end.
        let next = try summary(try await collect(session.generate(try Fixture.prompt(), options: try Fixture.options())))
        XCTAssertNotEqual(next.finishReason, .cancelled)
        XCTAssertGreaterThan(next.stats.generatedTokens, 0)
        session.release()
    }

    // Swift only: the next turn started right after leaving the loop (while the cancelled
    // generation may still be handing over its last event, and cancelling again) is never
    // cancelled itself.
    func testATurnStartedRightAfterLeavingTheLoopIsNotCancelled() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let session = try engine.session()
        let options = try Fixture.options()
        for round in 0..<10 {
            for try await _ in session.generate(try Fixture.prompt(), options: GenerationOptions(maxTokens: 200), buffer: 0) {
                break
            }
            let next = try summary(try await collect(session.generate(try Fixture.prompt(), options: options)))
            XCTAssertNotEqual(next.finishReason, .cancelled, "round \(round)")
            try session.reset()
        }
        session.release()
    }

    // Swift only: cancelling the task running the loop ends the loop without an error and
    // cancels the generation.
    func testCancellingTheConsumingTaskCancelsTheGeneration() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let session = try engine.session()
        let prompt = try Fixture.prompt()
        let (firstPiece, pieces) = AsyncStream.makeStream(of: Void.self)
        let consumer = Task {
            var count = 0
            for try await event in session.generate(prompt, options: GenerationOptions(maxTokens: 1000), buffer: 0) {
                if case .text = event {
                    count += 1
                    pieces.yield()
                }
            }
            return count
        }
        for await _ in firstPiece { break }
        consumer.cancel()
        let count = try await consumer.value
        XCTAssertGreaterThan(count, 0)
        try await eventually { session.lastGeneration() != nil }
        let summary = try XCTUnwrap(session.lastGeneration())
        XCTAssertEqual(summary.finishReason, .cancelled)
        XCTAssertLessThan(summary.stats.generatedTokens, 1000)
        session.release()
    }

    // Swift only: the stream is cold, as a Flow is: each loop over it runs one generation.
    func testEachLoopOverAStreamRunsOneGeneration() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let session = try engine.session()
        let stream = session.generate(try Fixture.prompt(), options: GenerationOptions(maxTokens: 2))
        XCTAssertNil(session.lastGeneration(), "nothing runs before a loop starts")
        _ = try await collect(stream)
        _ = try await collect(stream)
        XCTAssertEqual(try engine.metrics().requests, 2)
        session.release()
    }

    // `two sessions generate concurrently`
    func testTwoSessionsGenerateConcurrently() async throws {
        let expected = try Fixture.expected()
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let prompt = try Fixture.prompt()
        let options = try Fixture.options()
        var first = try engine.session().generate(prompt, options: options, buffer: 0).makeAsyncIterator()
        // The first generation is now parked mid-reply, its session held; the second session
        // runs a whole generation meanwhile.
        let head = try await XCTUnwrapAsync(try await first.next())
        let second = try await collect(try engine.session().generate(prompt, options: options))
        var rest: [GenerationEvent] = [head]
        while let event = try await first.next() { rest.append(event) }
        XCTAssertEqual(texts(second), expected)
        XCTAssertEqual(texts(rest), expected)
    }

    // `a missing file is FileUnreadable`
    func testAMissingFileIsFileUnreadable() async throws {
        let detail = await assertThrowsBitNet({ _ = try await BitNetEngine.load(path: "/nonexistent/model.gguf") }) {
            if case let .FileUnreadable(detail) = $0 { return detail }
            return nil
        }
        XCTAssertNotNil(detail)
    }

    // `a malformed file is InvalidModelFile`
    func testAMalformedFileIsInvalidModelFile() async throws {
        let bad = try temporaryDirectory(self).appendingPathComponent("bad.gguf")
        try Data(repeating: 0x47, count: 64).write(to: bad)
        let detail = await assertThrowsBitNet({ _ = try await BitNetEngine.load(path: bad.path) }) {
            if case let .InvalidModelFile(detail) = $0 { return detail }
            return nil
        }
        XCTAssertNotNil(detail)
    }

    // `a prompt over the input limit is PromptTooLong, with its numbers`
    func testAPromptOverTheInputLimitIsPromptTooLongWithItsNumbers() async throws {
        var config = EngineConfig()
        config.maxInputTokens = 4
        let small = try await BitNetEngine.load(path: try Fixture.model(), config: config)
        defer { small.release() }
        let session = try small.session()
        let prompt = String(repeating: try Fixture.prompt(), count: 8)
        let options = try Fixture.options()
        let fields = await assertThrowsBitNet({ _ = try await collect(session.generate(prompt, options: options)) }) {
            if case let .PromptTooLong(detail, tokens, limit) = $0 { return (detail, tokens, limit) }
            return nil
        }
        let (detail, tokens, limit) = try XCTUnwrap(fields)
        XCTAssertEqual(limit, 4)
        XCTAssertGreaterThan(tokens, 4)
        XCTAssertTrue(detail.hasPrefix("prompt too long"), detail)
    }

    // `a second request within the rate limit's minute is RateLimited, with when to retry`
    func testASecondRequestWithinTheRateLimitsMinuteIsRateLimitedWithWhenToRetry() async throws {
        var config = EngineConfig()
        config.rateLimitPerMinute = 1
        let limited = try await BitNetEngine.load(path: try Fixture.model(), config: config)
        defer { limited.release() }
        let session = try limited.session()
        let prompt = try Fixture.prompt()
        let options = try Fixture.options()
        _ = try await collect(session.generate(prompt, options: GenerationOptions(maxTokens: 2)))
        let retryAfterMs = await assertThrowsBitNet({ _ = try await collect(session.generate(prompt, options: options)) }) {
            if case let .RateLimited(_, retryAfterMs) = $0 { return retryAfterMs }
            return nil
        }
        let wait = try XCTUnwrap(retryAfterMs)
        XCTAssert((1...60_000).contains(wait), "\(wait) ms")
    }

    // `use after release is Closed`
    func testUseAfterReleaseIsClosed() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        let session = try engine.session()
        let prompt = try Fixture.prompt()
        let options = try Fixture.options()
        engine.release()
        XCTAssertThrowsError(try engine.session()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
        // The open session keeps the model: it still generates.
        _ = try await collect(session.generate(prompt, options: GenerationOptions(maxTokens: 2)))
        session.release()
        let closed = await assertThrowsBitNet({ _ = try await collect(session.generate(prompt, options: options)) }) {
            if case .Closed = $0 { return true }
            return nil
        }
        XCTAssertEqual(closed, true)
        XCTAssertThrowsError(try session.reset()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
    }

    // `a budget too small for the model is BudgetExceeded with the numbers, not a crash`
    func testABudgetTooSmallForTheModelIsBudgetExceededWithTheNumbers() async throws {
        var config = EngineConfig()
        config.memoryBudgetBytes = 1024
        let model = try Fixture.model()
        let fields = await assertThrowsBitNet({ _ = try await BitNetEngine.load(path: model, config: config) }) {
            if case let .BudgetExceeded(_, needed, budget, _, fitsProfile) = $0 { return (needed, budget, fitsProfile) }
            return nil
        }
        let (needed, budget, fitsProfile) = try XCTUnwrap(fields)
        XCTAssertEqual(budget, 1024)
        XCTAssertGreaterThan(needed, budget)
        // The tiny model fits the smallest profile.
        XCTAssertEqual(fitsProfile, .mobile)
    }

    // `a context larger than the device's memory is InsufficientMemory, not a crash`
    func testAContextLargerThanTheDevicesMemoryIsInsufficientMemory() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        XCTAssertThrowsError(try engine.session(config: SessionConfig(contextLength: UInt32.max))) { error in
            guard case let BitNetError.InsufficientMemory(_, needed, available) = error else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(needed, available, "\(needed) bytes needed, \(available) available")
        }
    }

    // `a model file changed on disk while loaded is ModelFileChanged with its path`
    func testAModelFileChangedOnDiskWhileLoadedIsModelFileChangedWithItsPath() async throws {
        let copy = try temporaryDirectory(self).appendingPathComponent("model.gguf")
        try FileManager.default.copyItem(atPath: try Fixture.model(), toPath: copy.path)
        let engine = try await BitNetEngine.load(path: copy.path)
        let session = try engine.session()
        let handle = try FileHandle(forWritingTo: copy)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 4096))
        try handle.close()
        let prompt = try Fixture.prompt()
        let options = try Fixture.options()
        let path = await assertThrowsBitNet({ _ = try await collect(session.generate(prompt, options: options)) }) {
            if case let .ModelFileChanged(_, path) = $0 { return path }
            return nil
        }
        XCTAssertEqual(path, copy.path)
        session.release()
        engine.release()
    }

    // `trim releases an idle session's buffers and it still answers the same`
    func testTrimReleasesAnIdleSessionsBuffersAndItStillAnswersTheSame() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        let session = try engine.session()
        let prompt = try Fixture.prompt()
        let first = texts(try await collect(session.generate(prompt, options: try Fixture.options())))
        try session.reset()
        XCTAssertEqual(try engine.trim().sessions, 1)
        let again = texts(try await collect(session.generate(prompt, options: try Fixture.options())))
        XCTAssertEqual(first, again)
        session.release()
        engine.release()
        XCTAssertThrowsError(try engine.trim()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
    }

    // `a device heating up mid-generation throttles then stops with the text so far`
    func testADeviceHeatingUpMidGenerationThrottlesThenStopsWithTheTextSoFar() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        let session = try engine.session()
        var events: [GenerationEvent] = []
        var pieces = 0
        // The fake platform: serious after 2 pieces, critical after 4, reported by the consumer.
        // buffer 0: the engine cannot run ahead of the consumer, so it hands over piece 3 only
        // after the serious report and checks the state again before piece 4: it sees serious
        // before critical is reported (with a buffer both could land between two checks).
        for try await event in session.generate(try Fixture.prompt(), options: GenerationOptions(maxTokens: 1000), buffer: 0) {
            events.append(event)
            if case .text = event {
                pieces += 1
                if pieces == 2 { engine.reportThermal(state: .serious, headroom: nil) }
                if pieces == 4 { engine.reportThermal(state: .critical, headroom: nil) }
            }
        }
        XCTAssertEqual(thermalStates(events), [.serious, .critical])
        let summary = try summary(events)
        XCTAssertEqual(summary.finishReason, .thermalStop)
        XCTAssertFalse(summary.text.isEmpty)
        XCTAssertEqual(summary.text, texts(events))
        XCTAssertEqual(summary.stats.thermalState, .critical)
        XCTAssertEqual(summary.stats.throttleEvents, 2)
        session.release()
        engine.release()
    }
}

/// `XCTUnwrap` for a value computed by an async expression.
func XCTUnwrapAsync<T>(
    _ value: @autoclosure () async throws -> T?, file: StaticString = #filePath, line: UInt = #line
) async throws -> T {
    let result = try await value()
    return try XCTUnwrap(result, file: file, line: line)
}
