//! `ModelStore`: the catalog, installed models and resumable verified downloads
//! (`bitnet_core::store`), with downloads that run in the background, report to a foreign
//! listener and are cancelled through their handle.

use std::sync::{Arc, Mutex};

use bitnet_core::engine::CancelToken;
use bitnet_core::store::{self, Catalog};

use crate::blocking;
use crate::error::BitNetError;
use crate::estimate::MemoryEstimate;
use crate::options::EngineConfig;

pub use bitnet_core::store::{
    CatalogEntry, CatalogMemory, DownloadOptions, DownloadProgress, ProfileFit,
};

/// One model the store can install (`catalog.json`'s entries).
#[uniffi::remote(Record)]
pub struct CatalogEntry {
    /// Stable identifier (`"bitnet-b1.58-2b-4t-i2_s"`).
    pub id: String,
    /// Name to show.
    pub name: String,
    /// The installed file's name in the store's directory.
    pub file_name: String,
    /// Where to download it, tried in order; empty for a model shipped with the app.
    pub urls: Vec<String>,
    /// The file's size, in bytes.
    pub size_bytes: u64,
    /// The file's SHA-256, lowercase hex.
    pub sha256: String,
    /// Storage format of the ternary projections (`"I2_S"`, `"TQ2_0"`, `"TQ1_0"`).
    pub format: String,
    /// `general.architecture`.
    pub arch: String,
    /// The model's licence.
    pub license: String,
    /// What running it takes in memory.
    pub memory: CatalogMemory,
}

/// What a catalog model needs in memory, from its header.
#[uniffi::remote(Record)]
pub struct CatalogMemory {
    /// Everything but the mapped file and the KV cache, in bytes.
    pub fixed_bytes: u64,
    /// KV cache per token of context, in bytes.
    pub kv_bytes_per_token: u64,
    /// The model's default context, in tokens.
    pub context_tokens: u64,
    /// The smallest context the engine loads it with, in tokens.
    pub min_context_tokens: u64,
}

/// How a catalog model fits a deployment profile's memory budget.
#[uniffi::remote(Record)]
pub struct ProfileFit {
    /// The profile.
    pub profile: crate::remote::Profile,
    /// Whether it loads under the profile's budget.
    pub fits: bool,
    /// The context a session gets under the budget, in tokens (0 when it does not fit).
    pub context_tokens: u64,
    /// Mapped file, fixed bytes and that context's KV cache, in bytes.
    pub total_bytes: u64,
}

/// How a download behaves. Start from `default_download_options()`.
#[uniffi::remote(Record)]
pub struct DownloadOptions {
    /// Least time between two progress events, in ms (the last one is always sent).
    pub progress_interval_ms: u64,
    /// Attempts after the first when a connection fails, drops, stalls or gets a 5xx status.
    pub retries: u32,
    /// Wait before the first retry, in ms; doubled for each next one.
    pub first_backoff_ms: u64,
    /// Longest wait between retries, in ms.
    pub max_backoff_ms: u64,
    /// A connection that delivers no byte for this long is dropped and retried, in ms.
    pub stall_timeout_ms: u64,
    /// Longest wait for a connection and the response headers, in ms.
    pub connect_timeout_ms: u64,
}

/// Where a download stands.
#[uniffi::remote(Record)]
pub struct DownloadProgress {
    /// Bytes on disk (a resumed download starts with what it had), in bytes.
    pub done_bytes: u64,
    /// The file's size, in bytes.
    pub total_bytes: u64,
    /// Speed since this download started, in bytes/s.
    pub bytes_per_s: f64,
    /// Time left at that speed, in ms; `None` before any byte arrived.
    pub eta_ms: Option<u64>,
}

/// The download settings the SDK uses unless told otherwise (250 ms between progress events,
/// 5 retries from 0.5 s backoff up to 30 s, 30 s stall and connect timeouts).
#[uniffi::export]
pub fn default_download_options() -> DownloadOptions {
    DownloadOptions::default()
}

/// An installed model, as `ModelStore::list` finds it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct InstalledModel {
    /// The file's name in the store.
    pub file_name: String,
    /// Its full path (what `BitNet.load` takes).
    pub path: String,
    /// Its size, in bytes.
    pub size_bytes: u64,
    /// The catalog entry with this file name, if any.
    pub catalog_id: Option<String>,
    /// `general.architecture`, when the header reads.
    pub arch: Option<String>,
    /// Storage format of the projections, when the header reads.
    pub format: Option<String>,
    /// What loading it with the given configuration takes, when it plans.
    pub memory: Option<MemoryEstimate>,
    /// Whether it loads under the configuration's memory budget.
    pub fits: bool,
    /// Why it does not plan, if it does not.
    pub problem: Option<String>,
}

impl From<store::InstalledModel> for InstalledModel {
    fn from(m: store::InstalledModel) -> Self {
        InstalledModel {
            file_name: m.file_name,
            path: m.path.display().to_string(),
            size_bytes: m.size_bytes,
            catalog_id: m.catalog_id,
            arch: m.arch,
            format: m.format,
            memory: m.memory.map(Into::into),
            fits: m.fits,
            problem: m.problem,
        }
    }
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
        blocking::run(move || {
            let models = self.store.list(&self.catalog, &config.into())?;
            Ok(models.into_iter().map(Into::into).collect())
        })
        .await
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
