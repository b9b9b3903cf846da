// Twin of StoreTest.kt: ModelStore through the binding: the download stream against a loopback
// HTTP server (LoopbackServer.swift) that serves the synthetic model with Range support,
// slowly or with injected faults.

import Foundation
import XCTest
import BitNet

final class StoreTests: XCTestCase {
    /// The model served by a loopback server (stopped by the test's teardown), with the
    /// catalog that lists it.
    private struct Served {
        let bytes: [UInt8]
        /// sha256sum's, from scripts/test-swift.sh (no SHA-256 in Foundation on Linux).
        let sha256: String
        let server: LoopbackServer

        var size: UInt64 { UInt64(bytes.count) }

        func catalog() -> String {
            """
            {"models": [{"id": "tiny", "name": "Tiny", "file_name": "tiny.gguf", "urls": ["\(server.url)"],
                "size_bytes": \(bytes.count), "sha256": "\(sha256)", "format": "I2_S", "arch": "bitnet-b1.58",
                "license": "MIT", "memory": {"fixed_bytes": 1, "kv_bytes_per_token": 1,
                "context_tokens": 256, "min_context_tokens": 256}}]}
            """
        }
    }

    private func serve() throws -> Served {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try Fixture.model())))
        let server = try LoopbackServer(serving: bytes)
        addTeardownBlock { server.stop() }
        return Served(bytes: bytes, sha256: try Fixture.setting("BITNET_TEST_MODEL_SHA256"), server: server)
    }

    private let quick: DownloadOptions = {
        var options = defaultDownloadOptions()
        options.retries = 1
        options.firstBackoffMs = 10
        options.progressIntervalMs = 0
        return options
    }()

    private func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { Array($0) }
    }

    // `the download Flow ends in Done with the verified path, listed as installed`
    func testTheDownloadStreamEndsInDoneWithTheVerifiedPathListedAsInstalled() async throws {
        let served = try serve()
        let store = try ModelStore(dir: try temporaryDirectory(self).path, catalogJson: served.catalog(), quotaBytes: nil)
        let events = try await collect(store.downloads("tiny", options: quick))
        guard case let .done(path) = events.last else { return XCTFail("no Done at the end: \(events)") }
        let progress = events.dropLast().compactMap { event -> DownloadProgress? in
            if case let .progress(progress) = event { return progress }
            return nil
        }
        XCTAssertEqual(progress.count, events.count - 1, "only progress before Done")
        XCTAssertEqual(progress.last?.doneBytes, served.size)
        XCTAssertEqual(contents(path), served.bytes)
        XCTAssertEqual(try store.pathOf(id: "tiny"), path)
        try await store.verify(id: "tiny")
        let installed = try await store.list(config: EngineConfig())
        XCTAssertEqual(installed.count, 1)
        XCTAssertEqual(installed.first?.catalogId, "tiny")
        XCTAssertEqual(installed.first?.fits, true)
    }

    // `cancelling the collector cancels the download and leaves a resumable part`
    func testLeavingTheLoopCancelsTheDownloadAndLeavesAResumablePart() async throws {
        let served = try serve()
        served.server.reset(LoopbackServer.Behaviour(delayMs: 20))
        let store = try ModelStore(dir: try temporaryDirectory(self).path, catalogJson: served.catalog(), quotaBytes: nil)
        // The loop leaves at the first progress past the first chunk.
        for try await event in store.downloads("tiny", options: quick) {
            if case let .progress(progress) = event, progress.doneBytes > 0 { break }
        }
        // The download thread stops at its next chunk.
        let deadline = Date().addingTimeInterval(10)
        var kept = try store.partialBytes(id: "tiny")
        while Date() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
            let now = try store.partialBytes(id: "tiny")
            if now == kept { break }
            kept = now
        }
        XCTAssert((1..<served.size).contains(kept), "\(kept) bytes kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: try store.pathOf(id: "tiny")))
        served.server.reset()
        let events = try await collect(store.downloads("tiny", options: quick))
        guard case let .done(path) = events.last else { return XCTFail("no Done at the end: \(events)") }
        XCTAssertEqual(served.server.ranges, ["bytes=\(kept)-"], "resumed where it stopped")
        XCTAssertEqual(contents(path), served.bytes)
    }

    // `errors are typed exceptions with their fields`
    func testErrorsAreTypedWithTheirFields() async throws {
        let served = try serve()
        let server = served.server
        let dir = try temporaryDirectory(self)
        let store = try ModelStore(dir: dir.path, catalogJson: served.catalog(), quotaBytes: nil)
        let quick = self.quick

        server.reset(LoopbackServer.Behaviour(corruptAt: served.bytes.count / 2))
        let mismatch = await assertThrowsBitNet({ _ = try await collect(store.downloads("tiny", options: quick)) }) {
            if case let .ChecksumMismatch(_, expected, actual) = $0 { return (expected, actual) }
            return nil
        }
        XCTAssertEqual(mismatch?.0, served.sha256)
        XCTAssertNotEqual(mismatch?.1, served.sha256)
        XCTAssertFalse(FileManager.default.fileExists(atPath: try store.pathOf(id: "tiny")))

        server.reset(LoopbackServer.Behaviour(status: 404))
        let status = await assertThrowsBitNet({ _ = try await collect(store.downloads("tiny", options: quick)) }) {
            if case let .Http(_, status, _) = $0 { return status }
            return nil
        }
        XCTAssertEqual(status, 404)

        server.reset()
        let small = try ModelStore(
            dir: dir.appendingPathComponent("small").path, catalogJson: served.catalog(), quotaBytes: served.size - 1)
        let full = await assertThrowsBitNet({ _ = try await collect(small.downloads("tiny", options: quick)) }) {
            if case let .InsufficientStorage(_, needed, available) = $0 { return (needed, available) }
            return nil
        }
        XCTAssertEqual(full?.0, served.size)
        XCTAssertEqual(full?.1, served.size - 1)
        XCTAssertEqual(server.ranges, [], "nothing was requested")

        XCTAssertThrowsError(try store.partialBytes(id: "nope")) { error in
            guard case BitNetError.ModelNotFound = error else { return XCTFail("\(error)") }
        }
    }

    // `the built-in catalog lists the official model and the demo`
    func testTheBuiltInCatalogListsTheOfficialModelAndTheDemo() throws {
        let store = try ModelStore(dir: try temporaryDirectory(self).path, catalogJson: nil, quotaBytes: nil)
        XCTAssertEqual(store.catalog().map(\.id), ["bitnet-b1.58-2b-4t-i2_s", "bitnet-demo-i2_s"])
        let official = try XCTUnwrap(store.catalog().first)
        XCTAssertEqual(official.sizeBytes, 1_187_801_280)
        XCTAssertEqual(try store.fits(id: official.id).map(\.fits), [false, false, true, true])
    }
}
