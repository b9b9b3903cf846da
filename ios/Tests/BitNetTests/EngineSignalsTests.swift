// Twin of EngineSignalsTest.kt (EngineSignals against a real engine and the synthetic model),
// followed by the platform-neutral parts of the hooks the Robolectric tests cover on Android
// (AndroidHooksTest.kt, MemoryPressureHookTest.kt): the monitors and PlatformHooks driven by
// notifications the test posts, the default budget and loadAttached.

import Foundation
import XCTest
import BitNet

final class EngineSignalsTests: XCTestCase {
    /// The thermal events and the summary of a short greedy generation.
    private func run(_ engine: BitNetEngine) async throws -> ([ThermalState], GenerationSummary) {
        let session = try engine.session()
        defer { session.release() }
        let events = try await collect(session.generate("Once upon a time", options: GenerationOptions(maxTokens: 4)))
        return (thermalStates(events), try summary(events))
    }

    // `each Android status stands for an engine state`: ProcessInfo.ThermalState's levels
    // (by raw value, which Linux's Foundation lacks the type for).
    func testEachProcessInfoThermalLevelStandsForAnEngineState() {
        XCTAssertEqual(
            [0, 1, 2, 3, 4, -1].map { ThermalState(processInfoThermalState: $0) },
            [.nominal, .fair, .serious, .critical, .critical, .critical]
        )
        #if canImport(Darwin)
        let levels: [ProcessInfo.ThermalState] = [.nominal, .fair, .serious, .critical]
        XCTAssertEqual(levels.map { ThermalState($0) }, [.nominal, .fair, .serious, .critical])
        #endif
    }

