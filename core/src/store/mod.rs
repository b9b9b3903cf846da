//! Models on the device: a [`Catalog`] of installable models, a [`ModelStore`] directory of
//! installed ones, and resumable, verified downloads into it. Behind the `store` feature, so
//! an app that brings its own downloader keeps a network-free engine.
//!
//! A model file appears under its final name only once complete and verified: downloads and
//! imports write `<file>.<first 16 hex digits of its SHA-256>.part` and rename it after the
//! check, so the engine can never map a file that is still being written. A part file left
//! by a dropped connection, a cancel or an app restart is resumed by the next download.
//!
//! Where to keep the directory: app-private storage that is not backed up (Android:
//! `Context.getNoBackupFilesDir()`; iOS: Application Support with the directory marked
//! `isExcludedFromBackup`), since models are large and can be downloaded again.

mod catalog;
mod download;
mod error;
mod space;

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use catalog::{Catalog, CatalogEntry, CatalogMemory, ProfileFit};
pub use download::{DownloadOptions, DownloadProgress};
pub use error::StoreError;

use crate::engine::{CancelToken, Engine, EngineConfig, MemoryEstimate};
use crate::gguf::GgufFile;

/// The suffix of files being written.
const PART_SUFFIX: &str = ".part";

/// A directory of installed models.
#[derive(Clone, Debug)]
pub struct ModelStore {
    dir: PathBuf,
    quota_bytes: Option<u64>,
}

/// An installed model, as [`ModelStore::list`] finds it.
#[derive(Clone, Debug)]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct InstalledModel {
    /// The file's name in the store.
    pub file_name: String,
    /// Its full path (what `Engine::load` takes).
    pub path: PathBuf,
    /// Its size, in bytes.
    pub size_bytes: u64,
    /// The catalog entry with this file name, if any.
    pub catalog_id: Option<String>,
    /// `general.architecture`, when the header reads.
    pub arch: Option<String>,
    /// Storage format of the first block's projections (`"I2_S"`, ...), when the header reads.
    pub format: Option<String>,
    /// What loading it with the given configuration takes, when it plans.
    pub memory: Option<MemoryEstimate>,
    /// Whether it loads under the configuration's memory budget (always, without one).
    pub fits: bool,
    /// Why it does not plan (not a model, a budget too small, ...), if it does not.
    pub problem: Option<String>,
}

