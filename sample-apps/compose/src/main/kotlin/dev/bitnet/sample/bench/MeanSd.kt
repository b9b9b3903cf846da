// Mean and standard deviation of repeated measurements.
package dev.bitnet.sample.bench

import kotlin.math.sqrt

/** The [mean] of some measurements and their sample standard deviation [sd] (0 for one). */
data class MeanSd(val mean: Double, val sd: Double) {
    companion object {
        /** The mean and sample standard deviation of [values] (not empty). */
        fun of(values: List<Double>): MeanSd {
            require(values.isNotEmpty()) { "no measurements" }
            val mean = values.average()
            val sd = if (values.size < 2) 0.0 else sqrt(values.sumOf { (it - mean) * (it - mean) } / (values.size - 1))
            return MeanSd(mean, sd)
        }
    }
}
