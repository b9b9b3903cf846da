// The iOS app's entry point: the platform's side (engines with the device's thermal and memory
// signals, the model store in Application Support, the bundled demo model, half the available
// memory as the budget) and the three screens over it. Built by the Xcode project (project.yml).

import BitNet
import SampleViewModels
import SampleViews
import SwiftUI

/// Makes the environment and the view-models once, and shows the tabs.
@main
struct BitNetSampleApp: App {
    @State private var chat: ChatViewModel
    @State private var bench: BenchViewModel
    @State private var models: ModelsViewModel

    init() {
        let env = Self.environment()
        _chat = State(initialValue: ChatViewModel(env: env))
        _bench = State(initialValue: BenchViewModel(env: env))
        _models = State(initialValue: ModelsViewModel(env: env))
    }

    var body: some Scene {
        WindowGroup {
            SampleTabs(chat: chat, bench: bench, models: models)
        }
    }

    /// The device's side of the app; a store that cannot be made is a broken install.
    private static func environment() -> SampleEnvironment {
        let dir = URL.applicationSupportDirectory.appending(path: "models")
        do {
            return SampleEnvironment(
                loader: .device, store: try ModelStore(dir: dir.path(percentEncoded: false)),
                demoModelPath: Bundle.main.path(forResource: "bitnet-demo-i2_s", ofType: "gguf"),
                deviceBudgetBytes: defaultMemoryBudgetBytes())
        } catch {
            fatalError("cannot open the model store in \(dir.path(percentEncoded: false)): \(error)")
        }
    }
}
