// The benchmark screen: device and model cards, timed and sustained runs, history and export.

#if canImport(SwiftUI)
import BitNet
import SampleViewModels
import SwiftUI

/// Binds the benchmark's state and actions (`BenchViewModel`).
struct BenchmarkView: View {
    @Bindable var vm: BenchViewModel

    var body: some View {
        NavigationStack {
            List {
                if let error = vm.state.error {
                    ErrorBanner(error: error, dismiss: { vm.dismissError() })
                }
                Section("Device") {
                    let device = vm.state.device
                    Text("\(device.cores) cores · \(device.arch) · \(device.cpuFeatures.joined(separator: " "))")
                    let hw = device.hardware
                    Text("Big cores \(hw.performanceCpus.map { "\($0)" }.joined(separator: ", ")) · \(hw.defaultThreads) threads by default")
                    Text("Kernel table \(hw.defaultKernels) (runs \(hw.kernelTables.joined(separator: ", ")))")
                    Text("Memory \(formatBytes(device.memoryBytes))")
                }
                Section("Model") {
                    Menu(vm.state.selected?.label ?? "Model") {
                        ForEach(vm.state.models, id: \.self) { option in
                            Button(option.label) { vm.select(option) }
                        }
                    }
                    if let estimate = vm.state.estimate {
                        EstimateRows(estimate: estimate)
                    }
                    ForEach(vm.state.profiles, id: \.profile) { row in
                        Text("\(row.profile.name): \(row.fits ? "fits, \(row.contextTokens)-token context" : "does not fit")")
                    }
                }
                Section("Run") {
                    Stepper("Runs: \(vm.state.settings.runs)", value: $vm.settings.runs, in: 1...20)
                    Stepper("Prompt tokens: \(vm.state.settings.promptTokens)", value: $vm.settings.promptTokens, in: 16...2048, step: 16)
                    Stepper("Tokens per run: \(vm.state.settings.genTokens)", value: $vm.settings.genTokens, in: 8...512, step: 8)
                    Stepper("Sustained: \(Int(vm.state.settings.sustainedSeconds)) s", value: $vm.settings.sustainedSeconds, in: 5...300, step: 5)
                    TextField("Thermal schedule (empty: the device's own)", text: $vm.scheduleText)
                    if let error = vm.state.scheduleError {
                        Text(error).font(.caption).foregroundStyle(.red)
                    }
                    if vm.state.activity == .idle {
                        Button("Run") { vm.run() }
                        Button("Run sustained") { vm.runSustained() }
                    } else {
                        Text(vm.state.progress ?? "running")
                        Button("Cancel") { vm.cancel() }
                    }
                }
                if let trace = vm.state.sustained {
                    Section("Sustained run") {
                        SustainedChart(trace: trace, startThreads: vm.state.startThreads ?? 0)
                    }
                }
                Section("History") {
                    ForEach(Array(vm.state.history.enumerated()), id: \.offset) { _, result in
                        ResultRow(result: result)
                    }
                    Button("Export JSON") { vm.export() }
                    if let json = vm.state.export {
                        Text(json).font(.caption.monospaced()).textSelection(.enabled)
                    }
                }
            }
            .navigationTitle("Benchmark")
        }
    }
}

/// The model's `MemoryEstimate`.
struct EstimateRows: View {
    let estimate: MemoryEstimate

    var body: some View {
        Text("Mapped weights \(formatBytes(estimate.mappedBytes)) · tokenizer \(formatBytes(estimate.tokenizerBytes))")
        Text("Runtime \(formatBytes(estimate.runtimeBytes)) · scratch \(formatBytes(estimate.scratchBytes))")
        Text("KV cache \(formatBytes(estimate.kvBytesPerToken)) per token · total "
            + formatBytes(estimate.totalBytes(contextTokens: estimate.defaultContextTokens)))
    }
}

/// One benchmark's figures, mean ± sd, and how close decode came to the memory roofline.
struct ResultRow: View {
    let result: BenchResult

    var body: some View {
        let r = result.report
        VStack(alignment: .leading) {
            Text("\(result.model) · \(r.reps) runs · \(r.kernels) · \(r.threads) threads").bold()
            Text("first token \(stat(r.timeToFirstTokenMs)) ms")
            Text("prefill \(stat(r.prefillTokensPerS)) tok/s · decode \(stat(r.decodeTokensPerS)) tok/s")
            Text("decode reads \(formatNumber(r.effectiveGbPerS)) GB/s: \(formatNumber(r.rooflinePercent)) % of \(formatNumber(r.copyGbPerS)) GB/s measured")
            Text("peak memory \(r.peakResidentBytes.map(formatBytes) ?? "–")")
        }
        .font(.caption)
    }

    private func stat(_ value: Stat) -> String {
        "\(formatNumber(value.mean)) ± \(formatNumber(value.sd))"
    }
}
#endif
