// The benchmark's history as JSON, to share or keep.
package dev.bitnet.sample.bench

import dev.bitnet.core.MemoryEstimate
import dev.bitnet.core.Stat

/** Writes benchmark results as one JSON object (no library: numbers, strings and arrays only). */
object BenchJson {
    /** The [device], the model's [estimate], every run in [history] and the [sustained] run. */
    fun encode(device: DeviceInfo, estimate: MemoryEstimate?, history: List<BenchResult>, sustained: SustainedTrace?): String =
        obj(
            "device" to obj(
                "cores" to device.cores.toString(),
                "arch" to str(device.arch),
                "cpu_features" to arr(device.cpuFeatures.map(::str)),
                "performance_cpus" to arr(device.hardware.performanceCpus.map { it.toString() }),
                "kernel_tables" to arr(device.hardware.kernelTables.map(::str)),
                "memory_bytes" to (device.memoryBytes?.toString() ?: "null"),
            ),
            "estimate" to (estimate?.let {
                obj(
                    "mapped_bytes" to it.mappedBytes.toString(),
                    "kv_bytes_per_token" to it.kvBytesPerToken.toString(),
                    "scratch_bytes" to it.scratchBytes.toString(),
                    "default_context_tokens" to it.defaultContextTokens.toString(),
                    "total_bytes" to it.totalBytes(it.defaultContextTokens).toString(),
                )
            } ?: "null"),
            "runs" to arr(history.map(::result)),
            "sustained" to (sustained?.let(::trace) ?: "null"),
        )

    private fun result(r: BenchResult) = with(r.report) {
        obj(
            "model" to str(r.model),
            "at_ms" to r.atMs.toString(),
            "kernels" to str(kernels),
            "threads" to threads.toString(),
            "reps" to reps.toString(),
            "prompt_tokens" to promptTokens.toString(),
            "gen_tokens" to genTokens.toString(),
            "time_to_first_token_ms" to stat(timeToFirstTokenMs),
            "prefill_tokens_per_s" to stat(prefillTokensPerS),
            "decode_tokens_per_s" to stat(decodeTokensPerS),
            "bytes_per_token" to bytesPerToken.toString(),
            "effective_gb_per_s" to num(effectiveGbPerS),
            "copy_gb_per_s" to num(copyGbPerS),
            "roofline_percent" to num(rooflinePercent),
            "peak_resident_bytes" to (peakResidentBytes?.toString() ?: "null"),
            "head_type" to str(headType),
        )
    }

    private fun trace(t: SustainedTrace) = obj(
        "seconds" to num(t.seconds),
        "schedule" to str(t.schedule.toString()),
        "samples" to arr(t.samples.map { obj("t_s" to num(it.tS), "tokens_per_s" to num(it.tokensPerS), "state" to str(it.state.name.lowercase()), "threads" to it.threads.toString()) }),
        "thermal_changes" to arr(t.marks.map { obj("t_s" to num(it.tS), "state" to str(it.state.name.lowercase()), "threads" to it.threads.toString(), "pause_ms" to it.pauseMs.toString()) }),
        "thermal_stop_s" to (t.thermalStopS?.let(::num) ?: "null"),
    )

    private fun stat(s: Stat) = obj("mean" to num(s.mean), "sd" to num(s.sd))

    private fun num(value: Double) = if (value.isFinite()) value.toString() else "null"

    private fun obj(vararg fields: Pair<String, String>) = fields.joinToString(",", "{", "}") { (k, v) -> "${str(k)}:$v" }

    private fun arr(items: List<String>) = items.joinToString(",", "[", "]")

    private fun str(s: String) = buildString {
        append('"')
        for (c in s) {
            when {
                c == '"' -> append("\\\"")
                c == '\\' -> append("\\\\")
                c < ' ' -> append(String.format("\\u%04x", c.code))
                else -> append(c)
            }
        }
        append('"')
    }
}
