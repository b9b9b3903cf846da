// A model the chat and benchmark pickers offer, and where the list comes from.

import BitNet
import Foundation

/// Where a `ModelOption` comes from.
public enum ModelSource: Sendable, Equatable {
    /// The demo model the app ships.
    case bundled
    /// Installed in the model store (downloaded or imported).
    case installed
    /// A file path opened by hand.
    case file
}

/// A model file to load: its label in the picker, its path and where it comes from.
public struct ModelOption: Sendable, Equatable, Hashable {
    /// What the picker shows.
    public let label: String
    /// The model file.
    public let path: String
    /// Where it comes from.
    public let source: ModelSource

    public init(label: String, path: String, source: ModelSource) {
        self.label = label
        self.path = path
        self.source = source
    }
}

extension SampleEnvironment {
    /// The bundled demo model (if the app ships one) and the store's installed models; throws
    /// a `BitNetError` when the store cannot be read.
    public func modelOptions() async throws -> [ModelOption] {
        let bundled = demoModelPath.map { [ModelOption(label: "Demo model (bundled)", path: $0, source: .bundled)] } ?? []
        let installed = try await store.list(config: EngineConfig())
            .map { ModelOption(label: $0.fileName, path: $0.path, source: .installed) }
        return bundled + installed
    }
}
