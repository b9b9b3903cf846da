// Seams between the platform monitors (AndroidThermalMonitor, MemoryPressureHook) and the
// engine: the sink and trimmer interfaces the monitors report to, and EngineSignals, which
// forwards both to an engine (`engine.reportThermal`, `engine.trim`).
package dev.bitnet

import dev.bitnet.core.ThermalState

/**
 * The device's thermal status, as Android's `PowerManager.THERMAL_STATUS_*` grades it, with
 * the engine state each one stands for ([state]).
 *
 * The mapping follows the headroom scale the engine already uses
 * (`getThermalHeadroom` = 1.0 is `SEVERE`, which the engine treats as critical): `NONE` →
 * nominal, `LIGHT` → fair, `MODERATE` → serious (fewer threads), `SEVERE` and hotter →
 * critical (generations stop with [FinishReason.THERMAL_STOP]).
 */
enum class ThermalStatus(val state: ThermalState) {
    NONE(ThermalState.NOMINAL),
    LIGHT(ThermalState.FAIR),
    MODERATE(ThermalState.SERIOUS),
    SEVERE(ThermalState.CRITICAL),
    CRITICAL(ThermalState.CRITICAL),
    EMERGENCY(ThermalState.CRITICAL),
    SHUTDOWN(ThermalState.CRITICAL),
}

/** Where thermal readings go. */
interface ThermalSink {
    /** The thermal status changed. */
    fun onThermalStatus(status: ThermalStatus)

    /**
     * The predicted thermal headroom: 0 = no throttling expected, 1 = the device throttles
     * heavily (values above 1 happen). Reported at most once a second.
     */
    fun onThermalHeadroom(headroom: Float)
}

/** Something that can give memory back when the system runs low (the engine's caches). */
fun interface MemoryTrimmer {
    /** Frees what can be rebuilt later. */
    fun trim()
}

/**
 * Forwards the platform's signals to [engine]: thermal readings to
 * [BitNetEngineInterface.reportThermal] (the latest status and the latest headroom together,
 * as the engine acts on the hotter of the two) and memory pressure to
 * [BitNetEngineInterface.trim].
 *
 * [close] detaches it: signals arriving later (a monitor callback racing its own shutdown)
 * are dropped, so the engine can be closed right after. A trim on an engine the app already
 * released is a no-op.
 */
class EngineSignals(engine: BitNetEngineInterface) : ThermalSink, MemoryTrimmer, AutoCloseable {
    private var engine: BitNetEngineInterface? = engine
    private var state = ThermalState.NOMINAL
    private var headroom: Float? = null

    @Synchronized
    override fun onThermalStatus(status: ThermalStatus) {
        state = status.state
        engine?.reportThermal(state, headroom)
    }

    @Synchronized
    override fun onThermalHeadroom(headroom: Float) {
        this.headroom = headroom
        engine?.reportThermal(state, headroom)
    }

    @Synchronized
    override fun trim() {
        try {
            engine?.trim()
        } catch (_: BitNetException.Closed) {
            // Released by the app: nothing left to free.
        }
    }

    /** Stops forwarding; idempotent. */
    @Synchronized
    override fun close() {
        engine = null
    }
}
