//! Runs blocking core calls off the caller's thread, with panics turned into errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::BitNetError;

/// Runs `work` on tokio's blocking pool and awaits it. A panic in `work` (a bug, or a foreign
/// listener that threw) comes back as [`BitNetError::Internal`] instead of unwinding into the
/// foreign caller.
pub(crate) async fn run<T, F>(work: F) -> Result<T, BitNetError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BitNetError> + Send + 'static,
{
    // `AssertUnwindSafe`: after a panic, the state `work` touched is either dropped with it or
    // guarded by a mutex that the panic poisons, which later calls report as `Internal`.
    tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(work)))
        .await
        .map_err(|e| BitNetError::Internal {
            detail: format!("blocking task failed: {e}"),
        })?
        .unwrap_or_else(|panic| Err(BitNetError::from_panic(panic.as_ref())))
}
