// What the screens need from the platform they run on (the iOS app, the tests): how to load an
// engine, where models live, the bundled demo model, the device and its memory budget.

import BitNet
import Foundation

/// Loads an engine for a model file, with the platform's signals attached (or none).
public struct EngineLoader: Sendable {
    private let body: @Sendable (String, EngineConfig) async throws -> AttachedEngine

    /// A loader running `body` with the model's path and the configuration.
    public init(_ body: @escaping @Sendable (_ path: String, _ config: EngineConfig) async throws -> AttachedEngine) {
        self.body = body
    }

    /// Loads the model at `path` with `config`; throws the typed `BitNetError`s.
    public func load(path: String, config: EngineConfig) async throws -> AttachedEngine {
        try await body(path, config)
    }

    /// `BitNetEngine.load(path:config:)`, with no platform signals.
    public static let plain = EngineLoader { path, config in
        let engine = try await BitNetEngine.load(path: path, config: config)
        return AttachedEngine(engine: engine, hooks: PlatformHooks(engine: engine, thermal: nil, memoryWarning: nil))
    }

    /// `BitNetEngine.loadAttached(path:config:)`: the device's thermal state and memory warnings
    /// reach the engine until it is released.
    public static let device = EngineLoader { path, config in
        try await BitNetEngine.loadAttached(path: path, config: config)
    }
}

/// The platform's side of the sample app.
public struct SampleEnvironment: Sendable {
    /// How engines are loaded.
    public let loader: EngineLoader
    /// Where models are installed and downloaded to.
    public let store: ModelStore
    /// The bundled demo model's file, if the app ships it.
    public let demoModelPath: String?
    /// What the device is, for the benchmark's device card.
    public let device: DeviceInfo
    /// The memory budget engines get when the settings name none, in bytes
    /// (`defaultMemoryBudgetBytes()` on a phone); `nil` for no budget.
    public let deviceBudgetBytes: UInt64?

    public init(
        loader: EngineLoader, store: ModelStore, demoModelPath: String?,
        device: DeviceInfo = .current(), deviceBudgetBytes: UInt64? = nil
    ) {
        self.loader = loader
        self.store = store
        self.demoModelPath = demoModelPath
        self.device = device
        self.deviceBudgetBytes = deviceBudgetBytes
    }
}
