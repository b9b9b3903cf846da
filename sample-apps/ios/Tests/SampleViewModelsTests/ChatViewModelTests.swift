// Twin of the Compose app's ChatViewModelTest: the chat's state machine against the real engine
// and the demo model, with the replies `bitnet chat` printed.

import BitNet
import Foundation
import SampleViewModels
import XCTest

@MainActor
// XCTest runs each test on the main thread: the instance is only used there (Linux's
// XCTestCase is not Sendable, and the discovered tests hand it to these main-actor methods).
final class ChatViewModelTests: XCTestCase, @unchecked Sendable {
    /// A chat over `env` with the bundled demo model selected (closed by the teardown).
    private func chat(_ env: SampleEnvironment) async throws -> ChatViewModel {
        let vm = ChatViewModel(env: env)
        addTeardownBlock { vm.close() }
        let bundled = try await waitFor({ vm.state }, until: { $0.models.contains { $0.source == .bundled } }).models[0]
        vm.select(bundled)
        return vm
    }

    private func ready(_ vm: ChatViewModel) async throws -> ChatUiState {
        try await waitFor({ vm.state }, until: { $0.ready || $0.error != nil })
    }

    /// Sends `text` and waits for its reply to end.
    private func say(_ vm: ChatViewModel, _ text: String) async throws -> ChatTurn {
        let before = vm.state.turns.count
        vm.draft = text
        vm.send()
        let state = try await waitFor({ vm.state }, until: {
            !$0.generating && $0.turns.count == before + 1 && $0.turns.last?.status != .streaming
        })
        return state.turns[before]
    }

    // `replies stream in and equal the CLI's, turn after turn`
    func testRepliesStreamInAndEqualTheCLIsTurnAfterTurn() async throws {
        let vm = try await chat(Fixtures.env(self))
        let loaded = try await ready(vm)
        XCTAssertTrue(loaded.ready)
        let expected = try Fixtures.greedyReplies()
        // Every state seen while the first reply streams shows a prefix of the final text.
        let (seen, first) = try await observing({ vm.state.turns.first }) {
            try await say(vm, Fixtures.greedyPrompts[0])
        }
        XCTAssertEqual(first.reply, expected[0])
        XCTAssertEqual(first.finishReason, .endOfText)
        let turns = seen.compactMap { $0 }
        XCTAssertTrue(turns.contains { $0.status == .streaming })
        XCTAssertTrue(turns.allSatisfy { first.reply.hasPrefix($0.reply) }, "\(turns.map(\.reply))")
        let second = try await say(vm, Fixtures.greedyPrompts[1])
        XCTAssertEqual(second.reply, expected[1])
        // The second turn continued the session: its history came from the cache.
        XCTAssertGreaterThan(try XCTUnwrap(second.stats).cachedTokens, 0)
        let stats = try XCTUnwrap(first.stats)
        XCTAssertTrue(stats.timeToFirstTokenMs > 0 && stats.decodeTokensPerS > 0)
        let status = try XCTUnwrap(vm.state.status)
        XCTAssertEqual(status.thermal, .nominal)
        XCTAssertGreaterThan(try XCTUnwrap(status.threads), 0)
        XCTAssertGreaterThan(status.neededBytes, 0)
    }

    // `the system prompt and sampling settings reach the engine as the CLI's options do`
    func testTheSystemPromptAndSamplingSettingsReachTheEngineAsTheCLIsOptionsDo() async throws {
        let vm = try await chat(Fixtures.env(self))
        _ = try await ready(vm)
        vm.updateSettings(ChatSettings(systemPrompt: "You are terse.", temperature: 0.8, topK: 40, seed: 7))
        let reply = try await say(vm, "Define cynic.").reply
        XCTAssertEqual(reply, try Fixtures.sampledReply())
    }

    // `stop keeps the partial reply, marked, and the next turn continues after it`
    func testStopKeepsThePartialReplyMarkedAndTheNextTurnContinuesAfterIt() async throws {
        let vm = try await chat(Fixtures.env(self, loader: RecordingLoader.warm()))
        _ = try await ready(vm)
        vm.draft = "Define cynic."
        vm.send()
        _ = try await waitFor({ vm.state }, until: { !($0.turns.first?.reply.isEmpty ?? true) })
        vm.stop()
        let stopped = try await waitFor({ vm.state }, until: { !$0.generating && $0.turns.count == 1 }).turns[0]
        XCTAssertEqual(stopped.status, .stopped)
        XCTAssertEqual(stopped.finishReason, .cancelled)
        let full = "A blackguard whose faulty vision sees things as they are, not as they ought to be."
        XCTAssertTrue(!stopped.reply.isEmpty && full.hasPrefix(stopped.reply) && stopped.reply != full, stopped.reply)
        XCTAssertEqual(vm.state.status?.thermal, .fair)
        let next = try await say(vm, Fixtures.greedyPrompts[0])
        XCTAssertEqual(next.status, .complete)
        XCTAssertEqual(next.reply, "42")
        // The partial reply is part of the history the next turn was evaluated after.
        XCTAssertGreaterThan(try XCTUnwrap(next.stats).cachedTokens, 0)
        XCTAssertEqual(vm.state.turns.map(\.status), [.stopped, .complete])
    }

