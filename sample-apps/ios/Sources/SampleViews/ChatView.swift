// The chat screen: model picker, status row, the conversation and the input field.

#if canImport(SwiftUI)
import SampleViewModels
import SwiftUI

/// Binds the chat's state and actions (`ChatViewModel`).
struct ChatView: View {
    @Bindable var vm: ChatViewModel
    @State private var editingSettings = false

    var body: some View {
        NavigationStack {
            VStack(spacing: 8) {
                if let error = vm.state.error {
                    ErrorBanner(error: error, dismiss: { vm.dismissError() })
                }
                if let status = vm.state.status {
                    StatusRow(status: status)
                }
                List(Array(vm.state.turns.enumerated()), id: \.offset) { _, turn in
                    ChatTurnView(turn: turn)
                }
                .listStyle(.plain)
                if vm.state.turns.last?.status == .failed {
                    Button("Retry") { vm.retry() }
                }
                HStack {
                    TextField("Message", text: $vm.draft)
                        .textFieldStyle(.roundedBorder)
                        .onSubmit { vm.send() }
                    if vm.state.generating {
                        Button("Stop") { vm.stop() }
                    } else {
                        Button("Send") { vm.send() }.disabled(!vm.state.canSend)
                    }
                }
            }
            .padding()
            .navigationTitle(vm.state.selected?.label ?? "Chat")
            .toolbar {
                ToolbarItem(placement: .navigation) {
                    Menu("Model") {
                        ForEach(vm.state.models, id: \.self) { option in
                            Button(option.label) { vm.select(option) }
                        }
                    }
                }
                ToolbarItemGroup(placement: .primaryAction) {
                    Button("New chat") { vm.newChat() }
                    Button("Settings", systemImage: "gearshape") { editingSettings = true }
                }
            }
            .overlay { if vm.state.loading { ProgressView("Loading the model") } }
            .sheet(isPresented: $editingSettings) {
                ChatSettingsView(settings: vm.state.settings, apply: { vm.updateSettings($0) })
            }
        }
    }
}

/// One exchange: the prompt, the reply (marked when stopped) and its figures.
struct ChatTurnView: View {
    let turn: ChatTurn

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(turn.prompt).bold()
            Text(turn.reply + marker).textSelection(.enabled)
            if let stats = turn.stats {
                Text("\(formatNumber(stats.timeToFirstTokenMs, decimals: 0)) ms to first token · "
                    + "\(formatNumber(stats.decodeTokensPerS)) tok/s · \(stats.generatedTokens) tokens")
                    .font(.caption).foregroundStyle(.secondary)
            }
        }
    }

    private var marker: String {
        switch turn.status {
        case .stopped: " [stopped]"
        case .thermalStopped: " [stopped: too hot]"
        case .failed: " [failed]"
        case .streaming, .complete: ""
        }
    }
}

/// The engine's thermal state, threads, memory and alerts.
struct StatusRow: View {
    let status: EngineStatus

    var body: some View {
        VStack(alignment: .leading) {
            Text("\(status.thermal.name) · \(status.threads.map { "\($0) threads" } ?? "threads: –") · "
                + "\(status.residentBytes.map(formatBytes) ?? "–") of \(status.budgetBytes.map(formatBytes) ?? "no budget") "
                + "(needs \(formatBytes(status.neededBytes)))")
            ForEach(status.alerts, id: \.self) { Text($0).foregroundStyle(.orange) }
        }
        .font(.caption)
    }
}
#endif
