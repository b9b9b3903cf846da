// The Kotlin face of the SDK: coroutine and Flow conveniences over the generated bindings
// (`bitnet_ffi.kt` in src/main/uniffi, package dev.bitnet: BitNetEngine, ChatSession, the
// records, GenerationEvent and the sealed BitNetException).
package dev.bitnet

import dev.bitnet.core.BenchConfig
import dev.bitnet.core.BenchReport
import dev.bitnet.core.ChatMessage
import dev.bitnet.core.EngineConfig
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.MemoryEstimate
import dev.bitnet.core.Prompt
import dev.bitnet.core.SessionConfig
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Entry point: loads models and sizes them. */
object BitNet {
    /**
     * Maps and validates the GGUF model at [path] off the caller's thread.
     *
     * @throws BitNetException.FileUnreadable, BitNetException.InvalidModelFile,
     *   BitNetException.UnsupportedModel, BitNetException.InvalidOption, ...
     */
    suspend fun load(path: String, config: EngineConfig = EngineConfig()): BitNetEngine =
        BitNetEngine.load(path, config)

    /**
     * What the model at [path] would need in memory with [config], from its header alone, off
     * the caller's thread (see [MemoryEstimate]; all sizes in bytes).
     *
     * @throws BitNetException.FileUnreadable, BitNetException.InvalidModelFile,
     *   BitNetException.UnsupportedModel
     */
    suspend fun estimate(path: String, config: EngineConfig = EngineConfig()): MemoryEstimate =
        estimateMemory(path, config)
}

/**
 * Measures this engine off the caller's thread ([BitNetEngineInterface.benchmark], the routine
 * `bitnet bench` runs): prefill and decode speed, first-token latency, peak memory, and decode's
 * bytes per second against the device's measured copy bandwidth ([BenchReport.rooflinePercent]).
 *
 * Cancelling the coroutine stops the run before its next forward pass, and returns only once it
 * has stopped. To keep what a stopped run measured, call [BitNetEngineInterface.cancelBenchmark]
 * instead: this call then returns the repetitions finished ([BenchReport.reps], 0 for none).
 *
 * @throws BitNetException.InvalidOption for a count of 0 in [config].
 */
suspend fun BitNetEngineInterface.runBenchmark(config: BenchConfig = defaultBenchConfig()): BenchReport {
    val engine = this
    return coroutineScope {
        // UNDISPATCHED: the run is registered (so `cancelBenchmark` reaches it) before `await`
        // can be cancelled. NonCancellable: a cancelled caller waits for the run to stop.
        val run = async(start = CoroutineStart.UNDISPATCHED) { withContext(NonCancellable) { engine.benchmark(config) } }
        try {
            run.await()
        } catch (e: CancellationException) {
            engine.cancelBenchmark()
            throw e
        }
    }
}

/** Starts a conversation with the default [SessionConfig]. */
fun BitNetEngineInterface.session(): ChatSession = session(SessionConfig())

/**
 * Streams a chat reply to [messages]: [GenerationEvent.Text] pieces, then one
 * [GenerationEvent.Finished] with the summary and statistics. Errors end the flow with a
 * [BitNetException].
 *
 * Cancelling the collector (or `take`, `first`, a cancelled scope) calls
 * [ChatSession.cancel]: the Rust side stops before its next token, and collection returns only
 * once it has (the partial reply stays in the history; [ChatSession.lastGeneration] has its
 * summary). A collector slower than generation slows the generation down; no event is dropped.
 */
fun ChatSession.generate(
    messages: List<ChatMessage>,
    options: GenerationOptions = GenerationOptions(),
): Flow<GenerationEvent> = generate(Prompt.Chat(messages), options)

/** Streams the continuation of raw [text] (no chat template), as `bitnet generate` does. */
fun ChatSession.generate(
    text: String,
    options: GenerationOptions = GenerationOptions(),
): Flow<GenerationEvent> = generate(Prompt.Text(text), options)

/** Streams the reply to [prompt]; see the `messages` overload for cancellation. */
fun ChatSession.generate(prompt: Prompt, options: GenerationOptions): Flow<GenerationEvent> {
    val session = this
    return callbackFlow {
        val listener = object : GenerationListener {
            // Blocks the generating thread while the buffer is full. Fails only once the flow
            // is closed, i.e. the collector is gone: then stop generating before the next
            // token, without waiting for `awaitClose` to run.
            override fun onEvent(event: GenerationEvent) {
                if (trySendBlocking(event).isClosed) session.cancel()
            }
        }
        // UNDISPATCHED: the Rust call has registered its generation (so `cancel` reaches it)
        // before `awaitClose` below can run. NonCancellable: a cancelled collector waits for
        // the Rust side to stop instead of abandoning a running generation.
        launch(start = CoroutineStart.UNDISPATCHED) {
            try {
                withContext(NonCancellable) { session.generate(prompt, options, listener) }
                channel.close()
            } catch (e: Throwable) {
                // BitNetException, or a misuse such as a handle already closed: either way the
                // flow ends with it.
                channel.close(e)
            }
        }
        awaitClose { session.cancel() }
    }
}
