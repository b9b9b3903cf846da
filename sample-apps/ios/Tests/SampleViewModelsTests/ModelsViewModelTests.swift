// Twin of the Compose app's ModelsViewModelTest: the models screen's state machine with
// downloads from a loopback HTTP server (LoopbackServer.swift, the Swift package's own test
// server), pause and resume, delete, import.

import BitNet
import Foundation
import SampleViewModels
import XCTest

@MainActor
// XCTest runs each test on the main thread: the instance is only used there (Linux's
// XCTestCase is not Sendable, and the discovered tests hand it to these main-actor methods).
final class ModelsViewModelTests: XCTestCase, @unchecked Sendable {
    /// Quick retries and every progress event.
    private let quick: DownloadOptions = {
        var options = defaultDownloadOptions()
        options.retries = 1
        options.firstBackoffMs = 10
        options.progressIntervalMs = 0
        return options
    }()

    /// The demo model's bytes, served by a loopback server (stopped by the teardown), and a
    /// catalog whose one model, `demo`, is downloaded from it.
    private struct Served {
        let bytes: [UInt8]
        let server: LoopbackServer
        let catalog: String

        var size: UInt64 { UInt64(bytes.count) }
    }

    private func serve() throws -> Served {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try Fixtures.demoModel())))
        let server = try LoopbackServer(serving: bytes)
        addTeardownBlock { server.stop() }
        let catalog = """
            {"models": [{"id": "demo", "name": "Demo over loopback", "file_name": "demo.gguf", "urls": ["\(server.url)"],
                "size_bytes": \(bytes.count), "sha256": "\(try Fixtures.demoSha256())", "format": "I2_S",
                "arch": "bitnet-b1.58", "license": "public domain", "memory": {"fixed_bytes": 1,
                "kv_bytes_per_token": 1, "context_tokens": 512, "min_context_tokens": 16}}]}
            """
        return Served(bytes: bytes, server: server, catalog: catalog)
    }

    /// The view-model as the app makes it, with `quick` downloads (closed by the teardown).
    private func models(_ env: SampleEnvironment) -> ModelsViewModel {
        let vm = ModelsViewModel(env: env, options: quick)
        addTeardownBlock { vm.close() }
        return vm
    }

    private func row(_ vm: ModelsViewModel, _ id: String) throws -> ModelRow {
        try XCTUnwrap(vm.state.rows.first { $0.catalogId == id })
    }

    private func contents(_ path: String?) -> [UInt8]? {
        path.flatMap { FileManager.default.contents(atPath: $0) }.map { Array($0) }
    }

    // `a download shows its progress and ends installed, fitting`
    func testADownloadShowsItsProgressAndEndsInstalledFitting() async throws {
        let served = try serve()
        served.server.reset(LoopbackServer.Behaviour(delayMs: 5))
        let vm = models(try Fixtures.env(self, catalog: served.catalog))
        _ = try await waitFor({ vm.state }, until: { !$0.rows.isEmpty })
        XCTAssertNil(try row(vm, "demo").installedPath)
        vm.download("demo")
        _ = try await waitFor({ vm.state }, until: { state in
            let done = state.rows.first?.download?.doneBytes ?? 0
            return done > 0 && done < served.size
        })
        let progress = try row(vm, "demo")
        XCTAssertEqual(progress.download?.totalBytes, served.size)
        XCTAssertTrue(progress.fraction > 0 && progress.fraction < 1, "\(progress.fraction)")
        _ = try await waitFor({ vm.state }, until: { $0.rows.first?.installedPath != nil && $0.rows.first?.download == nil })
        let done = try row(vm, "demo")
        XCTAssertEqual(contents(done.installedPath), served.bytes)
        XCTAssertEqual(done.fit, "fits")
        XCTAssertEqual(done.format, "I2_S")
        XCTAssertEqual(done.arch, "bitnet-b1.58")
    }

    // `pause keeps what arrived, and downloading again resumes from there`
    func testPauseKeepsWhatArrivedAndDownloadingAgainResumesFromThere() async throws {
        let served = try serve()
        served.server.reset(LoopbackServer.Behaviour(delayMs: 20))
        let env = try Fixtures.env(self, catalog: served.catalog)
        let vm = models(env)
        _ = try await waitFor({ vm.state }, until: { !$0.rows.isEmpty })
        vm.download("demo")
        _ = try await waitFor({ vm.state }, until: { ($0.rows.first?.download?.doneBytes ?? 0) > 0 })
        vm.pause("demo")
        _ = try await waitFor({ vm.state }, until: { $0.rows.first?.download == nil && ($0.rows.first?.partialBytes ?? 0) > 0 })
        // The download thread stops at its next chunk: wait for the part to stop growing.
        var kept = try env.store.partialBytes(id: "demo")
        while true {
            try await Task.sleep(nanoseconds: 200_000_000)
            let now = try env.store.partialBytes(id: "demo")
            if now == kept { break }
            kept = now
        }
        XCTAssertTrue((1..<served.size).contains(kept), "\(kept)")
        vm.refresh()
        _ = try await waitFor({ vm.state }, until: { $0.rows.first?.partialBytes == kept })
        let paused = try row(vm, "demo")
        XCTAssertNil(paused.installedPath)
        XCTAssertEqual(paused.fraction, Double(kept) / Double(served.size), accuracy: 1e-6)
        served.server.reset()
        vm.download("demo")
        _ = try await waitFor({ vm.state }, until: { $0.rows.first?.installedPath != nil })
        XCTAssertEqual(served.server.ranges, ["bytes=\(kept)-"])
        XCTAssertEqual(contents(try row(vm, "demo").installedPath), served.bytes)
    }

    // `delete removes the installed file`
    func testDeleteRemovesTheInstalledFile() async throws {
        let served = try serve()
        let vm = models(try Fixtures.env(self, catalog: served.catalog))
        _ = try await waitFor({ vm.state }, until: { !$0.rows.isEmpty })
        vm.download("demo")
        _ = try await waitFor({ vm.state }, until: { $0.rows.first?.installedPath != nil })
        let installed = try row(vm, "demo")
        let path = try XCTUnwrap(installed.installedPath)
        vm.delete(installed)
        _ = try await waitFor({ vm.state }, until: { $0.rows.first?.installedPath == nil })
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    // `the bundled demo model imports as the built-in catalog's entry`
    func testTheBundledDemoModelImportsAsTheBuiltInCatalogsEntry() async throws {
        let env = try Fixtures.env(self)
        let vm = models(env)
        _ = try await waitFor({ vm.state }, until: { !$0.rows.isEmpty })
        let demo = try row(vm, "bitnet-demo-i2_s")
        XCTAssertTrue(demo.importable)
        XCTAssertFalse(demo.downloadable)
        vm.importBundled("bitnet-demo-i2_s")
        _ = try await waitFor({ vm.state }, until: { $0.rows.contains { $0.catalogId == "bitnet-demo-i2_s" && $0.installedPath != nil } })
        XCTAssertFalse(try row(vm, "bitnet-demo-i2_s").importable)
        // The official model is listed for download, with the profiles it fits.
        let official = try row(vm, "bitnet-b1.58-2b-4t-i2_s")
        XCTAssertTrue(official.downloadable)
        let profiles = try env.store.fits(id: "bitnet-b1.58-2b-4t-i2_s").filter(\.fits).map(\.profile.name)
        XCTAssertEqual(official.fit, "fits " + profiles.joined(separator: ", "))
    }
}
