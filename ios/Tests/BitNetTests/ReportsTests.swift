// Twin of ReportsTest.kt: the settings and reports beyond generation: the memory estimate
// (against `bitnet estimate --json`), metrics, health alerts, profile presets and the thermal
// policy.

import Foundation
import XCTest
import BitNet

final class ReportsTests: XCTestCase {
    /// `bitnet estimate --json`'s flat object: key → the value's text, quotes dropped (as
    /// ReportsTest.kt reads it).
    private func cli() throws -> [String: String] {
        let json = try String(contentsOfFile: try Fixture.setting("BITNET_TEST_ESTIMATE"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #""(\w+)":("[^"]*"|[^,}]+)"#)
        var flat: [String: String] = [:]
        let whole = NSRange(json.startIndex..., in: json)
        for match in pattern.matches(in: json, range: whole) {
            guard let key = Range(match.range(at: 1), in: json), let value = Range(match.range(at: 2), in: json) else { continue }
            flat[String(json[key])] = json[value].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return flat
    }

    private func bytes(_ cli: [String: String], _ key: String) throws -> UInt64 {
        try XCTUnwrap(UInt64(try XCTUnwrap(cli[key], "\(key) in \(cli.keys.sorted())")))
    }

    // `the estimate is the CLI's`
    func testTheEstimateIsTheClis() async throws {
        let cli = try cli()
        let e = try await BitNetEngine.estimate(path: try Fixture.model())
        XCTAssertEqual(e.mappedBytes, try bytes(cli, "mapped_bytes"))
        XCTAssertEqual(cli["mapped_counted"], String(e.mappedCounted))
        XCTAssertEqual(e.headBytes, try bytes(cli, "head_bytes"))
        XCTAssertEqual(e.tokenizerBytes, try bytes(cli, "tokenizer_bytes"))
        XCTAssertEqual(e.runtimeBytes, try bytes(cli, "runtime_bytes"))
        XCTAssertEqual(cli["kv_precision"], "\(e.kvPrecision)".uppercased())
        XCTAssertEqual(e.kvBytesPerToken, try bytes(cli, "kv_bytes_per_token"))
        XCTAssertEqual(e.scratchBytes, try bytes(cli, "scratch_bytes"))
        XCTAssertEqual(cli["min_context_tokens"], String(e.minContextTokens))
        XCTAssertEqual(cli["context_tokens"], String(e.defaultContextTokens))
        let total = e.totalBytes(contextTokens: e.defaultContextTokens)
        XCTAssertEqual(total, try bytes(cli, "total_bytes"))
        XCTAssertEqual(cli["smallest_profile"], smallestProfile(bytes: total).map { "\($0)" })
        // What the CLI's budget leaves for one session's context.
        let budget = try XCTUnwrap(UInt64(try Fixture.setting("BITNET_TEST_BUDGET")))
        XCTAssertEqual(cli["max_context_tokens"], String(e.maxContextTokens(budgetBytes: budget)))
        XCTAssertEqual(e.maxContextTokens(budgetBytes: budget), e.contextFitting(availableBytes: budget - e.engineBytes()))
        XCTAssertEqual(e.maxContextTokens(budgetBytes: 1), 0)
        // A loaded engine reports the same estimate.
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        XCTAssertEqual(try engine.memoryEstimate(), e)
        engine.release()
    }

    // `the KV precision option reaches the engine`
    func testTheKvPrecisionOptionReachesTheEngine() async throws {
        let f16 = try await BitNetEngine.estimate(path: try Fixture.model())
        XCTAssertEqual(f16.kvPrecision, .f16)
        var config = EngineConfig()
        config.kvPrecision = .f32
        let f32 = try await BitNetEngine.estimate(path: try Fixture.model(), config: config)
        XCTAssertEqual(f32.kvPrecision, .f32)
        XCTAssertEqual(f32.kvBytesPerToken, 2 * f16.kvBytesPerToken)
        let engine = try await BitNetEngine.load(path: try Fixture.model(), config: config)
        XCTAssertEqual(try engine.memoryEstimate(), f32)
        engine.release()
    }

    // `metrics count two generations and their tokens`
    func testMetricsCountTwoGenerationsAndTheirTokens() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        let session = try engine.session()
        var stats: [GenerationStats] = []
        for _ in 0..<2 {
            stats.append(try summary(try await collect(session.generate(try Fixture.prompt(), options: try Fixture.options()))).stats)
        }
        let m = try engine.metrics()
        XCTAssertEqual(m.requests, 2)
        XCTAssertEqual(m.errors, 0)
        XCTAssertEqual(m.errorRatePercent, 0)
        XCTAssertEqual(m.promptTokens, stats.reduce(0) { $0 + UInt64($1.promptTokens) })
        XCTAssertEqual(m.generatedTokens, stats.reduce(0) { $0 + UInt64($1.generatedTokens) })
        XCTAssertNotNil(m.latencyP50Ms)
        XCTAssertNotNil(m.latencyP95Ms)
        session.release()
        engine.release()
        XCTAssertThrowsError(try engine.metrics()) { error in
            guard case BitNetError.Closed = error else { return XCTFail("\(error)") }
        }
    }

    /// HealthAlert's case, without its fields.
    private func kind(_ alert: HealthAlert) -> String {
        switch alert {
        case .memory: "memory"
        case .cpu: "cpu"
        case .slowDecode: "slowDecode"
        case .errorRate: "errorRate"
        case .latency: "latency"
        }
    }

    // `tight thresholds raise the expected alerts`
    func testTightThresholdsRaiseTheExpectedAlerts() async throws {
        var config = EngineConfig()
        config.health = HealthThresholds(
            maxResidentBytes: 1,
            maxCpuPercent: UInt32.max,
            minDecodeTokensPerS: UInt32.max,
            maxErrorRatePercent: 0,
            maxLatencyMs: 0
        )
        let engine = try await BitNetEngine.load(path: try Fixture.model(), config: config)
        // Before any request only memory is known.
        XCTAssertEqual(try engine.health().alerts.map(kind), ["memory"])
        let session = try engine.session()
        let options = try Fixture.options()
        _ = try await collect(session.generate(try Fixture.prompt(), options: options))
        let empty = await assertThrowsBitNet({ _ = try await collect(session.generate("", options: options)) }) {
            if case .EmptyInput = $0 { return true }
            return nil
        }
        XCTAssertEqual(empty, true)
        let health = try engine.health()
        // Every threshold but the CPU one (unreachable here) is crossed, in HealthAlert's order.
        XCTAssertEqual(health.alerts.map(kind), ["memory", "slowDecode", "errorRate", "latency"])
        guard health.alerts.count == 4 else { return }
        guard case let .errorRate(percent, limitPercent) = health.alerts[2] else { return XCTFail("\(health.alerts[2])") }
        XCTAssertEqual(percent, 50)
        XCTAssertEqual(limitPercent, 0)
        guard case let .memory(_, limitBytes) = health.alerts[0] else { return XCTFail("\(health.alerts[0])") }
        XCTAssertEqual(limitBytes, 1)
        XCTAssertEqual(health.metrics.errors, 1)
        session.release()
        engine.release()
    }

    // `profile presets are the default config with their threads, budget and concurrent generations`
    func testProfilePresetsAreTheDefaultConfigWithTheirThreadsBudgetAndConcurrentGenerations() {
        let mib: UInt64 = 1 << 20
        let table: [(Profile, UInt32, UInt64, UInt32)] = [
            (.mobile, 2, 512 * mib, 1), (.edge, 4, 1024 * mib, 2), (.server, 8, 2048 * mib, 5), (.cloud, 16, 4096 * mib, 10),
        ]
        for (profile, threads, budget, generations) in table {
            var expected = EngineConfig()
            expected.threads = threads
            expected.memoryBudgetBytes = budget
            expected.maxConcurrentGenerations = generations
            // Server and cloud put throughput first: a bounded wait queue (4 × the concurrent
            // generations) and concurrent decodes sharing passes.
            let throughput = profile == .server || profile == .cloud
            expected.maxQueuedGenerations = throughput ? 4 * generations : nil
            expected.decodeBatching = throughput
            // A phone's limit leaves clean file pages out; its decode reads a Q4_K head and a
            // Q8_0 KV cache.
            expected.countMappedWeights = profile != .mobile
            expected.head = profile == .mobile ? .q4k : nil
            expected.kvPrecision = profile == .mobile ? .q80 : nil
            XCTAssertEqual(profileConfig(profile: profile), expected)
            XCTAssertEqual(smallestProfile(bytes: budget), profile)
        }
        XCTAssertNil(smallestProfile(bytes: 4097 * mib))
    }

    // `an invalid thermal policy is InvalidOption, a valid one is applied`
    func testAnInvalidThermalPolicyIsInvalidOptionAValidOneIsApplied() async throws {
        let model = try Fixture.model()
        var zero = defaultThermalPolicy()
        zero.serious = .run(threadsPercent: 0, pauseMs: 0)
        var config = EngineConfig()
        config.thermalPolicy = zero
        let invalid = await assertThrowsBitNet({ _ = try await BitNetEngine.load(path: model, config: config) }) {
            if case let .InvalidOption(_, name) = $0 { return name }
            return nil
        }
        XCTAssertNotNil(invalid)
        // Stop already when serious (the default only halves the threads).
        var strict = defaultThermalPolicy()
        strict.serious = .stop
        config.thermalPolicy = strict
        let engine = try await BitNetEngine.load(path: model, config: config)
        engine.reportThermal(state: .serious, headroom: nil)
        let session = try engine.session()
        let summary = try summary(try await collect(session.generate(try Fixture.prompt(), options: try Fixture.options())))
        XCTAssertEqual(summary.finishReason, .thermalStop)
        session.release()
        engine.release()
    }
}
