// The benchmark's state machine: the device and model cards, timed runs, a sustained run under
// a scripted thermal schedule, the history and its JSON export.

import BitNet
import Foundation
import Observation

/// Measures a model through the public API, as an app would. Timed runs are the engine's own
/// benchmark (`BitNetEngine.runBenchmark`, what `bitnet bench` runs): `BenchSettings.runs`
/// repetitions of `BenchSettings.promptTokens` prefilled and `BenchSettings.genTokens` decoded
/// tokens after an untimed warm-up, with the memory-copy bandwidth measured beside each;
/// `cancel()` stops one and keeps the repetitions it finished.
///
/// A sustained run generates back to back for `BenchSettings.sustainedSeconds`, counting the
/// streamed pieces per `BenchSettings.sampleMs` interval, while `BenchSettings.schedule` reports
/// scripted thermal states to the engine (`reportThermal`); every `GenerationEvent.thermal` the
/// engine sends back becomes a `ThermalMark`, and a thermal stop ends the run. A scripted run
/// leaves the engine at `.nominal` again. Everything runs on the main actor.
@MainActor
@Observable
public final class BenchViewModel {
    /// What the screen shows.
    public private(set) var state: BenchUiState

    /// The model path and thread limit an engine was loaded with.
    private struct EngineKey: Equatable {
        let path: String
        let threads: UInt32
    }

    @ObservationIgnored private let env: SampleEnvironment
    @ObservationIgnored private var loaded: AttachedEngine?
    @ObservationIgnored private var loadedKey: EngineKey?
    /// The running benchmark.
    @ObservationIgnored private var job: Task<Void, Never>?
    /// Whether `cancel()` asked the running timed runs to stop (before their engine loaded, too).
    @ObservationIgnored private var stopRequested = false

    /// The sustained run's prompt; raw text (no chat template).
    private static let sentence = "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun. "
    /// Tokens per generation of a sustained run (the run restarts a session when one ends).
    private static let sustainedTokens: UInt32 = 256

    /// A benchmark over `env`; lists the models and selects the first at once.
    public init(env: SampleEnvironment) {
        self.env = env
        state = BenchUiState(device: env.device)
        refreshModels()
    }

    /// Lists the bundled and installed models; selects the first if none is selected.
    public func refreshModels() {
        Task {
            do {
                let options = try await env.modelOptions()
                state.models = options
                if state.selected == nil, let first = options.first { await estimate(first) }
            } catch {
                state.error = UserError(error)
            }
        }
    }

    /// Selects `option`: its memory estimate and profile fit, from the file's header.
    public func select(_ option: ModelOption) {
        Task { await estimate(option) }
    }

    /// What the next run does (`state.settings`), settable for the settings' bindings.
    public var settings: BenchSettings {
        get { state.settings }
        set {
            state.settings = newValue
            state.scheduleText = newValue.schedule.description
            state.scheduleError = nil
        }
    }

    /// The thermal schedule as typed (`state.scheduleText`): text that parses applies at once,
    /// other text leaves the schedule in force and sets `state.scheduleError`.
    public var scheduleText: String {
        get { state.scheduleText }
        set {
            state.scheduleText = newValue
            do {
                state.settings.schedule = try ThermalSchedule(parsing: newValue)
                state.scheduleError = nil
            } catch {
                state.scheduleError = "\(error)"
            }
        }
    }

    /// Runs the timed benchmark; its result joins the history.
    public func run() {
        start(.runs) { try await self.timedRuns() }
    }

    /// Runs the sustained benchmark, drawn live as it goes.
    public func runSustained() {
        start(.sustained) { try await self.sustainedRun() }
    }

    /// Stops what is running; what was measured so far stays: timed runs return the
    /// repetitions they finished (the engine's `cancelBenchmark()`), a sustained run keeps its
    /// samples.
    public func cancel() {
        if state.activity == .runs {
            stopRequested = true
            loaded?.engine.cancelBenchmark()
        } else {
            job?.cancel()
        }
    }

    /// Puts the history (and the last sustained run) as JSON in `state.export`.
    public func export() {
        state.export = BenchJson.encode(
            device: state.device, estimate: state.estimate, history: state.history, sustained: state.sustained)
    }

    /// Hides the error banner.
    public func dismissError() {
        state.error = nil
    }

    /// Stops what runs and releases the engine; the view-model does nothing afterwards.
    public func close() {
        job?.cancel()
        loaded?.release()
        loaded = nil
    }

    private func start(_ activity: BenchActivity, _ body: @escaping @MainActor () async throws -> Void) {
        guard state.activity == .idle, state.selected != nil else { return }
        state.activity = activity
        state.error = nil
        stopRequested = false
        job = Task {
            do {
                try await body()
            } catch is CancellationError {
                // Cancelled: what was measured stays.
            } catch {
                state.error = UserError(error)
            }
            state.activity = .idle
            state.progress = nil
            state.sustained?.running = false
        }
    }