    // `status and headroom reach the engine together, and nothing after close` (iOS reports
    // no headroom: the state alone).
    func testStatesReachTheEngineAndNothingAfterDetach() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let signals = EngineSignals(engine: engine)
        signals.onThermalState(.serious)
        let (states, summary) = try await run(engine)
        XCTAssertEqual(states, [.serious])
        XCTAssertEqual(summary.stats.thermalState, .serious)
        // Cooled down: generations run in full again.
        signals.onThermalState(.nominal)
        let (_, cool) = try await run(engine)
        XCTAssertEqual(cool.stats.thermalState, .nominal)
        XCTAssertEqual(cool.finishReason, .maxTokens)
        // Critical stops generations before their first token.
        signals.onThermalState(.critical)
        let (stopping, stopped) = try await run(engine)
        XCTAssertEqual(stopping, [.critical])
        XCTAssertEqual(stopped.finishReason, .thermalStop)
        // Detached: the all-clear no longer reaches the engine.
        signals.detach()
        signals.onThermalState(.nominal)
        let (_, still) = try await run(engine)
        XCTAssertEqual(still.finishReason, .thermalStop)
    }

    // `a trim after the app released the engine is a no-op`
    func testATrimAfterTheAppReleasedTheEngineIsANoOp() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        let signals = EngineSignals(engine: engine)
        signals.trim()
        engine.release()
        signals.trim()
        signals.detach()
    }

    // Swift only (AndroidThermalMonitor's part of AndroidHooksTest): the current state at
    // start, each change notification after, nothing after stop.
    func testTheThermalMonitorReportsAtStartAndOnEachNotificationUntilStopped() {
        let center = NotificationCenter()
        let name = Notification.Name("test.thermal")
        let device = Box(ThermalState.fair)
        let sink = RecordingSink()
        let monitor = ThermalMonitor(sink: sink, source: ThermalSource(name: name) { device.value }, center: center)
        monitor.start()
        monitor.start()  // a second start does nothing
        device.value = .critical
        center.post(name: name, object: nil)
        center.post(name: Notification.Name("test.other"), object: nil)
        monitor.stop()
        device.value = .nominal
        center.post(name: name, object: nil)
        XCTAssertEqual(sink.states, [.fair, .critical])
    }

    // Swift only (MemoryPressureHookTest's `pressure trims`): each memory warning trims, until
    // stop.
    func testTheMemoryWarningHookTrimsOnEachWarningUntilStopped() {
        let center = NotificationCenter()
        let name = Notification.Name("test.memory")
        let trimmer = RecordingTrimmer()
        let hook = MemoryWarningHook(trimmer: trimmer, name: name, center: center)
        center.post(name: name, object: nil)
        center.post(name: name, object: nil)
        hook.stop()
        center.post(name: name, object: nil)
        XCTAssertEqual(trimmer.count, 2)
    }

    // AndroidHooksTest / MemoryPressureHookTest's `... reach the engine ... until close()`:
    // PlatformHooks over a real engine, fed by posted notifications.
    func testPlatformHooksFeedTheEngineUntilStopped() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        defer { engine.release() }
        let center = NotificationCenter()
        let thermal = Notification.Name("test.thermal")
        let memory = Notification.Name("test.memory")
        let device = Box(ThermalState.nominal)
        let hooks = PlatformHooks(
            engine: engine, center: center,
            thermal: ThermalSource(name: thermal) { device.value }, memoryWarning: memory)
        // A session with buffers to give back; the memory warning trims it.
        let session = try engine.session()
        _ = try await collect(session.generate(try Fixture.prompt(), options: GenerationOptions(maxTokens: 2)))
        center.post(name: memory, object: nil)
        XCTAssertEqual(try engine.trim().sessions, 0, "the warning already trimmed the idle session")
        // The device heats up: generations stop.
        device.value = .critical
        center.post(name: thermal, object: nil)
        let (_, hot) = try await run(engine)
        XCTAssertEqual(hot.finishReason, .thermalStop)
        // Stopped: the all-clear no longer reaches the engine, nor do warnings.
        hooks.stop()
        hooks.stop()
        device.value = .nominal
        center.post(name: thermal, object: nil)
        let (_, still) = try await run(engine)
        XCTAssertEqual(still.finishReason, .thermalStop)
        engine.reportThermal(state: .nominal, headroom: nil)
        _ = try await collect(session.generate(try Fixture.prompt(), options: GenerationOptions(maxTokens: 2)))
        center.post(name: memory, object: nil)
        XCTAssertEqual(try engine.trim().sessions, 1, "no trim after stop")
        session.release()
    }

    // Swift only: the budget default is half of what may still be allocated, and this
    // platform reports that (Linux: MemAvailable).
    func testTheDefaultBudgetIsHalfTheAvailableMemory() {
        XCTAssertEqual(defaultMemoryBudgetBytes(availableBytes: 1000), 500)
        XCTAssertEqual(defaultMemoryBudgetBytes(availableBytes: 0), 0)
        let available = availableMemoryBytes()
        XCTAssertGreaterThan(available, 0)
        XCTAssertLessThanOrEqual(available, ProcessInfo.processInfo.physicalMemory)
        XCTAssertLessThanOrEqual(defaultMemoryBudgetBytes(), ProcessInfo.processInfo.physicalMemory / 2)
        #if os(Linux)
        XCTAssertNil(ThermalSource.platform, "Linux has no thermal state to observe")
        XCTAssertNil(MemoryWarningHook.platformNotification)
        #endif
    }

    // Swift only (`BitNet.load(context, ...)`'s part of AndroidHooksTest): loadAttached fills a
    // missing budget, keeps a given one, and release() stops the hooks, then the engine.
    func testLoadAttachedFillsTheBudgetAndReleaseStopsTheHooksThenTheEngine() async throws {
        let model = try Fixture.model()
        let attached = try await BitNetEngine.loadAttached(path: model)
        let session = try attached.engine.session()
        _ = try await collect(session.generate(try Fixture.prompt(), options: GenerationOptions(maxTokens: 2)))
        attached.release()
        XCTAssertThrowsError(try attached.engine.session()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
        attached.hooks.stop()
        session.release()
        var config = EngineConfig()
        config.memoryBudgetBytes = 1024
        let budget = await assertThrowsBitNet({ _ = try await BitNetEngine.loadAttached(path: model, config: config) }) {
            if case let .BudgetExceeded(_, _, budget, _, _) = $0 { return budget }
            return nil
        }
        XCTAssertEqual(budget, 1024)
    }
}

/// Records the thermal states it receives.
final class RecordingSink: ThermalSink {
    private let received = Box<[ThermalState]>([])
    var states: [ThermalState] { received.value }
    func onThermalState(_ state: ThermalState) { received.update { $0.append(state) } }
}

/// Counts trims.
final class RecordingTrimmer: MemoryTrimmer {
    private let trims = Box(0)
    var count: Int { trims.value }
    func trim() { trims.update { $0 += 1 } }
}
