// A scripted thermal schedule for the sustained run: the states to report to the engine, and
// when, as `bitnet bench --thermal-schedule` takes them.
package dev.bitnet.sample.bench

import dev.bitnet.core.ThermalState

/** One step: report [state] [atMs] ms after the run started. */
data class ThermalStep(val atMs: Long, val state: ThermalState)

/** The steps of a schedule, in time order; empty = leave the thermal state to the platform. */
data class ThermalSchedule(val steps: List<ThermalStep>) {
    /** The schedule in the form [parse] reads. */
    override fun toString(): String = steps.joinToString(",") { step ->
        val seconds = step.atMs / 1000.0
        val time = if (seconds == Math.floor(seconds)) "${seconds.toLong()}s" else "${seconds}s"
        "$time:${step.state.name.lowercase()}"
    }

    companion object {
        /** No scripted states. */
        val NONE = ThermalSchedule(emptyList())

        /**
         * Reads "0s:nominal,3s:fair,6s:serious,8s:critical" (seconds, decimals allowed; the
         * states in any case).
         *
         * @throws IllegalArgumentException naming the step that is not of that form.
         */
        fun parse(text: String): ThermalSchedule {
            if (text.isBlank()) return NONE
            val steps = text.split(',').map { part ->
                val (time, state) = part.trim().split(':').takeIf { it.size == 2 }
                    ?: throw IllegalArgumentException("\"$part\": expected <seconds>s:<state>")
                val seconds = time.trim().removeSuffix("s").toDoubleOrNull()?.takeIf { it >= 0 }
                    ?: throw IllegalArgumentException("\"$part\": bad time \"$time\"")
                val thermal = ThermalState.entries.firstOrNull { it.name.equals(state.trim(), ignoreCase = true) }
                    ?: throw IllegalArgumentException("\"$part\": unknown state \"$state\"")
                ThermalStep((seconds * 1000).toLong(), thermal)
            }
            return ThermalSchedule(steps.sortedBy { it.atMs })
        }
    }
}
