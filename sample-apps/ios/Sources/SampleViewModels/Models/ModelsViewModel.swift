// The models screen's state machine: list the catalog and the installed models, download with
// progress, pause (cancel) and resume (download again), import the bundled demo, delete.

import BitNet
import Foundation
import Observation

/// The model store's catalog and installed files. A download streams its progress into its row;
/// `pause(_:)` cancels it, keeping what arrived, and `download(_:)` again resumes from there (the
/// store asks the server for the rest). Installed models are planned with the device's memory
/// budget, so each row says whether it fits. Everything runs on the main actor.
@MainActor
@Observable
public final class ModelsViewModel {
    /// What the screen shows.
    public private(set) var state = ModelsUiState()

    /// A running download; `number` tells it from a later download of the same model.
    private struct Running {
        let number: Int
        let task: Task<Void, Never>
    }

    @ObservationIgnored private let env: SampleEnvironment
    @ObservationIgnored private let options: DownloadOptions
    /// The running downloads by catalog id.
    @ObservationIgnored private var downloads: [String: Running] = [:]
    @ObservationIgnored private var started = 0

    /// The models of `env`'s store, downloaded with `options` (progress interval, retries,
    /// timeouts); lists them at once.
    public init(env: SampleEnvironment, options: DownloadOptions = defaultDownloadOptions()) {
        self.env = env
        self.options = options
        refresh()
    }

    /// Reads the catalog and the installed models again.
    public func refresh() {
        Task { await reload() }
    }

    /// Downloads (or resumes) the catalog model `id`.
    public func download(_ id: String) {
        if let running = downloads[id], !running.task.isCancelled { return }
        started += 1
        let number = started
        let task = Task {
            do {
                for try await event in env.store.downloads(id, options: options) {
                    if case let .progress(progress) = event { updateRow(id) { $0.download = progress } }
                }
            } catch {
                state.error = UserError(error)
            }
            // Done, failed or paused: the store says what is on disk now.
            if downloads[id]?.number == number { downloads[id] = nil }
            await reload()
        }
        downloads[id] = Running(number: number, task: task)
    }

    /// Pauses the download of `id`: what arrived stays on disk for the next `download(_:)`.
    public func pause(_ id: String) {
        downloads[id]?.task.cancel()
    }

    /// Installs the bundled demo model file as the catalog model `id` (a checked copy).
    public func importBundled(_ id: String) {
        guard let path = env.demoModelPath else { return }
        Task {
            do {
                _ = try await env.store.import(path: path, id: id, keepSource: true)
            } catch {
                state.error = UserError(error)
            }
            await reload()
        }
    }

    /// Removes `row`'s installed file and any partial download of it.
    public func delete(_ row: ModelRow) {
        if let id = row.catalogId { pause(id) }
        Task {
            do {
                try env.store.delete(fileName: row.fileName)
            } catch {
                state.error = UserError(error)
            }
            await reload()
        }
    }

    /// Hides the error banner.
    public func dismissError() {
        state.error = nil
    }

    /// Pauses every download; the view-model does nothing afterwards.
    public func close() {
        for running in downloads.values { running.task.cancel() }
    }

    private func reload() async {
        do {
            let store = env.store
            let installed = try await store.list(config: EngineConfig(memoryBudgetBytes: env.deviceBudgetBytes))
            let progress = Dictionary(state.rows.map { ($0.id, $0.download) }, uniquingKeysWith: { first, _ in first })
            let catalog = try store.catalog().map { entry in
                let file = installed.first { $0.catalogId == entry.id }
                let fit: String
                if let file {
                    fit = Self.installedFit(file)
                } else {
                    fit = Self.profilesFit(try store.fits(id: entry.id))
                }
                let active = downloads[entry.id].map { !$0.task.isCancelled } ?? false
                return ModelRow(
                    catalogId: entry.id, name: entry.name, fileName: entry.fileName, sizeBytes: entry.sizeBytes,
                    arch: entry.arch, format: entry.format, fit: fit, installedPath: file?.path,
                    downloadable: !entry.urls.isEmpty,
                    importable: entry.urls.isEmpty && file == nil && env.demoModelPath != nil,
                    partialBytes: try store.partialBytes(id: entry.id),
                    download: active ? progress[entry.id] ?? nil : nil)
            }
            let others = installed.filter { file in !catalog.contains { $0.catalogId == file.catalogId } }.map { file in
                ModelRow(
                    catalogId: nil, name: file.fileName, fileName: file.fileName, sizeBytes: file.sizeBytes,
                    arch: file.arch, format: file.format, fit: Self.installedFit(file), installedPath: file.path,
                    downloadable: false)
            }
            state.rows = catalog + others
        } catch {
            state.error = UserError(error)
        }
    }

    private static func installedFit(_ file: InstalledModel) -> String {
        if let problem = file.problem { return "cannot load: \(problem)" }
        return file.fits ? "fits" : "does not fit the memory budget"
    }

    private static func profilesFit(_ fits: [ProfileFit]) -> String {
        let names = fits.filter(\.fits).map(\.profile.name)
        return names.isEmpty ? "fits no profile" : "fits " + names.joined(separator: ", ")
    }

    private func updateRow(_ id: String, _ change: (inout ModelRow) -> Void) {
        guard let index = state.rows.firstIndex(where: { $0.catalogId == id }) else { return }
        change(&state.rows[index])
    }
}
