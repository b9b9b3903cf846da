package dev.bitnet.sample

import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress
import java.security.MessageDigest
import java.util.Collections

/**
 * A loopback HTTP server (the JDK's own) serving [bytes] at /model.gguf with Range support,
 * pausing [delayMs] after each 16 KiB so that a download can be watched and paused.
 */
class ModelServer(private val bytes: ByteArray) : AutoCloseable {
    /** Pause after each 16 KiB chunk, in ms. */
    @Volatile var delayMs = 0L

    /** The Range header of each request (null when absent). */
    val ranges: MutableList<String?> = Collections.synchronizedList(mutableListOf())

    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
        createContext("/model.gguf") { exchange ->
            val range = exchange.requestHeaders.getFirst("Range")
            ranges += range
            val start = range?.removePrefix("bytes=")?.removeSuffix("-")?.toInt() ?: 0
            if (start > 0) exchange.responseHeaders.add("Content-Range", "bytes $start-${bytes.size - 1}/${bytes.size}")
            exchange.sendResponseHeaders(if (start > 0) 206 else 200, (bytes.size - start).toLong())
            try {
                exchange.responseBody.use { out ->
                    var at = start
                    while (at < bytes.size) {
                        val end = minOf(at + 16384, bytes.size)
                        out.write(bytes, at, end - at)
                        out.flush()
                        at = end
                        if (delayMs > 0) Thread.sleep(delayMs)
                    }
                }
            } catch (_: java.io.IOException) {
                // The client went away (a paused download).
            }
        }
        start()
    }

    /** A catalog with one model, [id], served here. */
    fun catalog(id: String): String {
        val sha256 = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
        val url = "http://127.0.0.1:${server.address.port}/model.gguf"
        return """{"models": [{"id": "$id", "name": "Demo over loopback", "file_name": "$id.gguf", "urls": ["$url"],
            "size_bytes": ${bytes.size}, "sha256": "$sha256", "format": "I2_S", "arch": "bitnet-b1.58",
            "license": "public domain", "memory": {"fixed_bytes": 1, "kv_bytes_per_token": 1,
            "context_tokens": 512, "min_context_tokens": 16}}]}"""
    }

    override fun close() = server.stop(0)
}
