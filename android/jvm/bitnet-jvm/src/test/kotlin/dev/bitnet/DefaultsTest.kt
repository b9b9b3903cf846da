package dev.bitnet

import dev.bitnet.core.EngineConfig
import dev.bitnet.core.GenerationOptions
import dev.bitnet.core.HealthThresholds
import dev.bitnet.core.SamplingParams
import dev.bitnet.core.SessionConfig
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/**
 * The records' Kotlin constructors default each field as the engine's Rust `Default` does: the
 * records and their defaults are declared once, in the Rust core, and this compares what the
 * generated constructors give with what the core returns (`default*()`).
 */
class DefaultsTest {
    @Test
    fun `records built without arguments equal the engine's defaults`() {
        assertEquals(defaultEngineConfig(), EngineConfig())
        assertEquals(defaultEngineConfig().health, HealthThresholds())
        assertEquals(defaultSessionConfig(), SessionConfig())
        assertEquals(defaultGenerationOptions(), GenerationOptions())
        assertEquals(defaultGenerationOptions().sampling, SamplingParams())
    }
}
