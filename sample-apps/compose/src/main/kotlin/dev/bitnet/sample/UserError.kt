// The SDK's typed errors as text a person can act on.
package dev.bitnet.sample

import dev.bitnet.BitNetException

/**
 * An error to show in a banner: a short [title] and a [message] with the numbers that explain
 * it.
 */
data class UserError(val title: String, val message: String) {
    companion object {
        /** Describes [error], naming the fields each `BitNetException` carries. */
        fun of(error: Throwable): UserError = when (error) {
            is BitNetException.BudgetExceeded -> UserError(
                "Model does not fit the memory budget",
                "It needs ${formatBytes(error.needed)} (${exactBytes(error.needed)}) for a " +
                    "${error.context}-token context; the budget is ${formatBytes(error.budget)} " +
                    "(${exactBytes(error.budget)}). " +
                    (error.fitsProfile?.let { "Smallest profile that fits: ${it.name}." }
                        ?: "No deployment profile holds it."),
            )
            is BitNetException.InsufficientMemory -> UserError(
                "Not enough memory",
                "It needs ${formatBytes(error.needed)}; the device has ${formatBytes(error.available)}.",
            )
            is BitNetException.PromptTooLong -> UserError(
                "Message too long",
                "It is ${error.tokens} tokens; the limit is ${error.limit}.",
            )
            is BitNetException.ContextFull -> UserError(
                "Conversation full",
                "It needs ${error.needed} tokens of a ${error.context}-token context. Start a new chat.",
            )
            is BitNetException.RateLimited -> UserError(
                "Too many requests",
                "Try again in ${formatNumber(error.retryAfterMs.toDouble() / 1000)} s.",
            )
            is BitNetException.Timeout -> UserError("Took too long", "The limit is ${error.limitMs} ms.")
            is BitNetException.Busy -> UserError(
                "Busy",
                "${error.generating} replies are being written and ${error.queued} are waiting. Try again shortly.",
            )
            is BitNetException.FileUnreadable -> UserError("Cannot read the model file", error.detail)
            is BitNetException.InvalidModelFile -> UserError("Not a valid model file", error.detail)
            is BitNetException.UnsupportedModel -> UserError("Unsupported model", error.detail)
            is BitNetException.ModelFileChanged -> UserError(
                "Model file changed on disk",
                "${error.path} was rewritten while loaded; open it again.",
            )
            is BitNetException.InvalidOption -> UserError("Invalid setting", error.detail)
            is BitNetException.Sampling -> UserError("Invalid sampling setting", error.detail)
            is BitNetException.EmptyInput -> UserError("Nothing to send", error.detail)
            is BitNetException.InsufficientStorage -> UserError(
                "Not enough storage",
                "The download needs ${formatBytes(error.needed)}; ${formatBytes(error.available)} are free.",
            )
            is BitNetException.Http -> UserError("Download failed", "HTTP ${error.status} from ${error.url}.")
            is BitNetException.Network -> UserError("Network error", error.detail)
            is BitNetException.ChecksumMismatch -> UserError(
                "Download corrupted",
                "SHA-256 ${error.actual} does not match ${error.expected}; nothing was installed.",
            )
            is BitNetException.DownloadCancelled -> UserError(
                "Download paused",
                "${formatBytes(error.doneBytes)} kept; download again to resume.",
            )
            is BitNetException -> UserError(error::class.simpleName ?: "Error", error.message ?: "")
            else -> UserError("Unexpected error", error.message ?: error.toString())
        }
    }
}
