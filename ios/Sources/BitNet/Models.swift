// Getting models onto the device: an AsyncThrowingStream over ModelStore.download (the
// generated bindings hold ModelStore, Download, CatalogEntry, DownloadProgress and BitNetError).

import Foundation

/// What a model download reports.
public enum DownloadEvent: Sendable {
    /// Bytes on disk so far, speed and time left (at most every `progressIntervalMs`).
    case progress(DownloadProgress)
    /// The model is installed and its SHA-256 checked: the path is ready for
    /// `BitNetEngine.load(path:)`.
    case done(path: String)
}

extension ModelStore {
    /// Downloads the catalog model `id` (resuming what an earlier download left) and streams
    /// its progress, ending with `.done`. Errors end the stream with a `BitNetError`:
    /// `.InsufficientStorage` (before any byte), `.Http`, `.Network`, `.ChecksumMismatch`
    /// (nothing installed), `.ModelNotFound`.
    ///
    /// Leaving the `for try await` loop cancels the download; what arrived stays on disk and
    /// the next call resumes it (`partialBytes(id:)`).
    public func downloads(
        _ id: String, options: DownloadOptions = defaultDownloadOptions()
    ) -> AsyncThrowingStream<DownloadEvent, Error> {
        AsyncThrowingStream(bufferingPolicy: .bufferingNewest(16)) { continuation in
            let download: Download
            do {
                download = try self.download(
                    id: id, options: options, listener: ProgressForwarder(continuation: continuation))
            } catch {
                continuation.finish(throwing: error)
                return
            }
            continuation.onTermination = { termination in
                if case .cancelled = termination { download.cancel() }
            }
            Task {
                do {
                    let path = try await download.wait()
                    continuation.yield(.done(path: path))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }
}

/// Forwards progress into a stream (older events are dropped when the consumer lags).
private final class ProgressForwarder: DownloadListener {
    private let continuation: AsyncThrowingStream<DownloadEvent, Error>.Continuation

    init(continuation: AsyncThrowingStream<DownloadEvent, Error>.Continuation) {
        self.continuation = continuation
    }

    func onProgress(progress: DownloadProgress) {
        continuation.yield(.progress(progress))
    }
}
