// What the benchmark measures: repeated runs (prefill, decode, first token, memory, bandwidth)
// and a sustained run (speed over time with the thermal governor's changes).

import BitNet
import Foundation

/// One benchmark: the engine's report (`BitNetEngine.runBenchmark`) for a model at a time.
public struct BenchResult: Sendable, Equatable {
    /// The model's label.
    public let model: String
    /// When it ran.
    public let at: Date
    /// What the engine measured: speeds (mean ± sd over `report.reps` repetitions), first-token
    /// latency, peak memory, decode's GB/s against the copy bandwidth measured beside it, and
    /// the kernel table and threads it ran on.
    public let report: BenchReport
}

/// Decode speed over one interval of a sustained run, at `tS` s, with the state and threads in force.
public struct SustainedSample: Sendable, Equatable {
    /// The interval's end, in s from the run's start.
    public let tS: Double
    /// Text pieces per second over the interval.
    public let tokensPerS: Double
    /// The thermal state in force.
    public let state: ThermalState
    /// The threads in force.
    public let threads: UInt32
}

/// A change the engine's thermal governor reported (`GenerationEvent.thermal`) at `tS` s.
public struct ThermalMark: Sendable, Equatable {
    /// When, in s from the run's start.
    public let tS: Double
    /// The state now in force.
    public let state: ThermalState
    /// The threads now.
    public let threads: UInt32
    /// The pause between tokens now, in ms.
    public let pauseMs: UInt64
}

/// A sustained run so far.
public struct SustainedTrace: Sendable, Equatable {
    /// How long it is meant to run, in s.
    public let seconds: Double
    /// The scripted thermal states it reports.
    public let schedule: ThermalSchedule
    /// Decode speed per interval.
    public var samples: [SustainedSample] = []
    /// The governor's changes, in order.
    public var marks: [ThermalMark] = []
    /// When the governor stopped the run, if it did, in s.
    public var thermalStopS: Double?
    /// Whether it is still going.
    public var running = true

    /// The marks where the thread count changed from the one before (the first counts from
    /// `startThreads`): the chart's solid lines.
    public func threadChanges(startThreads: UInt32) -> [ThermalMark] {
        var threads = startThreads
        return marks.filter { mark in
            defer { threads = mark.threads }
            return mark.threads != threads
        }
    }
}
