//! `ModelStore`: the catalog, installed models and resumable verified downloads
//! (`bitnet_core::store`), with downloads that run in the background, report to a foreign
//! listener and are cancelled through their handle.

use std::sync::{Arc, Mutex};

use bitnet_core::engine::{CancelToken, EngineConfig};
use bitnet_core::store::{
    self, Catalog, CatalogEntry, DownloadOptions, DownloadProgress, InstalledModel, ProfileFit,
};

use crate::blocking;
use crate::error::BitNetError;

/// The download settings the SDK uses unless told otherwise (250 ms between progress events,
/// 5 retries from 0.5 s backoff up to 30 s, 30 s stall and connect timeouts).
#[uniffi::export]
pub fn default_download_options() -> DownloadOptions {
    DownloadOptions::default()
}

/// Receives a download's progress, on the downloading thread.
#[uniffi::export(with_foreign)]
pub trait DownloadListener: Send + Sync {
    /// Called at most every `DownloadOptions.progress_interval_ms`, and once at the end.
    fn on_progress(&self, progress: DownloadProgress);
}

/// A directory of installed models and the catalog it installs from. Where to keep it:
/// app-private storage that is not backed up (Android `Context.getNoBackupFilesDir()`; iOS
/// Application Support, excluded from backup).
#[derive(uniffi::Object)]
pub struct ModelStore {
    store: store::ModelStore,
    catalog: Catalog,
}

/// One download started by `ModelStore::download`.
#[derive(uniffi::Object)]
pub struct Download {
    cancel: CancelToken,
    result: Mutex<Option<tokio::sync::oneshot::Receiver<Result<String, BitNetError>>>>,
}

#[uniffi::export(async_runtime = "tokio")]
impl Download {
    /// Stops the download at its next byte (or its stall timeout); what arrived is kept and
    /// the next download of the model resumes it. `wait` then fails with `DownloadCancelled`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the download to end: the installed file's path, or its error
    /// (`InsufficientStorage`, `Http`, `Network`, `ChecksumMismatch`, `DownloadCancelled`,
    /// ...). Call once; a second call fails with `Internal`.
    pub async fn wait(&self) -> Result<String, BitNetError> {
        let receiver = self
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| BitNetError::Internal {
                detail: "Download.wait called twice".into(),
            })?;
        receiver.await.unwrap_or_else(|_| {
            Err(BitNetError::Internal {
                detail: "the download thread ended without a result".into(),
            })
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ModelStore {
    /// The store in `dir` (created if missing) with the built-in catalog, or `catalog_json`
    /// (same format). `quota_bytes` caps what the store's files may take.
    #[uniffi::constructor(default(catalog_json = None, quota_bytes = None))]
    pub fn new(
        dir: String,
        catalog_json: Option<String>,
        quota_bytes: Option<u64>,
    ) -> Result<Arc<Self>, BitNetError> {
        let catalog = match catalog_json {
            Some(json) => Catalog::from_json(&json)?,
            None => Catalog::builtin(),
        };
        let mut store = store::ModelStore::open(dir)?;
        if let Some(quota) = quota_bytes {
            store = store.with_quota(quota);
        }
        Ok(Arc::new(ModelStore { store, catalog }))
    }

    /// The catalog's models, in display order.
    pub fn catalog(&self) -> Vec<CatalogEntry> {
        self.catalog.models.clone()
    }

    /// How the catalog model `id` fits each deployment profile, smallest first.
    pub fn fits(&self, id: String) -> Result<Vec<ProfileFit>, BitNetError> {
        Ok(self.entry(&id)?.fits())
    }

    /// Where the catalog model `id` is (or would be) installed.
    pub fn path_of(&self, id: String) -> Result<String, BitNetError> {
        Ok(self.store.path_of(self.entry(&id)?).display().to_string())
    }

    /// Bytes of `id` downloaded and waiting to be resumed, in bytes.
    pub fn partial_bytes(&self, id: String) -> Result<u64, BitNetError> {
        Ok(self.store.partial_bytes(self.entry(&id)?))
    }

    /// The installed models, each planned with `config` (its budget decides `fits`).
    pub async fn list(
        self: Arc<Self>,
        config: EngineConfig,
    ) -> Result<Vec<InstalledModel>, BitNetError> {
        blocking::run(move || Ok(self.store.list(&self.catalog, &config)?)).await
    }

    /// Starts downloading the catalog model `id` on a background thread (resuming a part
    /// file); progress goes to `listener`, the outcome to the handle's `wait`.
    pub fn download(
        self: Arc<Self>,
        id: String,
        options: DownloadOptions,
        listener: Arc<dyn DownloadListener>,
    ) -> Result<Arc<Download>, BitNetError> {
        self.entry(&id)?;
        let cancel = CancelToken::new();
        let (send, receive) = tokio::sync::oneshot::channel();
        let token = cancel.clone();
        std::thread::Builder::new()
            .name(format!("bitnet-download-{id}"))
            .spawn(move || {
                let run = || -> Result<String, BitNetError> {
                    let entry = self.entry(&id)?;
                    let path = self
                        .store
                        .download(entry, &options, &token, &mut |p| listener.on_progress(*p))?;
                    Ok(path.display().to_string())
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                    .unwrap_or_else(|panic| Err(BitNetError::from_panic(panic.as_ref())));
                let _ = send.send(result);
            })
            .map_err(|e| BitNetError::Internal {
                detail: format!("cannot start the download thread: {e}"),
            })?;
        Ok(Arc::new(Download {
            cancel,
            result: Mutex::new(Some(receive)),
        }))
    }

    /// Copies (or moves) the file at `path` into the store: checked against the catalog model
    /// `id` (size and SHA-256) if given, else checked to be a model the engine loads. Returns
    /// the installed path.
    pub async fn import(
        self: Arc<Self>,
        path: String,
        id: Option<String>,
        keep_source: bool,
    ) -> Result<String, BitNetError> {
        blocking::run(move || {
            let entry = id.as_deref().map(|id| self.entry(id)).transpose()?;
            let installed = self.store.import(path.as_ref(), entry, keep_source)?;
            Ok(installed.display().to_string())
        })
        .await
    }

    /// Recomputes the installed catalog model `id`'s SHA-256 (`ChecksumMismatch` if changed).
    pub async fn verify(self: Arc<Self>, id: String) -> Result<(), BitNetError> {
        blocking::run(move || Ok(self.store.verify(self.entry(&id)?)?)).await
    }

    /// Removes the installed file `file_name` and any partial download of it. An engine that
    /// has it loaded keeps working.
    pub fn delete(&self, file_name: String) -> Result<(), BitNetError> {
        Ok(self.store.delete(&file_name)?)
    }
}

impl ModelStore {
    fn entry(&self, id: &str) -> Result<&CatalogEntry, BitNetError> {
        self.catalog
            .get(id)
            .ok_or_else(|| BitNetError::ModelNotFound {
                detail: format!("no catalog model {id:?}"),
            })
    }
}
