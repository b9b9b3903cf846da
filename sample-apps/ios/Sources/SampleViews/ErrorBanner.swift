// An error's title and numbers, with a button to hide it.

#if canImport(SwiftUI)
import SampleViewModels
import SwiftUI

/// A `UserError` as a banner.
struct ErrorBanner: View {
    let error: UserError
    let dismiss: () -> Void

    var body: some View {
        HStack(alignment: .top) {
            VStack(alignment: .leading, spacing: 4) {
                Text(error.title).font(.headline)
                Text(error.message).font(.callout).textSelection(.enabled)
            }
            Spacer()
            Button("Dismiss", systemImage: "xmark", action: dismiss).labelStyle(.iconOnly)
        }
        .padding()
        .background(.red.opacity(0.15), in: RoundedRectangle(cornerRadius: 8))
    }
}
#endif
