// The chat's settings form: edits a copy, applied as a whole.

#if canImport(SwiftUI)
import SampleViewModels
import SwiftUI

/// Edits `ChatSettings`; Apply hands them to the view-model.
struct ChatSettingsView: View {
    @State var settings: ChatSettings
    let apply: (ChatSettings) -> Void
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        NavigationStack {
            Form {
                Section("Conversation") {
                    TextField("System prompt", text: $settings.systemPrompt, axis: .vertical)
                }
                Section("Sampling") {
                    Stepper("Max tokens: \(settings.maxTokens)", value: $settings.maxTokens, in: 1...1024, step: 16)
                    Stepper("Temperature: \(formatNumber(Double(settings.temperature)))", value: $settings.temperature, in: 0...2, step: 0.1)
                    Stepper("Top-k: \(settings.topK)", value: $settings.topK, in: 0...200)
                    Stepper("Top-p: \(formatNumber(Double(settings.topP), decimals: 2))", value: $settings.topP, in: 0.05...1, step: 0.05)
                    TextField("Seed", value: $settings.seed, format: IntegerFormatStyle<UInt64>())
                }
                Section("Engine (reloads the model)") {
                    Stepper("Threads: \(settings.threads == 0 ? "auto" : "\(settings.threads)")", value: $settings.threads, in: 0...16)
                    TextField("Memory budget (bytes)", value: $settings.memoryBudgetBytes, format: IntegerFormatStyle<UInt64>())
                }
            }
            .navigationTitle("Settings")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) {
                    Button("Apply") {
                        apply(settings)
                        dismiss()
                    }
                }
                ToolbarItem(placement: .cancellationAction) { Button("Cancel") { dismiss() } }
            }
        }
    }
}
#endif
