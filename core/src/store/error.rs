//! Every way installing, listing or removing a model can fail.

use std::path::PathBuf;

/// A model store failure. Each names what an app acts on (retry later, free space, pick
/// another file) with the numbers it needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory of the store could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The device has less free space than the download (or import) still needs; nothing was
    /// written.
    #[error("insufficient storage: {needed} bytes needed, {available} available")]
    InsufficientStorage {
        /// Bytes still to write, in bytes.
        needed: u64,
        /// Bytes free for the store (the file system's, capped by the store's quota), in bytes.
        available: u64,
    },
    /// The server answered with an error status (after the retries, for 5xx statuses).
    #[error("HTTP {status} from {url}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The URL asked.
        url: String,
    },
    /// The connection failed or dropped and the retries ran out.
    #[error("network: {detail} ({url})")]
    Network {
        /// What failed.
        detail: String,
        /// The URL asked.
        url: String,
    },
    /// No byte arrived for the stall timeout, and the retries ran out.
    #[error("download stalled: no data for {after_ms} ms ({url})")]
    Stalled {
        /// The stall timeout, in ms.
        after_ms: u64,
        /// The URL asked.
        url: String,
    },
    /// The server sent more bytes than the catalog's size: the part file is deleted.
    #[error("size mismatch: the catalog says {expected} bytes, the server sent more")]
    SizeMismatch {
        /// The catalog's size, in bytes.
        expected: u64,
    },
    /// The finished file's SHA-256 is not the catalog's: the part file is deleted and nothing
    /// is installed.
    #[error("checksum mismatch: expected SHA-256 {expected}, got {actual}")]
    ChecksumMismatch {
        /// The catalog's SHA-256 (lowercase hex).
        expected: String,
        /// The downloaded file's (lowercase hex).
        actual: String,
    },
    /// The download was cancelled; what arrived is kept and the next download resumes it.
    #[error("download cancelled after {done_bytes} bytes")]
    Cancelled {
        /// Bytes on disk, in bytes.
        done_bytes: u64,
    },
    /// The catalog entry has no URL (a model shipped with the app): import it instead.
    #[error("{id} has no download URL; import the file instead")]
    NoUrl {
        /// The entry's id.
        id: String,
    },
    /// The named file is not installed.
    #[error("{name} is not installed")]
    NotInstalled {
        /// The file name asked for.
        name: String,
    },
    /// A file name that is not a plain name inside the store (a path, `..`, empty).
    #[error("invalid model file name {name:?}")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A file given to import is not a model the engine can load.
    #[error("not a usable model: {detail}")]
    InvalidModel {
        /// The engine's reason.
        detail: String,
    },
    /// The catalog's JSON is malformed or an entry is invalid.
    #[error("invalid catalog: {detail}")]
    Catalog {
        /// What is wrong.
        detail: String,
    },
}

impl StoreError {
    /// An I/O error on `path`.
    pub(super) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |error| StoreError::Io { path, error }
    }
}
