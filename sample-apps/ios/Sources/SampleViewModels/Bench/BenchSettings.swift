// What the benchmark runs: how many runs of how many tokens, and the sustained run's length and
// thermal schedule.

import Foundation

/// The benchmark's settings.
public struct BenchSettings: Sendable, Equatable {
    /// Timed repetitions (after one untimed warm-up).
    public var runs: Int
    /// Prompt tokens each repetition prefills.
    public var promptTokens: UInt32
    /// Tokens each repetition decodes.
    public var genTokens: UInt32
    /// The engine's thread limit; 0 = the performance cores.
    public var threads: UInt32
    /// How long a sustained run decodes, in s.
    public var sustainedSeconds: Double
    /// The sustained run's sampling interval, in ms.
    public var sampleMs: Int
    /// Thermal states the sustained run reports to the engine.
    public var schedule: ThermalSchedule

    /// The schedule the screen starts with.
    public static let defaultSchedule = ThermalSchedule(steps: [
        ThermalStep(atMs: 0, state: .nominal), ThermalStep(atMs: 3000, state: .fair),
        ThermalStep(atMs: 6000, state: .serious), ThermalStep(atMs: 8000, state: .critical),
    ])

    public init(
        runs: Int = 3, promptTokens: UInt32 = 128, genTokens: UInt32 = 64, threads: UInt32 = 0,
        sustainedSeconds: Double = 10, sampleMs: Int = 500, schedule: ThermalSchedule = defaultSchedule
    ) {
        self.runs = runs
        self.promptTokens = promptTokens
        self.genTokens = genTokens
        self.threads = threads
        self.sustainedSeconds = sustainedSeconds
        self.sampleMs = sampleMs
        self.schedule = schedule
    }
}