impl ModelStore {
    /// The store in `dir`, created if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ModelStore, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        Ok(ModelStore {
            dir,
            quota_bytes: None,
        })
    }

    /// Caps the bytes the store's files may take (installed and partial together): a
    /// download that would pass it fails with `InsufficientStorage` before writing.
    pub fn with_quota(mut self, bytes: u64) -> ModelStore {
        self.quota_bytes = Some(bytes);
        self
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `entry` is (or would be) installed.
    pub fn path_of(&self, entry: &CatalogEntry) -> PathBuf {
        self.dir.join(&entry.file_name)
    }

    /// Bytes of `entry` already downloaded and waiting to be resumed, in bytes.
    pub fn partial_bytes(&self, entry: &CatalogEntry) -> u64 {
        fs::metadata(self.part_of(entry)).map_or(0, |m| m.len())
    }

    /// Downloads `entry` (resuming a part file), verifies its size and SHA-256, and installs
    /// it; returns its path. Already installed: returns at once. `progress` is called on this
    /// thread, at most every `options.progress_interval_ms` and once at the end; `cancel`
    /// (from any thread) stops it with `Cancelled`, keeping the part file.
    pub fn download(
        &self,
        entry: &CatalogEntry,
        options: &DownloadOptions,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(&DownloadProgress),
    ) -> Result<PathBuf, StoreError> {
        let target = self.checked_path(entry)?;
        if target.is_file() {
            return Ok(target);
        }
        let part = self.part_of(entry);
        if fs::metadata(&part).is_ok_and(|m| m.len() > entry.size_bytes) {
            fs::remove_file(&part).map_err(StoreError::io(&part))?;
        }
        self.check_space(entry.size_bytes - self.partial_bytes(entry))?;
        download::Download {
            entry,
            part: &part,
            options,
            cancel,
            progress,
        }
        .run()?;
        self.install(&part, &target)?;
        Ok(target)
    }

    /// Copies (`keep_source`) or moves the file at `source` into the store under `entry`'s
    /// name after checking its size and SHA-256, or, without an entry, under its own name
    /// after checking that the engine can plan it. Returns the installed path.
    pub fn import(
        &self,
        source: &Path,
        entry: Option<&CatalogEntry>,
        keep_source: bool,
    ) -> Result<PathBuf, StoreError> {
        let name = match entry {
            Some(e) => e.file_name.clone(),
            None => source
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .unwrap_or_default(),
        };
        if !is_plain_name(&name) {
            return Err(StoreError::InvalidName { name });
        }
        let target = self.dir.join(&name);
        let size = fs::metadata(source).map_err(StoreError::io(source))?.len();
        match entry {
            Some(e) => {
                if size != e.size_bytes {
                    return Err(StoreError::InvalidModel {
                        detail: format!("{size} bytes, the catalog says {}", e.size_bytes),
                    });
                }
            }
            None => {
                Engine::plan(source, &EngineConfig::default()).map_err(|e| {
                    StoreError::InvalidModel {
                        detail: e.to_string(),
                    }
                })?;
            }
        }
        let part = self.dir.join(format!("{name}.import{PART_SUFFIX}"));
        let moved = !keep_source && fs::rename(source, &part).is_ok();
        if !moved {
            self.check_space(size)?;
            fs::copy(source, &part).map_err(StoreError::io(&part))?;
        }
        if let Some(e) = entry {
            let actual = sha256_file(&part)?;
            if actual != e.sha256 {
                if moved {
                    // Give the caller its file back.
                    let _ = fs::rename(&part, source);
                } else {
                    let _ = fs::remove_file(&part);
                }
                return Err(StoreError::ChecksumMismatch {
                    expected: e.sha256.clone(),
                    actual,
                });
            }
        }
        self.install(&part, &target)?;
        Ok(target)
    }

    /// Recomputes the installed `entry`'s SHA-256; `ChecksumMismatch` when it changed.
    pub fn verify(&self, entry: &CatalogEntry) -> Result<(), StoreError> {
        let path = self.checked_path(entry)?;
        if !path.is_file() {
            return Err(StoreError::NotInstalled {
                name: entry.file_name.clone(),
            });
        }
        let actual = sha256_file(&path)?;
        if actual != entry.sha256 {
            return Err(StoreError::ChecksumMismatch {
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Removes the installed file `file_name` and any part files of it. An engine that has it
    /// loaded keeps working (the OS frees the file when it is unmapped).
    pub fn delete(&self, file_name: &str) -> Result<(), StoreError> {
        if !is_plain_name(file_name) {
            return Err(StoreError::InvalidName {
                name: file_name.to_owned(),
            });
        }
        let path = self.dir.join(file_name);
        let installed = path.is_file();
        let mut removed_part = false;
        for part in self.part_files()? {
            let part_name = part.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if part_name.starts_with(&format!("{file_name}.")) {
                fs::remove_file(&part).map_err(StoreError::io(&part))?;
                removed_part = true;
            }
        }
        if installed {
            fs::remove_file(&path).map_err(StoreError::io(&path))?;
        } else if !removed_part {
            return Err(StoreError::NotInstalled {
                name: file_name.to_owned(),
            });
        }
        Ok(())
    }

    /// The installed models (`*.gguf`, part files excluded), by name, each read from its
    /// header and planned with `config` (its budget decides [`InstalledModel::fits`]).
    pub fn list(
        &self,
        catalog: &Catalog,
        config: &EngineConfig,
    ) -> Result<Vec<InstalledModel>, StoreError> {
        let mut models = Vec::new();
        for path in self.entries()? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".gguf") || !path.is_file() {
                continue;
            }
            let size_bytes = fs::metadata(&path).map_err(StoreError::io(&path))?.len();
            // One open serves the header fields and the plan.
            let (header, plan) = match GgufFile::open(&path) {
                Ok(file) => {
                    let plan = Engine::plan_file(&file, config);
                    (Some(file), plan)
                }
                Err(e) => (None, Err(e.into())),
            };
            let arch = header
                .as_ref()
                .and_then(|f| f.get_str("general.architecture").ok().map(str::to_owned));
            let format = header.as_ref().and_then(|f| {
                f.tensor("blk.0.attn_q.weight")
                    .map(|t| t.ty.name().to_owned())
            });
            let problem = plan.as_ref().err().map(ToString::to_string);
            // Loading needs the smallest context the engine accepts to fit the budget.
            let fits = match (&plan, config.memory_budget_bytes) {
                (Err(_), _) => false,
                (Ok(_), None) => true,
                (Ok(p), Some(budget)) => {
                    let m = &p.memory;
                    m.total_bytes(m.min_context_tokens.min(m.default_context_tokens)) <= budget
                }
            };
            models.push(InstalledModel {
                file_name: name.to_owned(),
                catalog_id: catalog
                    .models
                    .iter()
                    .find(|e| e.file_name == name)
                    .map(|e| e.id.clone()),
                size_bytes,
                arch,
                format,
                memory: plan.ok().map(|p| p.memory),
                fits,
                problem,
                path,
            });
        }
        models.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        Ok(models)
    }

    fn checked_path(&self, entry: &CatalogEntry) -> Result<PathBuf, StoreError> {
        if is_plain_name(&entry.file_name) {
            Ok(self.path_of(entry))
        } else {
            Err(StoreError::InvalidName {
                name: entry.file_name.clone(),
            })
        }
    }

    /// The part file of `entry`: named for its hash too, so a new version never resumes an
    /// old one's bytes.
    fn part_of(&self, entry: &CatalogEntry) -> PathBuf {
        let tag = entry.sha256.get(..16).unwrap_or(&entry.sha256);
        self.dir
            .join(format!("{}.{tag}{PART_SUFFIX}", entry.file_name))
    }

    fn entries(&self) -> Result<Vec<PathBuf>, StoreError> {
        let read = fs::read_dir(&self.dir).map_err(StoreError::io(&self.dir))?;
        read.map(|e| e.map(|e| e.path()).map_err(StoreError::io(&self.dir)))
            .collect()
    }

    fn part_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|p| p.to_str().is_some_and(|s| s.ends_with(PART_SUFFIX)))
            .collect())
    }

    /// Bytes the store's files take, installed and partial, in bytes.
    fn used_bytes(&self) -> Result<u64, StoreError> {
        Ok(self
            .entries()?
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum())
    }

    /// `InsufficientStorage` unless `needed` more bytes fit on the disk and in the quota.
    fn check_space(&self, needed: u64) -> Result<(), StoreError> {
        let disk = space::available_bytes(&self.dir).unwrap_or(u64::MAX);
        let quota = match self.quota_bytes {
            Some(q) => q.saturating_sub(self.used_bytes()?),
            None => u64::MAX,
        };
        let available = disk.min(quota);
        if needed > available {
            return Err(StoreError::InsufficientStorage { needed, available });
        }
        Ok(())
    }

    /// Makes the verified `part` the installed `target`: flushed, then renamed (atomic on one
    /// file system), then the directory flushed so the rename survives a power loss.
    fn install(&self, part: &Path, target: &Path) -> Result<(), StoreError> {
        fs::File::open(part)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::io(part))?;
        fs::rename(part, target).map_err(StoreError::io(target))?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Whether `name` is a plain file name: not empty, no separator, not `.` or `..`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The SHA-256 of the file at `path`, lowercase hex.
fn sha256_file(path: &Path) -> Result<String, StoreError> {
    let mut file = fs::File::open(path).map_err(StoreError::io(path))?;
    let mut hasher = Sha256::new();
    download::hash_into(&mut file, &mut hasher).map_err(StoreError::io(path))?;
    Ok(download::hex(&hasher.finalize()))
}
