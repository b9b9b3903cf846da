// Twin of the Compose app's BenchViewModelTest: the benchmark's state machine against the real
// engine and the demo model.

import BitNet
import Foundation
import SampleViewModels
import XCTest

@MainActor
// XCTest runs each test on the main thread: the instance is only used there (Linux's
// XCTestCase is not Sendable, and the discovered tests hand it to these main-actor methods).
final class BenchViewModelTests: XCTestCase, @unchecked Sendable {
    /// A benchmark with the demo model's estimate in, then `settings` (closed by the teardown).
    private func bench(_ settings: BenchSettings, loader: EngineLoader = .plain) async throws -> BenchViewModel {
        let vm = BenchViewModel(env: try Fixtures.env(self, loader: loader))
        addTeardownBlock { vm.close() }
        _ = try await waitFor({ vm.state }, until: { $0.estimate != nil })
        vm.settings = settings
        return vm
    }

    // `the device card and the estimate come from the device and the model's header`
    func testTheDeviceCardAndTheEstimateComeFromTheDeviceAndTheModelsHeader() async throws {
        let vm = try await bench(BenchSettings(threads: 2))
        let state = vm.state
        XCTAssertEqual(state.device.cores, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertGreaterThan(state.device.memoryBytes, 0)
        XCTAssertEqual(state.device.hardware, hardware())
        let estimate = try await BitNetEngine.estimate(path: Fixtures.demoModel(), config: EngineConfig())
        XCTAssertEqual(state.estimate, estimate)
        XCTAssertEqual(state.profiles.map(\.profile), Profile.all)
        XCTAssertTrue(state.profiles.allSatisfy(\.fits))
    }

    // `timed runs give figures above zero over the runs, kept in the history and exported`
    func testTimedRunsGiveFiguresAboveZeroOverTheRunsKeptInTheHistoryAndExported() async throws {
        let vm = try await bench(BenchSettings(runs: 3, promptTokens: 32, genTokens: 16, threads: 2))
        vm.run()
        let done = try await waitFor({ vm.state }, until: { $0.activity == .idle && $0.latest != nil })
        let first = try XCTUnwrap(done.latest).report
        XCTAssertEqual(first.reps, 3)
        XCTAssertEqual(first.threads, 2)
        XCTAssertEqual(first.kernels, hardware().defaultKernels)
        XCTAssertEqual(first.promptTokens, 32)
        XCTAssertEqual(first.genTokens, 16)
        for stat in [first.timeToFirstTokenMs, first.prefillTokensPerS, first.decodeTokensPerS] {
            XCTAssertTrue(stat.mean > 0 && stat.sd >= 0, "\(stat)")
        }
        XCTAssertTrue(first.bytesPerToken > 0 && first.effectiveGbPerS > 0 && first.copyGbPerS > 0 && first.rooflinePercent > 0, "\(first)")
        XCTAssertGreaterThan(try XCTUnwrap(first.peakResidentBytes), 0)
        vm.run()
        let state = try await waitFor({ vm.state }, until: { $0.activity == .idle && $0.history.count == 2 })
        vm.export()
        let json = try XCTUnwrap(vm.state.export)
        XCTAssertEqual(json.components(separatedBy: "\"decode_tokens_per_s\"").count - 1, 2)
        XCTAssertEqual(json.components(separatedBy: "\"roofline_percent\":").count - 1, 2)
        XCTAssertTrue(json.hasPrefix("{\"device\":{\"cores\":\(state.device.cores),"), json)
    }

    // `a sustained run under a scripted schedule records the governor's changes as the engine reports them`
    func testASustainedRunUnderAScriptedScheduleRecordsTheGovernorsChangesAsTheEngineReportsThem() async throws {
        let recording = RecordingLoader()
        let schedule = try ThermalSchedule(parsing: "0s:nominal,1s:fair,2s:serious,3s:critical")
        let vm = try await bench(BenchSettings(threads: 2, sustainedSeconds: 6, sampleMs: 200, schedule: schedule), loader: recording.loader)
        vm.runSustained()
        let state = try await waitFor({ vm.state }, timeout: 20, until: { $0.activity == .idle && $0.sustained?.running == false })
        let trace = try XCTUnwrap(state.sustained)
        XCTAssertNil(state.error)
        XCTAssertEqual(state.startThreads, 2)
        // The policy's threads for each state: 2 threads at 100 %, 50 %, then a stop (0).
        let policy = defaultThermalPolicy()
        let expected: [UInt32] = [policy.fair, policy.serious, policy.critical].map { throttle in
            if case let .run(percent, _) = throttle { return max(1, 2 * UInt32(percent) / 100) }
            return 0
        }
        XCTAssertEqual(trace.marks.map(\.state), [.fair, .serious, .critical])
        XCTAssertEqual(trace.marks.map(\.threads), expected)
        XCTAssertEqual(trace.threadChanges(startThreads: 2).map(\.threads), [1, 0])
        // The changes arrive when scheduled, and the critical one stops the run.
        for (mark, at) in zip(trace.marks, [1.0, 2.0, 3.0]) {
            XCTAssertTrue((at...at + 0.5).contains(mark.tS), "\(mark)")
        }
        XCTAssertLessThan(try XCTUnwrap(trace.thermalStopS), 4)
        // The samples' states go nominal → fair → serious (→ critical at the stop), never back.
        var states: [ThermalState] = []
        for sample in trace.samples where !states.contains(sample.state) { states.append(sample.state) }
        XCTAssertEqual(Array(states.prefix(3)), [.nominal, .fair, .serious])
        XCTAssertEqual(states, ThermalState.all.filter(states.contains))
        XCTAssertTrue(trace.samples.allSatisfy { $0.tokensPerS >= 0 })
        // The engine agrees: it counted one throttle change per mark, and is nominal again.
        let engines = recording.engines
        XCTAssertEqual(engines.count, 1)
        XCTAssertEqual(try engines[0].metrics().throttleEvents, UInt64(trace.marks.count))
        vm.run()
        let after = try await waitFor({ vm.state }, until: { $0.activity == .idle && $0.latest != nil })
        XCTAssertNil(after.error)
        XCTAssertGreaterThan(try XCTUnwrap(after.latest).report.decodeTokensPerS.mean, 0)
    }

    // (no Kotlin twin: the Compose screen parses the schedule field itself)
    func testATypedScheduleAppliesWhenItParsesAndNamesTheStepOtherwise() async throws {
        let vm = try await bench(BenchSettings())
        XCTAssertEqual(vm.state.scheduleText, "0s:nominal,3s:fair,6s:serious,8s:critical")
        vm.scheduleText = "0s:nominal,1.5s:Serious"
        XCTAssertEqual(vm.state.settings.schedule.steps, [
            ThermalStep(atMs: 0, state: .nominal), ThermalStep(atMs: 1500, state: .serious),
        ])
        XCTAssertNil(vm.state.scheduleError)
        vm.scheduleText = "0s:nominal,2s:warm"
        XCTAssertEqual(vm.state.scheduleError, "\"2s:warm\": unknown state \"warm\"")
        XCTAssertEqual(vm.state.settings.schedule.description, "0s:nominal,1.5s:serious")
        vm.scheduleText = ""
        XCTAssertEqual(vm.state.settings.schedule, .none)
    }

    // `cancel stops timed runs, keeping the repetitions they finished`
    func testCancelStopsTimedRunsKeepingTheRepetitionsTheyFinished() async throws {
        let vm = try await bench(BenchSettings(runs: 10_000, promptTokens: 16, genTokens: 8, threads: 2))
        vm.run()
        _ = try await waitFor({ vm.state }, until: { $0.progress != nil })
        // Long enough for a repetition (a few ms of decoding and a ~0.3 s copy test) even on a
        // slow machine.
        try await Task.sleep(nanoseconds: 3_000_000_000)
        vm.cancel()
        let state = try await waitFor({ vm.state }, timeout: 10, until: { $0.activity == .idle })
        XCTAssertNil(state.error)
        let reps = try XCTUnwrap(state.latest).report.reps
        XCTAssertTrue((1..<10_000).contains(reps), "\(reps)")
        XCTAssertEqual(state.history, [try XCTUnwrap(state.latest)])
    }

    // `cancel stops a sustained run, keeping what it measured`
    func testCancelStopsASustainedRunKeepingWhatItMeasured() async throws {
        let vm = try await bench(BenchSettings(threads: 2, sustainedSeconds: 60, sampleMs: 100, schedule: .none))
        vm.runSustained()
        _ = try await waitFor({ vm.state }, until: { ($0.sustained?.samples.count ?? 0) >= 3 })
        let started = Date()
        vm.cancel()
        let state = try await waitFor({ vm.state }, timeout: 5, until: { $0.activity == .idle })
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        let trace = try XCTUnwrap(state.sustained)
        XCTAssertGreaterThanOrEqual(trace.samples.count, 3)
        XCTAssertFalse(trace.running)
    }
}
