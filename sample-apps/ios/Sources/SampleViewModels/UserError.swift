// The SDK's typed errors as text a person can act on.

import BitNet
import Foundation

/// An error to show in a banner: a short title and a message with the numbers that explain it.
public struct UserError: Sendable, Equatable {
    /// What went wrong, in a few words.
    public let title: String
    /// The numbers and what to do.
    public let message: String

    public init(title: String, message: String) {
        self.title = title
        self.message = message
    }

    /// Describes `error`, naming the fields each `BitNetError` carries.
    public init(_ error: Error) {
        guard let error = error as? BitNetError else {
            self.init(title: "Unexpected error", message: "\(error)")
            return
        }
        switch error {
        case let .BudgetExceeded(_, needed, budget, context, fitsProfile):
            let profile = fitsProfile.map { "Smallest profile that fits: \($0.name.uppercased())." }
                ?? "No deployment profile holds it."
            self.init(
                title: "Model does not fit the memory budget",
                message: "It needs \(formatBytes(needed)) (\(exactBytes(needed))) for a \(context)-token context; "
                    + "the budget is \(formatBytes(budget)) (\(exactBytes(budget))). \(profile)")
        case let .InsufficientMemory(_, needed, available):
            self.init(title: "Not enough memory", message: "It needs \(formatBytes(needed)); the device has \(formatBytes(available)).")
        case let .PromptTooLong(_, tokens, limit):
            self.init(title: "Message too long", message: "It is \(tokens) tokens; the limit is \(limit).")
        case let .ContextFull(_, needed, context):
            self.init(title: "Conversation full", message: "It needs \(needed) tokens of a \(context)-token context. Start a new chat.")
        case let .RateLimited(_, retryAfterMs):
            self.init(title: "Too many requests", message: "Try again in \(formatNumber(Double(retryAfterMs) / 1000)) s.")
        case let .Timeout(_, limitMs):
            self.init(title: "Took too long", message: "The limit is \(limitMs) ms.")
        case let .Busy(_, generating, queued):
            self.init(title: "Busy", message: "\(generating) replies are being written and \(queued) are waiting. Try again shortly.")
        case let .FileUnreadable(detail):
            self.init(title: "Cannot read the model file", message: detail)
        case let .InvalidModelFile(detail):
            self.init(title: "Not a valid model file", message: detail)
        case let .UnsupportedModel(detail):
            self.init(title: "Unsupported model", message: detail)
        case let .ModelFileChanged(_, path):
            self.init(title: "Model file changed on disk", message: "\(path) was rewritten while loaded; open it again.")
        case let .InvalidOption(detail, _):
            self.init(title: "Invalid setting", message: detail)
        case let .Sampling(detail):
            self.init(title: "Invalid sampling setting", message: detail)
        case let .EmptyInput(detail):
            self.init(title: "Nothing to send", message: detail)
        case let .InsufficientStorage(_, needed, available):
            self.init(title: "Not enough storage", message: "The download needs \(formatBytes(needed)); \(formatBytes(available)) are free.")
        case let .Http(_, status, url):
            self.init(title: "Download failed", message: "HTTP \(status) from \(url).")
        case let .Network(detail):
            self.init(title: "Network error", message: detail)
        case let .ChecksumMismatch(_, expected, actual):
            self.init(title: "Download corrupted", message: "SHA-256 \(actual) does not match \(expected); nothing was installed.")
        case let .DownloadCancelled(_, doneBytes):
            self.init(title: "Download paused", message: "\(formatBytes(doneBytes)) kept; download again to resume.")
        case let .ModelNotFound(detail):
            self.init(title: "Model not found", message: detail)
        case let .Tokenizer(detail):
            self.init(title: "Tokenizer error", message: detail)
        case let .InvalidToken(detail, _, _):
            self.init(title: "Invalid token", message: detail)
        case let .Threads(detail):
            self.init(title: "Cannot start threads", message: detail)
        case let .Closed(detail):
            self.init(title: "Closed", message: detail)
        case let .Internal(detail):
            self.init(title: "Internal error", message: detail)
        }
    }
}
