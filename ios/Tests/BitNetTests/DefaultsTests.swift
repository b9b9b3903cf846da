// Twin of DefaultsTest.kt: the records' Swift initialisers default each field as the engine's
// Rust `Default` does (the records and their defaults are declared once, in the Rust core).

import XCTest
import BitNet

final class DefaultsTests: XCTestCase {
    func testRecordsBuiltWithoutArgumentsEqualTheEnginesDefaults() {
        XCTAssertEqual(defaultEngineConfig(), EngineConfig())
        XCTAssertEqual(defaultEngineConfig().health, HealthThresholds())
        XCTAssertEqual(defaultSessionConfig(), SessionConfig())
        XCTAssertEqual(defaultGenerationOptions(), GenerationOptions())
        XCTAssertEqual(defaultGenerationOptions().sampling, SamplingParams())
    }
}
