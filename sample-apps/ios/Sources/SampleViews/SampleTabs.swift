// The app's three screens as tabs.

#if canImport(SwiftUI)
import SampleViewModels
import SwiftUI

/// Chat, Benchmark and Models, one tab each.
public struct SampleTabs: View {
    private let chat: ChatViewModel
    private let bench: BenchViewModel
    private let models: ModelsViewModel

    /// The tabs over the app's three view-models.
    public init(chat: ChatViewModel, bench: BenchViewModel, models: ModelsViewModel) {
        self.chat = chat
        self.bench = bench
        self.models = models
    }

    public var body: some View {
        TabView {
            ChatView(vm: chat).tabItem { Label("Chat", systemImage: "bubble.left.and.bubble.right") }
            BenchmarkView(vm: bench).tabItem { Label("Benchmark", systemImage: "speedometer") }
            ModelsView(vm: models).tabItem { Label("Models", systemImage: "externaldrive") }
        }
    }
}
#endif
