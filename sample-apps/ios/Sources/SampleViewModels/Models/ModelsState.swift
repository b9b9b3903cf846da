// What the models screen shows: the catalog and the installed files, with downloads in flight.

import BitNet

/// One model: a catalog entry (installed or not) or an installed file the catalog does not know.
public struct ModelRow: Sendable, Equatable, Identifiable {
    /// The catalog id (`nil` for a file outside the catalog).
    public let catalogId: String?
    /// The name to show.
    public let name: String
    /// The installed file's name.
    public let fileName: String
    /// The file's size, in bytes.
    public let sizeBytes: UInt64
    /// The architecture (`general.architecture`), when known.
    public let arch: String?
    /// The ternary projections' format (`I2_S`, `TQ2_0`, ...), when known.
    public let format: String?
    /// How it fits memory: "fits", the profiles it fits, or why it does not.
    public let fit: String
    /// Where it is installed, if it is.
    public let installedPath: String?
    /// Whether the catalog has URLs for it (the bundled demo has none).
    public let downloadable: Bool
    /// Whether it is the catalog entry of the model the app bundles (no URLs, not installed,
    /// and the app ships a demo file to import).
    public var importable = false
    /// Bytes of a paused download waiting to be resumed.
    public var partialBytes: UInt64 = 0
    /// The running download's progress.
    public var download: DownloadProgress?

    /// The catalog id, or the file name for a file outside the catalog.
    public var id: String { catalogId ?? fileName }

    /// Share of the file on disk, 0...1 (a paused download's part counts).
    public var fraction: Double {
        let done = download?.doneBytes ?? partialBytes
        return sizeBytes == 0 ? 0 : Double(done) / Double(sizeBytes)
    }
}

/// Everything the models screen shows.
public struct ModelsUiState: Sendable, Equatable {
    /// The catalog's models, then the installed files it does not know.
    public var rows: [ModelRow] = []
    /// The banner's error, if any.
    public var error: UserError?
}
