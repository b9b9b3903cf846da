//! The engine's one error type.

/// Every failure the engine reports. Each variant is specific enough for an app to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
