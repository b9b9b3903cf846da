// Getting models onto the device: an EventStream over ModelStore.download (the generated
// bindings hold ModelStore, Download, CatalogEntry, DownloadProgress and BitNetError).
// Platform-neutral: compiled and tested on Linux too (scripts/test-swift.sh).

import Foundation

/// What a model download reports.
public enum DownloadEvent: Sendable, Equatable {
    /// Bytes on disk so far, speed and time left (at most every `progressIntervalMs`).
    case progress(DownloadProgress)
    /// The model is installed and its SHA-256 checked: the path is ready for
    /// `BitNetEngine.load(path:)`.
    case done(path: String)
}

extension ModelStore {
    /// Downloads the catalog model `id` (resuming what an earlier download left) and streams
    /// its progress, ending with `.done`. Errors end the loop with a `BitNetError`:
    /// `.InsufficientStorage` (before any byte), `.Http`, `.Network`, `.ChecksumMismatch`
    /// (nothing installed), `.ModelNotFound`.
    ///
    /// The download starts when a `for try await` loop starts over the stream. Leaving the loop
    /// (or cancelling its task) cancels it; what arrived stays on disk and the next download
    /// resumes it (`partialBytes(id:)`). Progress never waits for the consumer: a consumer
    /// that lags gets the latest 16 events.
    public func downloads(
        _ id: String, options: DownloadOptions = defaultDownloadOptions()
    ) -> DownloadStream {
        DownloadStream(policy: .dropOldest(capacity: 16)) { channel in
            let download: Download
            do {
                download = try self.download(id: id, options: options, listener: ProgressForwarder(channel: channel))
            } catch {
                return channel.finish(error)
            }
            // The consumer cannot have left yet: this runs as its loop starts.
            guard channel.starting(cancel: { download.cancel() }) else { return download.cancel() }
            Task {
                do {
                    let path = try await download.wait()
                    _ = channel.send(.done(path: path))
                    channel.finish()
                } catch {
                    channel.finish(error)
                }
            }
        }
    }
}

/// Hands progress to the stream, never waiting (older events are dropped when it lags).
private final class ProgressForwarder: DownloadListener {
    private let channel: EventChannel<DownloadEvent>

    init(channel: EventChannel<DownloadEvent>) {
        self.channel = channel
    }

    func onProgress(progress: DownloadProgress) {
        _ = channel.send(.progress(progress))
    }
}
