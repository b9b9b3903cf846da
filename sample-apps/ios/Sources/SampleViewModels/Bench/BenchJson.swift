// The benchmark's history as JSON, to share or keep: the same object the Compose app exports.

import BitNet
import Foundation

/// Writes benchmark results as one JSON object (numbers, strings and arrays only, in a fixed
/// field order).
public enum BenchJson {
    /// The device, the model's estimate, every run in `history` and the sustained run.
    public static func encode(
        device: DeviceInfo, estimate: MemoryEstimate?, history: [BenchResult], sustained: SustainedTrace?
    ) -> String {
        object([
            ("device", object([
                ("cores", "\(device.cores)"),
                ("arch", string(device.arch)),
                ("cpu_features", array(device.cpuFeatures.map(string))),
                ("performance_cpus", array(device.hardware.performanceCpus.map { "\($0)" })),
                ("kernel_tables", array(device.hardware.kernelTables.map(string))),
                ("memory_bytes", "\(device.memoryBytes)"),
            ])),
            ("estimate", estimate.map { estimate in
                object([
                    ("mapped_bytes", "\(estimate.mappedBytes)"),
                    ("kv_bytes_per_token", "\(estimate.kvBytesPerToken)"),
                    ("scratch_bytes", "\(estimate.scratchBytes)"),
                    ("default_context_tokens", "\(estimate.defaultContextTokens)"),
                    ("total_bytes", "\(estimate.totalBytes(contextTokens: estimate.defaultContextTokens))"),
                ])
            } ?? "null"),
            ("runs", array(history.map(result))),
            ("sustained", sustained.map(trace) ?? "null"),
        ])
    }

    private static func result(_ result: BenchResult) -> String {
        let r = result.report
        return object([
            ("model", string(result.model)),
            ("at_ms", "\(Int64(result.at.timeIntervalSince1970 * 1000))"),
            ("kernels", string(r.kernels)),
            ("threads", "\(r.threads)"),
            ("reps", "\(r.reps)"),
            ("prompt_tokens", "\(r.promptTokens)"),
            ("gen_tokens", "\(r.genTokens)"),
            ("time_to_first_token_ms", stat(r.timeToFirstTokenMs)),
            ("prefill_tokens_per_s", stat(r.prefillTokensPerS)),
            ("decode_tokens_per_s", stat(r.decodeTokensPerS)),
            ("bytes_per_token", "\(r.bytesPerToken)"),
            ("effective_gb_per_s", number(r.effectiveGbPerS)),
            ("copy_gb_per_s", number(r.copyGbPerS)),
            ("roofline_percent", number(r.rooflinePercent)),
            ("peak_resident_bytes", r.peakResidentBytes.map { "\($0)" } ?? "null"),
            ("head_type", string(r.headType)),
        ])
    }

    private static func trace(_ t: SustainedTrace) -> String {
        object([
            ("seconds", number(t.seconds)),
            ("schedule", string(t.schedule.description)),
            ("samples", array(t.samples.map { sample in
                object([
                    ("t_s", number(sample.tS)), ("tokens_per_s", number(sample.tokensPerS)),
                    ("state", string(sample.state.name)), ("threads", "\(sample.threads)"),
                ])
            })),
            ("thermal_changes", array(t.marks.map { mark in
                object([
                    ("t_s", number(mark.tS)), ("state", string(mark.state.name)),
                    ("threads", "\(mark.threads)"), ("pause_ms", "\(mark.pauseMs)"),
                ])
            })),
            ("thermal_stop_s", t.thermalStopS.map(number) ?? "null"),
        ])
    }

    private static func stat(_ s: Stat) -> String {
        object([("mean", number(s.mean)), ("sd", number(s.sd))])
    }

    private static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "null"
    }

    private static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    private static func array(_ items: [String]) -> String {
        "[" + items.joined(separator: ",") + "]"
    }

    private static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
