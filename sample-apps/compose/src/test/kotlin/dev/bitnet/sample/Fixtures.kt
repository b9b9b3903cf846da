package dev.bitnet.sample

import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelStore
import dev.bitnet.BitNet
import dev.bitnet.BitNetEngineInterface
import dev.bitnet.core.EngineConfig
import dev.bitnet.ModelStore
import dev.bitnet.core.ThermalState
import dev.bitnet.core.Throttle
import dev.bitnet.defaultThermalPolicy
import dev.bitnet.sample.bench.BenchViewModel
import dev.bitnet.sample.chat.ChatViewModel
import dev.bitnet.sample.models.ModelsViewModel
import java.io.File
import java.nio.file.Files
import java.util.Collections
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

/**
 * What scripts/test-compose.sh hands the tests as system properties: the demo model and the
 * replies `bitnet chat` printed for it, one line per turn.
 */
object Fixtures {
    private fun property(name: String): String =
        requireNotNull(System.getProperty(name)) { "system property $name (set by scripts/test-compose.sh)" }

    /** The committed demo model. */
    val demoModel: String = property("bitnet.demoModel")

    /** `bitnet chat` greedy: "What is 17 + 25?" then "Reverse the list: red, green, blue". */
    val greedyReplies: List<String> = File(property("bitnet.expectedGreedy")).readLines()

    /** `bitnet chat --system "You are terse." --temperature 0.8 --top-k 40 --seed 7`: "Define cynic.". */
    val sampledReply: String = File(property("bitnet.expectedSampled")).readText().trimEnd('\n')

    /** The two greedy prompts, in order. */
    val greedyPrompts = listOf("What is 17 + 25?", "Reverse the list: red, green, blue")

    /** A fresh, empty store directory. */
    fun storeDir(): File = Files.createTempDirectory("bitnet-sample-store").toFile().apply { deleteOnExit() }

    /** An environment over the demo model and a fresh store with the built-in catalog (or [catalog]). */
    fun env(
        loader: EngineLoader = EngineLoader.Plain,
        budget: ULong? = null,
        catalog: String? = null,
        dir: File = storeDir(),
    ) = SampleEnvironment(loader, ModelStore(dir.path, catalog), demoModel, deviceBudgetBytes = budget)
}

/**
 * Loads engines as [EngineLoader.Plain] does, keeping each one in [engines] so that a test can
 * ask the engine itself what happened.
 */
class RecordingLoader(private val config: (EngineConfig) -> EngineConfig = { it }) : EngineLoader {
    /** Every engine loaded, in order. */
    val engines: MutableList<BitNetEngineInterface> = Collections.synchronizedList(mutableListOf())

    override suspend fun load(path: String, config: EngineConfig): BitNetEngineInterface =
        BitNet.load(path, config(config)).also { engines += it }

    companion object {
        /**
         * A warm device: engines whose policy pauses [pauseMs] between tokens when `FAIR`, and
         * which are told they are `FAIR` — replies arrive slowly enough to be stopped midway.
         */
        fun warm(pauseMs: ULong = 150u) = object : EngineLoader {
            override suspend fun load(path: String, config: EngineConfig): BitNetEngineInterface {
                val policy = defaultThermalPolicy().copy(fair = Throttle.Run(100u, pauseMs))
                return BitNet.load(path, config.copy(thermalPolicy = policy)).also { it.reportThermal(ThermalState.FAIR, null) }
            }
        }
    }
}

/** Waits (at most [timeoutMs]) for a state matching [predicate], and returns it. */
fun <T> StateFlow<T>.await(timeoutMs: Long = 30_000, predicate: (T) -> Boolean): T = runBlocking {
    withTimeout(timeoutMs) { first(predicate) }
}

/** The app's view-models over [env], made by its factory; [close] clears them as a platform would. */
class ViewModels(env: SampleEnvironment) : AutoCloseable {
    private val store = ViewModelStore()
    private val provider = ViewModelProvider.create(store, sampleViewModelFactory(env))

    /** The chat's. */
    val chat: ChatViewModel by lazy { provider[ChatViewModel::class] }

    /** The benchmark's. */
    val bench: BenchViewModel by lazy { provider[BenchViewModel::class] }

    /** The models screen's. */
    val models: ModelsViewModel by lazy { provider[ModelsViewModel::class] }

    override fun close() = store.clear()
}
