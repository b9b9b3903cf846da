// The chat's state machine: load a model, stream replies, stop, retry, start over.

import BitNet
import Foundation
import Observation

/// One conversation with a model picked from the bundled demo, the store's installed models or
/// a file path.
///
/// Everything runs on the main actor. A reply streams into the last `ChatTurn`; `stop()`
/// cancels it before its next token and the partial text stays in the conversation, which the
/// next turn continues. A failed turn leaves the conversation unchanged and can be retried
/// (`retry()`). Loads run one after another, each releasing the engine the one before made.
@MainActor
@Observable
public final class ChatViewModel {
    /// What the screen shows.
    public private(set) var state: ChatUiState

    @ObservationIgnored private let env: SampleEnvironment
    @ObservationIgnored private var engine: AttachedEngine?
    @ObservationIgnored private var session: ChatSession?
    @ObservationIgnored private var generation: Task<Void, Never>?
    /// The last load asked for; the next one waits for it.
    @ObservationIgnored private var loads: Task<Void, Never>?
    /// The files opened by path, in the picker after the bundled and installed models.
    @ObservationIgnored private var files: [ModelOption] = []
    /// The system prompt goes with the first turn that succeeds after a (re)start.
    @ObservationIgnored private var systemPending = true

    /// A chat over `env`; lists the models at once.
    public init(env: SampleEnvironment) {
        self.env = env
        state = ChatUiState(settings: ChatSettings(memoryBudgetBytes: env.deviceBudgetBytes))
        refreshModels()
    }

    /// Lists the bundled model, the installed ones and the files opened so far.
    public func refreshModels() {
        Task {
            var options: [ModelOption] = []
            do {
                options = try await env.modelOptions()
            } catch {
                state.error = UserError(error)
            }
            state.models = options + files
        }
    }

    /// Adds the model file at `path` to the picker and loads it.
    public func openFile(_ path: String) {
        let option = ModelOption(label: URL(fileURLWithPath: path).lastPathComponent, path: path, source: .file)
        if !files.contains(option) { files.append(option) }
        state.models = state.models.filter { $0.source != .file } + files
        load(option)
    }

    /// Loads `option`'s model (releasing the current one); the conversation starts over.
    public func select(_ option: ModelOption) {
        load(option)
    }

    /// Applies `settings`; a changed thread limit or budget loads the model again.
    public func updateSettings(_ settings: ChatSettings) {
        let reload = state.settings.needsReload(settings)
        state.settings = settings
        if reload, let selected = state.selected { load(selected) }
    }

    /// The input field's text (`state.draft`), settable for the field's binding.
    public var draft: String {
        get { state.draft }
        set { state.draft = newValue }
    }

    /// Sends the draft as the next user turn.
    public func send() {
        guard state.canSend else { return }
        let prompt = state.draft.trimmingCharacters(in: .whitespacesAndNewlines)
        state.draft = ""
        startTurn(prompt)
    }

    /// Stops the reply being generated before its next token; its text so far is kept.
    public func stop() {
        session?.cancel()
    }

    /// Sends the failed last turn's prompt again.
    public func retry() {
        guard let last = state.turns.last, last.status == .failed, !state.generating, session != nil else { return }
        state.turns.removeLast()
        state.error = nil
        startTurn(last.prompt)
    }

    /// Forgets the conversation (the model stays loaded).
    public func newChat() {
        Task {
            session?.cancel()
            await generation?.value
            do {
                try session?.reset()
                systemPending = true
                state.turns = []
                state.error = nil
            } catch {
                state.error = UserError(error)
            }
        }
    }

    /// Hides the error banner.
    public func dismissError() {
        state.error = nil
    }

    /// Stops what runs and releases the engine; the view-model does nothing afterwards.
    public func close() {
        loads?.cancel()
        generation?.cancel()
        session?.release()
        engine?.release()
        session = nil
        engine = nil
    }

    private func load(_ option: ModelOption) {
        let previous = loads
        loads = Task {
            await previous?.value
            await release()
            state.selected = option
            state.loading = true
            state.ready = false
            state.turns = []
            state.status = nil
            state.error = nil
            do {
                let loaded = try await env.loader.load(path: option.path, config: state.settings.engineConfig)
                // Closed while loading: nobody will release it later.
                guard !Task.isCancelled else { return loaded.release() }
                engine = loaded
                session = try loaded.engine.session()
                systemPending = true
                state.loading = false
                state.ready = true
                refreshStatus(threads: nil)
            } catch {
                state.loading = false
                state.error = UserError(error)
            }
        }
    }

    private func startTurn(_ prompt: String) {
        guard let session else { return }
        let settings = state.settings
        var messages: [ChatMessage] = []
        if systemPending && !settings.systemPrompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            messages.append(ChatMessage(role: .system, content: settings.systemPrompt))
        }
        messages.append(ChatMessage(role: .user, content: prompt))
        state.turns.append(ChatTurn(prompt: prompt))
        state.generating = true
        state.error = nil
        generation = Task {
            var threads = state.status?.threads
            do {
                for try await event in session.generate(messages, options: settings.options) {
                    switch event {
                    case let .text(text):
                        updateLast { $0.reply += text }
                    case let .thermal(_, now, _):
                        threads = now
                        refreshStatus(threads: now)
                    case let .finished(summary):
                        threads = summary.stats.kernelThreads
                        updateLast { Self.finish(&$0, summary) }
                    }
                }
                systemPending = false
            } catch {
                updateLast { $0.status = .failed }
                state.error = UserError(error)
            }
            state.generating = false
            refreshStatus(threads: threads)
        }
    }

    private static func finish(_ turn: inout ChatTurn, _ summary: GenerationSummary) {
        turn.reply = summary.text
        turn.status = switch summary.finishReason {
        case .cancelled: .stopped
        case .thermalStop: .thermalStopped
        default: .complete
        }
        turn.finishReason = summary.finishReason
        turn.stats = ReplyStats(summary.stats)
    }

    private func updateLast(_ change: (inout ChatTurn) -> Void) {
        change(&state.turns[state.turns.count - 1])
    }

    /// Reads the engine's health for the status row; `threads` are the latest reported.
    private func refreshStatus(threads: UInt32?) {
        guard let engine = engine?.engine else { return }
        do {
            let health = try engine.health()
            let estimate = try engine.memoryEstimate()
            let budget = state.settings.memoryBudgetBytes
            let context = budget.map { min(estimate.maxContextTokens(budgetBytes: $0), estimate.defaultContextTokens) }
                ?? estimate.defaultContextTokens
            state.status = EngineStatus(
                thermal: health.metrics.thermalState, threads: threads, residentBytes: health.metrics.residentBytes,
                budgetBytes: budget, neededBytes: estimate.totalBytes(contextTokens: context),
                alerts: health.alerts.map(\.text))
        } catch BitNetError.Closed {
            // Released while this ran: nothing to show.
        } catch {
            state.error = UserError(error)
        }
    }

    /// Stops the reply in flight, then releases the session and the engine.
    private func release() async {
        session?.cancel()
        await generation?.value
        session?.release()
        engine?.release()
        session = nil
        engine = nil
    }
}
