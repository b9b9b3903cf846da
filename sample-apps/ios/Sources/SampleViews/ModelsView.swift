// The models screen: the catalog and the installed files, with download, pause, resume, delete
// and import.

#if canImport(SwiftUI)
import SampleViewModels
import SwiftUI

/// Binds the models' state and actions (`ModelsViewModel`).
struct ModelsView: View {
    let vm: ModelsViewModel

    var body: some View {
        NavigationStack {
            List {
                if let error = vm.state.error {
                    ErrorBanner(error: error, dismiss: { vm.dismissError() })
                }
                ForEach(vm.state.rows) { row in
                    ModelRowView(row: row, vm: vm)
                }
            }
            .navigationTitle("Models")
            .refreshable { await vm.refresh() }
        }
    }
}

/// One model: its figures, where its download stands and what can be done with it.
struct ModelRowView: View {
    let row: ModelRow
    let vm: ModelsViewModel

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(row.name).bold()
            Text("\(formatBytes(row.sizeBytes)) · \(row.arch ?? "?") · \(row.format ?? "?") · \(row.fit)").font(.caption)
            if let progress = row.download {
                ProgressView(value: row.fraction)
                Text("downloading \(formatBytes(progress.doneBytes)) of \(formatBytes(progress.totalBytes)) · "
                    + "\(formatBytes(UInt64(progress.bytesPerS)))/s").font(.caption)
            } else if row.installedPath != nil {
                Text("installed").font(.caption)
            } else if row.partialBytes > 0 {
                Text("paused at \(formatNumber(row.fraction * 100, decimals: 0)) %").font(.caption)
            }
            HStack {
                if let id = row.catalogId, row.installedPath == nil {
                    if row.download != nil {
                        Button("Pause") { vm.pause(id) }
                    } else if row.downloadable {
                        Button(row.partialBytes > 0 ? "Resume" : "Download") { vm.download(id) }
                    } else if row.importable {
                        Button("Import bundled file") { vm.importBundled(id) }
                    }
                }
                if row.installedPath != nil {
                    Button("Delete", role: .destructive) { vm.delete(row) }
                }
            }
            .buttonStyle(.bordered)
        }
    }
}
#endif