    // `a budget too small is BudgetExceeded in the banner, with the numbers and the profile that fits`
    func testABudgetTooSmallIsBudgetExceededInTheBannerWithTheNumbersAndTheProfileThatFits() async throws {
        let vm = try await chat(Fixtures.env(self, budget: 1024))
        let loaded = try await ready(vm)
        let error = try XCTUnwrap(loaded.error)
        let thrown: BitNetError
        do {
            let engine = try await BitNetEngine.load(path: Fixtures.demoModel(), config: EngineConfig(memoryBudgetBytes: 1024))
            engine.release()
            return XCTFail("the demo model loaded under a 1 KiB budget")
        } catch let failure as BitNetError {
            thrown = failure
        }
        guard case let .BudgetExceeded(_, needed, _, _, fitsProfile) = thrown else { return XCTFail("\(thrown)") }
        XCTAssertEqual(error, UserError(thrown))
        XCTAssertEqual(error.title, "Model does not fit the memory budget")
        XCTAssertTrue(error.message.contains(exactBytes(needed)) && error.message.contains(exactBytes(1024)), error.message)
        XCTAssertEqual(fitsProfile, .mobile)
        XCTAssertTrue(error.message.contains("MOBILE"), error.message)
        XCTAssertFalse(vm.state.ready)
    }

    // `a failed turn leaves the conversation unchanged, and retry sends it again`
    func testAFailedTurnLeavesTheConversationUnchangedAndRetrySendsItAgain() async throws {
        let vm = try await chat(Fixtures.env(self))
        _ = try await ready(vm)
        let expected = try Fixtures.greedyReplies()
        vm.updateSettings(ChatSettings(topP: 0))
        let failed = try await say(vm, Fixtures.greedyPrompts[0])
        XCTAssertEqual(failed.status, .failed)
        XCTAssertEqual(vm.state.error?.title, "Invalid sampling setting")
        vm.updateSettings(ChatSettings())
        vm.retry()
        let retried = try await waitFor({ vm.state }, until: {
            !$0.generating && $0.turns.count == 1 && $0.turns[0].status == .complete
        })
        XCTAssertNil(retried.error)
        XCTAssertEqual(retried.turns[0].reply, expected[0])
        // The failed attempt left no trace: the second turn is the CLI's second turn.
        let second = try await say(vm, Fixtures.greedyPrompts[1])
        XCTAssertEqual(second.reply, expected[1])
    }

    // `new chat forgets the conversation but keeps the model`
    func testNewChatForgetsTheConversationButKeepsTheModel() async throws {
        let vm = try await chat(Fixtures.env(self))
        _ = try await ready(vm)
        _ = try await say(vm, Fixtures.greedyPrompts[1])
        vm.newChat()
        _ = try await waitFor({ vm.state }, until: { $0.turns.isEmpty })
        let fresh = try await say(vm, Fixtures.greedyPrompts[0])
        XCTAssertEqual(fresh.reply, try Fixtures.greedyReplies()[0])
        let stats = try XCTUnwrap(fresh.stats)
        XCTAssertNotEqual(stats.promptTokens, 0)
        XCTAssertEqual(stats.cachedTokens, 0)
    }

    // `a model opened by path joins the picker, and a missing file is a readable error`
    func testAModelOpenedByPathJoinsThePickerAndAMissingFileIsAReadableError() async throws {
        let vm = try await chat(Fixtures.env(self))
        _ = try await ready(vm)
        vm.openFile("/nonexistent/model.gguf")
        let failed = try await waitFor({ vm.state }, until: { $0.selected?.source == .file && !$0.loading && $0.error != nil })
        XCTAssertEqual(failed.error?.title, "Cannot read the model file")
        XCTAssertFalse(failed.ready)
        let demo = try Fixtures.demoModel()
        vm.openFile(demo)
        let opened = try await waitFor({ vm.state }, until: { $0.selected?.path == demo && $0.ready })
        XCTAssertEqual(opened.models.map(\.source), [.bundled, .file, .file])
        let reply = try await say(vm, Fixtures.greedyPrompts[0]).reply
        XCTAssertEqual(reply, try Fixtures.greedyReplies()[0])
    }
}