    private func timedRuns() async throws {
        let settings = state.settings
        let engine = try await engine()
        if stopRequested { return }
        state.progress = "\(settings.runs) runs of \(settings.promptTokens) + \(settings.genTokens) tokens"
        var config = defaultBenchConfig()
        config.promptTokens = settings.promptTokens
        config.genTokens = settings.genTokens
        config.reps = UInt32(clamping: settings.runs)
        let report = try await engine.runBenchmark(config)
        guard report.reps > 0 else { return }
        let result = BenchResult(model: state.selected?.label ?? "", at: Date(), report: report)
        state.latest = result
        state.history.append(result)
    }

    private func sustainedRun() async throws {
        let settings = state.settings
        let engine = try await engine()
        // One sentence: the run is about decoding, and each restarted session prefills it again.
        let prompt = Prompt.text(text: Self.sentence)
        // The warm-up tells the threads and state in force before any scripted change.
        let warm = try await Self.summary(engine, prompt, GenerationOptions(maxTokens: 4)).stats
        var threads = warm.kernelThreads
        var thermal = warm.thermalState
        state.sustained = SustainedTrace(seconds: settings.sustainedSeconds, schedule: settings.schedule)
        state.startThreads = threads
        let clock = ContinuousClock()
        let started = clock.now
        func elapsed() -> Double {
            let parts = (clock.now - started).components
            return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        }
        let script = Task { [steps = settings.schedule.steps] in
            for step in steps {
                try await clock.sleep(until: started + .milliseconds(step.atMs))
                engine.reportThermal(state: step.state, headroom: nil)
            }
        }
        defer {
            script.cancel()
            if !settings.schedule.steps.isEmpty { engine.reportThermal(state: .nominal, headroom: nil) }
        }
        var pieces = 0
        var from = 0.0
        var thermalStop = false
        while !thermalStop && !Task.isCancelled && elapsed() < settings.sustainedSeconds {
            let session = try engine.session()
            defer { session.release() }
            for try await event in session.generate(prompt, options: GenerationOptions(maxTokens: Self.sustainedTokens)) {
                let now = elapsed()
                switch event {
                case .text:
                    pieces += 1
                    if now - from >= Double(settings.sampleMs) / 1000 {
                        state.sustained?.samples.append(
                            SustainedSample(tS: now, tokensPerS: Double(pieces) / (now - from), state: thermal, threads: threads))
                        pieces = 0
                        from = now
                    }
                    if now >= settings.sustainedSeconds { session.cancel() }
                case let .thermal(newState, newThreads, pauseMs):
                    thermal = newState
                    threads = newThreads
                    state.sustained?.marks.append(ThermalMark(tS: now, state: newState, threads: newThreads, pauseMs: pauseMs))
                case let .finished(summary):
                    thermalStop = summary.finishReason == .thermalStop
                }
            }
        }
        let end = elapsed()
        if end > from {
            state.sustained?.samples.append(
                SustainedSample(tS: end, tokensPerS: Double(pieces) / (end - from), state: thermal, threads: threads))
        }
        state.sustained?.thermalStopS = thermalStop ? end : nil
        state.sustained?.running = false
    }

    private func estimate(_ option: ModelOption) async {
        state.selected = option
        state.estimate = nil
        state.profiles = []
        state.error = nil
        do {
            let estimate = try await BitNetEngine.estimate(path: option.path, config: config())
            var rows: [ProfileRow] = []
            for profile in Profile.all {
                // Each profile's own estimate: the mobile one leaves the mapped weights out.
                let config = profileConfig(profile: profile)
                let own = try await BitNetEngine.estimate(path: option.path, config: config)
                let budget = config.memoryBudgetBytes
                let fitting = budget.map { own.maxContextTokens(budgetBytes: $0) } ?? own.defaultContextTokens
                rows.append(ProfileRow(
                    profile: profile, budgetBytes: budget, contextTokens: min(fitting, own.defaultContextTokens),
                    fits: fitting >= own.minContextTokens))
            }
            state.profiles = rows
            state.estimate = estimate
        } catch {
            state.error = UserError(error)
        }
    }

    private func config() -> EngineConfig {
        EngineConfig(threads: state.settings.threads, memoryBudgetBytes: env.deviceBudgetBytes)
    }

    /// The engine for the selected model and thread limit, loaded on first use.
    private func engine() async throws -> BitNetEngine {
        guard let path = state.selected?.path else { throw CancellationError() }
        let key = EngineKey(path: path, threads: state.settings.threads)
        if let loaded, loadedKey == key { return loaded.engine }
        loaded?.release()
        loaded = nil
        let engine = try await env.loader.load(path: path, config: config())
        loaded = engine
        loadedKey = key
        return engine.engine
    }

    /// One generation on a fresh session; its summary.
    private static func summary(
        _ engine: BitNetEngine, _ prompt: Prompt, _ options: GenerationOptions
    ) async throws -> GenerationSummary {
        let session = try engine.session()
        defer { session.release() }
        for try await event in session.generate(prompt, options: options) {
            if case let .finished(summary) = event { return summary }
        }
        // The loop ended without a summary: the task was cancelled.
        throw CancellationError()
    }
}
