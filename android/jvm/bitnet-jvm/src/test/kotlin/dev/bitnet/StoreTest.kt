package dev.bitnet

import dev.bitnet.core.EngineConfig
import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import java.security.MessageDigest
import java.util.Collections
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * ModelStore through the binding: the download Flow against a loopback HTTP server (the JDK's
 * own) that serves the synthetic model with Range support, slowly or with injected faults.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StoreTest {
    private val bytes = File(requireNotNull(System.getProperty("bitnet.model"))).readBytes()
    private val sha256 = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

    /** What the server does: its status, a byte it flips, and a pause per 16 KiB. */
    @Volatile private var status = 200
    @Volatile private var corruptAt = -1
    @Volatile private var delayMs = 0L
    private val ranges: MutableList<String?> = Collections.synchronizedList(mutableListOf())

    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
        createContext("/model.gguf") { exchange ->
            val range = exchange.requestHeaders.getFirst("Range")
            ranges += range
            if (status != 200) {
                exchange.sendResponseHeaders(status, -1)
                exchange.close()
                return@createContext
            }
            val start = range?.removePrefix("bytes=")?.removeSuffix("-")?.toInt() ?: 0
            if (start > 0) {
                exchange.responseHeaders.add("Content-Range", "bytes $start-${bytes.size - 1}/${bytes.size}")
            }
            exchange.sendResponseHeaders(if (start > 0) 206 else 200, (bytes.size - start).toLong())
            try {
                exchange.responseBody.use { out ->
                    var at = start
                    while (at < bytes.size) {
                        val end = minOf(at + 16384, bytes.size)
                        val chunk = bytes.copyOfRange(at, end)
                        if (corruptAt in at until end) chunk[corruptAt - at] = (chunk[corruptAt - at].toInt() xor 0xff).toByte()
                        out.write(chunk)
                        out.flush()
                        at = end
                        if (delayMs > 0) Thread.sleep(delayMs)
                    }
                }
            } catch (_: java.io.IOException) {
                // The client went away (a cancelled download).
            }
        }
        start()
    }

    @AfterAll
    fun stop() = server.stop(0)

    private fun catalog(): String {
        val url = "http://127.0.0.1:${server.address.port}/model.gguf"
        return """{"models": [{"id": "tiny", "name": "Tiny", "file_name": "tiny.gguf", "urls": ["$url"],
            "size_bytes": ${bytes.size}, "sha256": "$sha256", "format": "I2_S", "arch": "bitnet-b1.58",
            "license": "MIT", "memory": {"fixed_bytes": 1, "kv_bytes_per_token": 1,
            "context_tokens": 256, "min_context_tokens": 256}}]}"""
    }

    private fun reset(status: Int = 200, corruptAt: Int = -1, delayMs: Long = 0) {
        this.status = status
        this.corruptAt = corruptAt
        this.delayMs = delayMs
        ranges.clear()
    }

    private val quick = defaultDownloadOptions().copy(retries = 1u, firstBackoffMs = 10uL, progressIntervalMs = 0uL)

    @Test
    fun `the download Flow ends in Done with the verified path, listed as installed`(@TempDir dir: File) = runBlocking<Unit> {
        reset()
        val store = ModelStore(dir.path, catalog())
        val events = store.download("tiny", quick).toList()
        val done = events.last() as DownloadEvent.Done
        assertTrue(events.dropLast(1).all { it is DownloadEvent.InProgress })
        assertEquals(bytes.size.toULong(), (events[events.size - 2] as DownloadEvent.InProgress).progress.doneBytes)
        assertTrue(File(done.path).readBytes().contentEquals(bytes))
        assertEquals(store.pathOf("tiny"), done.path)
        store.verify("tiny")
        val installed = store.list(EngineConfig()).single()
        assertEquals("tiny", installed.catalogId)
        assertTrue(installed.fits)
    }

    @Test
    fun `cancelling the collector cancels the download and leaves a resumable part`(@TempDir dir: File) = runBlocking<Unit> {
        reset(delayMs = 20)
        val store = ModelStore(dir.path, catalog())
        // The collector leaves at the first progress past the first chunk.
        store.download("tiny", quick).first { it is DownloadEvent.InProgress && it.progress.doneBytes > 0u }
        // The download thread stops at its next chunk.
        val deadline = System.nanoTime() + 10_000_000_000
        var kept = store.partialBytes("tiny")
        while (System.nanoTime() < deadline) {
            Thread.sleep(100)
            val now = store.partialBytes("tiny")
            if (now == kept) break
            kept = now
        }
        assertTrue(kept in 1uL until bytes.size.toULong(), "$kept bytes kept")
        assertFalse(File(store.pathOf("tiny")).exists())
        reset()
        val done = store.download("tiny", quick).toList().last() as DownloadEvent.Done
        assertEquals(listOf("bytes=$kept-"), ranges.toList(), "resumed where it stopped")
        assertTrue(File(done.path).readBytes().contentEquals(bytes))
    }

    @Test
    fun `errors are typed exceptions with their fields`(@TempDir dir: File) = runBlocking<Unit> {
        reset(corruptAt = bytes.size / 2)
        val store = ModelStore(dir.path, catalog())
        val mismatch = assertThrows<BitNetException.ChecksumMismatch> { runBlocking { store.download("tiny", quick).toList() } }
        assertEquals(sha256, mismatch.expected)
        assertTrue(mismatch.actual != sha256)
        assertFalse(File(store.pathOf("tiny")).exists())

        reset(status = 404)
        val notFound = assertThrows<BitNetException.Http> { runBlocking { store.download("tiny", quick).toList() } }
        assertEquals(404.toUShort(), notFound.status)

        reset()
        val small = ModelStore(File(dir, "small").path, catalog(), bytes.size.toULong() - 1u)
        val full = assertThrows<BitNetException.InsufficientStorage> { runBlocking { small.download("tiny", quick).toList() } }
        assertEquals(bytes.size.toULong(), full.needed)
        assertEquals(bytes.size.toULong() - 1u, full.available)
        assertTrue(ranges.isEmpty(), "nothing was requested")

        assertThrows<BitNetException.ModelNotFound> { store.partialBytes("nope") }
    }

    @Test
    fun `the built-in catalog lists the official model and the demo`(@TempDir dir: File) {
        val store = ModelStore(dir.path)
        val ids = store.catalog().map { it.id }
        assertEquals(listOf("bitnet-b1.58-2b-4t-i2_s", "bitnet-demo-i2_s"), ids)
        val official = store.catalog().first()
        assertEquals(1187801280uL, official.sizeBytes)
        assertEquals(listOf(false, false, true, true), store.fits(official.id).map { it.fits })
    }
}
