// Test tags of the nodes the UI tests find (and nothing else depends on).
package dev.bitnet.sample.ui

/** The test tags the screens set. */
object Tags {
    /** The chat's input field. */
    const val INPUT = "chat-input"

    /** The chat's Send button. */
    const val SEND = "chat-send"

    /** The chat's Stop button. */
    const val STOP = "chat-stop"

    /** The chat's New chat button. */
    const val NEW_CHAT = "chat-new"

    /** The status row. */
    const val STATUS = "chat-status"

    /** The error banner. */
    const val ERROR = "error-banner"

    /** The reply of turn [index]. */
    fun reply(index: Int) = "reply-$index"

    /** The marker of turn [index]'s reply (stopped, failed, ...). */
    fun replyMarker(index: Int) = "reply-marker-$index"

    /** The figures of turn [index]'s reply. */
    fun replyStats(index: Int) = "reply-stats-$index"

    /** The model picker's chip for [label]. */
    fun model(label: String) = "model-$label"

    /** The benchmark's Run button. */
    const val BENCH_RUN = "bench-run"

    /** The benchmark's Run sustained button. */
    const val BENCH_SUSTAINED = "bench-sustained"

    /**
     * A value cell of the benchmark's results table; [metric] is kernels, ttft, prefill, decode,
     * bandwidth (GB/s), roofline (% of the measured bandwidth) or peak.
     */
    fun benchValue(metric: String) = "bench-$metric"

    /** The sustained run's chart. */
    const val CHART = "sustained-chart"

    /** A thermal change listed under the chart. */
    const val THERMAL_MARK = "thermal-mark"

    /** The benchmark's exported JSON. */
    const val EXPORT = "bench-export"

    /** The card of model [id] on the models screen. */
    fun modelRow(id: String) = "model-row-$id"

    /** The download (or resume) button of model [id]. */
    fun download(id: String) = "download-$id"

    /** The pause button of model [id]. */
    fun pause(id: String) = "pause-$id"

    /** The progress bar of model [id]. */
    fun progress(id: String) = "progress-$id"

    /** The state line of model [id] (installed, paused, downloading). */
    fun modelState(id: String) = "model-state-$id"
}
