// Twin of BenchmarkTest.kt: the benchmark screen's calls against a real engine and the
// synthetic model: `hardware()` and `runBenchmark`.

import Foundation
import XCTest
import BitNet

final class BenchmarkTests: XCTestCase {
    private var quick: BenchConfig {
        var config = defaultBenchConfig()
        config.promptTokens = 16
        config.genTokens = 4
        config.reps = 2
        config.batch = 8
        return config
    }

    // `the default config is bitnet bench's`
    func testTheDefaultConfigIsBitnetBenchs() {
        XCTAssertEqual(defaultBenchConfig(), BenchConfig(promptTokens: 512, genTokens: 128, reps: 3, batch: 64))
    }

    // `hardware lists the kernel tables and the default one among them`
    func testHardwareListsTheKernelTablesAndTheDefaultOneAmongThem() {
        let hw = hardware()
        XCTAssertEqual(hw.kernelTables.first, "scalar")
        XCTAssertTrue(hw.kernelTables.contains(hw.defaultKernels), "\(hw.defaultKernels) in \(hw.kernelTables)")
        XCTAssertGreaterThanOrEqual(hw.defaultThreads, 1)
        XCTAssertTrue(Set(hw.performanceCpus).isSubset(of: Set(hw.cpus)))
    }

    // `a run reports speeds, bandwidth and the kernels it used`
    func testARunReportsSpeedsBandwidthAndTheKernelsItUsed() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model(), config: EngineConfig(threads: 1))
        let report = try await engine.runBenchmark(quick)
        XCTAssertEqual(report.kernels, hardware().defaultKernels)
        XCTAssertEqual(report.threads, 1)
        XCTAssertEqual(report.reps, 2)
        XCTAssertGreaterThan(report.prefillTokensPerS.mean, 0)
        XCTAssertGreaterThan(report.decodeTokensPerS.mean, 0)
        XCTAssertGreaterThan(report.timeToFirstTokenMs.mean, 0)
        XCTAssertGreaterThan(report.bytesPerToken, 0)
        XCTAssertGreaterThan(report.copyGbPerS, 0)
        XCTAssertGreaterThan(report.effectiveGbPerS, 0)
        XCTAssertGreaterThan(report.rooflinePercent, 0)
        engine.release()
    }

    // `cancelBenchmark returns what was measured, a cancelled coroutine stops the run`
    func testCancelBenchmarkReturnsWhatWasMeasuredACancelledTaskStopsTheRun() async throws {
        let engine = try await BitNetEngine.load(path: try Fixture.model())
        var long = quick
        long.reps = 100_000
        let config = long
        let run = Task { try await engine.runBenchmark(config) }
        try await Task.sleep(nanoseconds: 500_000_000)
        engine.cancelBenchmark()
        let partial = try await run.value
        XCTAssertLessThan(partial.reps, 100_000)
        // A cancelled task gets CancellationError once the run stopped; the engine is free.
        let cancelled = Task { try await engine.runBenchmark(config) }
        try await Task.sleep(nanoseconds: 300_000_000)
        cancelled.cancel()
        do {
            _ = try await cancelled.value
            XCTFail("a cancelled task returned a report")
        } catch is CancellationError {}
        let again = try await engine.runBenchmark(quick)
        XCTAssertEqual(again.reps, 2)
        var zero = quick
        zero.reps = 0
        do {
            _ = try await engine.runBenchmark(zero)
            XCTFail("0 repetitions ran")
        } catch BitNetError.InvalidOption(_, let name) {
            XCTAssertEqual(name, "bench")
        }
        engine.release()
        do {
            _ = try await engine.runBenchmark(quick)
            XCTFail("ran after release")
        } catch BitNetError.Closed {}
    }
}
