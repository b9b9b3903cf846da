// What the benchmark screen shows.

import BitNet

/// How the selected model fits one deployment profile's budget.
public struct ProfileRow: Sendable, Equatable {
    /// The profile.
    public let profile: Profile
    /// Its memory budget, in bytes (`nil`: none).
    public let budgetBytes: UInt64?
    /// The longest context a session gets under it, in tokens.
    public let contextTokens: UInt32
    /// Whether the model loads under it.
    public let fits: Bool
}

/// What the benchmark is doing.
public enum BenchActivity: Sendable, Equatable {
    /// Nothing.
    case idle
    /// Timed runs.
    case runs
    /// A sustained run.
    case sustained
}

/// Everything the benchmark screen shows.
public struct BenchUiState: Sendable, Equatable {
    /// The device card's figures.
    public let device: DeviceInfo
    /// What the picker offers; `selected` is the model measured.
    public var models: [ModelOption] = []
    /// The model measured.
    public var selected: ModelOption?
    /// The selected model's memory estimate (from its header).
    public var estimate: MemoryEstimate?
    /// How it fits each deployment profile.
    public var profiles: [ProfileRow] = []
    /// What the next run does.
    public var settings = BenchSettings()
    /// The thermal schedule's text field.
    public var scheduleText = BenchSettings().schedule.description
    /// Why `scheduleText` is not a schedule, if it is not.
    public var scheduleError: String?
    /// What is running.
    public var activity = BenchActivity.idle
    /// What is running now ("run 2 of 3").
    public var progress: String?
    /// The last finished benchmark.
    public var latest: BenchResult?
    /// Every finished benchmark, newest last.
    public var history: [BenchResult] = []
    /// The last (or running) sustained run.
    public var sustained: SustainedTrace?
    /// The threads in force when `sustained` started.
    public var startThreads: UInt32?
    /// The history as JSON once exported.
    public var export: String?
    /// The banner's error, if any.
    public var error: UserError?

    public init(device: DeviceInfo) {
        self.device = device
    }
}
