//! A re-quantised output head kept on disk between loads ([`EngineConfig`]'s `cache_dir`).
//!
//! Re-quantising a large head is slow (2B4T to Q6_K: seconds of llama.cpp's reference
//! quantiser) and the result lives in anonymous memory, which a phone counts against the app.
//! The first load writes it to `cache_dir`; later loads map that file read-only, like the model
//! (clean pages the OS can drop and re-read; no load time). A cache file that is missing,
//! short, or made for another model, format or quantiser version is ignored and rewritten.
//!
//! File layout (little-endian), the head's bytes page-aligned so the map reads them in place:
//!
//! ```text
//! bytes 0..8        magic "BNHEAD\0\0"
//! bytes 8..12       layout version (u32, 1)
//! bytes 12..16      GGML type id of the stored head (u32)
//! bytes 16..24      rows (u64)
//! bytes 24..32      columns (u64)
//! bytes 32..64      source key: SHA-256 of what identifies the model's head (see `key`)
//! bytes 64..72      head bytes that follow (u64)
//! bytes 72..4096    zero
//! bytes 4096..      the head, rows × row bytes of its type
//! ```
//!
//! [`EngineConfig`]: crate::engine::EngineConfig

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::gguf::{GgufError, GgufFile, Mapping};
use crate::quant::TensorType;

/// The file's magic bytes.
const MAGIC: [u8; 8] = *b"BNHEAD\0\0";
/// Layout version; bump it when the layout or any quantiser's output changes.
const VERSION: u32 = 1;
/// Where the head's bytes start: the header's size, and page-aligned on 4 KiB pages.
const DATA_OFFSET: usize = 4096;
/// Bytes of the source head hashed at each end into the key.
const SAMPLE: usize = 64 * 1024;

/// Where a model's re-quantised head is (or will be) kept, and whether it is there now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadCacheEntry {
    /// The cache file.
    pub path: PathBuf,
    /// Whether a valid cache file was there when the plan was made (the load then maps it and
    /// the head holds no memory of its own).
    pub present: bool,
    /// The header the file must have.
    header: Header,
}

/// A cache file's header: what it holds and for which source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    ty: TensorType,
    rows: u64,
    cols: u64,
    key: [u8; 32],
    data_len: u64,
}

impl Header {
    fn encode(&self) -> [u8; DATA_OFFSET] {
        let mut out = [0u8; DATA_OFFSET];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.ty.id().to_le_bytes());
        out[16..24].copy_from_slice(&self.rows.to_le_bytes());
        out[24..32].copy_from_slice(&self.cols.to_le_bytes());
        out[32..64].copy_from_slice(&self.key);
        out[64..72].copy_from_slice(&self.data_len.to_le_bytes());
        out
    }
}

impl HeadCacheEntry {
    /// The entry in `dir` for the head `tensor` of `file` re-quantised to `ty` (`rows × cols`,
    /// `data_len` bytes), or `None` for a file held in memory (it has no identity to key on)
    /// or a head whose bytes cannot be read.
    pub(super) fn new(
        dir: &Path,
        file: &GgufFile,
        tensor: &str,
        ty: TensorType,
        rows: u64,
        cols: u64,
        data_len: u64,
    ) -> Option<HeadCacheEntry> {
        let key = key(file, tensor, ty)?;
        let header = Header {
            ty,
            rows,
            cols,
            key,
            data_len,
        };
        let hex: String = key[..8].iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("head-{}-{hex}.bin", ty.name().to_lowercase()));
        let present = open(&path, &header).is_some();
        Some(HeadCacheEntry {
            path,
            present,
            header,
        })
    }

    /// The cache file mapped, when it is there and holds this entry's head.
    pub(super) fn open(&self) -> Option<CachedHead> {
        open(&self.path, &self.header)
    }

    /// Writes `data` (the re-quantised head) as this entry's file: to a temporary file in the
    /// same directory, renamed into place, so a reader never sees a partial file. Failure is
    /// logged and otherwise ignored: the head in memory serves this load.
    pub(super) fn store(&self, data: &[u8]) {
        if let Err(e) = self.write(data) {
            log::warn!(
                "could not keep the re-quantised head in {}: {e}",
                self.path.display()
            );
        }
    }

    fn write(&self, data: &[u8]) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&self.header.encode())?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// A cache file mapped read-only: the head's bytes in place.
#[derive(Debug)]
pub(super) struct CachedHead {
    mapping: Mapping,
}

impl CachedHead {
    /// The head's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.mapping.bytes()[DATA_OFFSET..]
    }

    /// `Ok` while the file is as it was mapped (see [`GgufFile::check_unchanged`]).
    pub(super) fn check_unchanged(&self) -> Result<(), GgufError> {
        self.mapping.check()
    }
}

/// The file at `path` mapped, if it exists and its header and length are `header`'s.
fn open(path: &Path, header: &Header) -> Option<CachedHead> {
    let mapping = Mapping::open(path).ok()?;
    let bytes = mapping.bytes();
    let expected_len = (DATA_OFFSET as u64).checked_add(header.data_len)?;
    let valid = bytes.len() as u64 == expected_len && bytes[..DATA_OFFSET] == header.encode();
    valid.then_some(CachedHead { mapping })
}

/// SHA-256 over what identifies the head of `file` and the format it is re-quantised to: the
/// model file's length and modification time, the tensor's name, type, shape and offset, and
/// its first and last [`SAMPLE`] bytes. `None` for a file held in memory.
fn key(file: &GgufFile, tensor: &str, ty: TensorType) -> Option<[u8; 32]> {
    let meta = fs::metadata(file.path()?).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let info = file.tensor(tensor)?;
    let data = file.tensor_data(info);
    let mut h = Sha256::new();
    h.update(VERSION.to_le_bytes());
    h.update(meta.len().to_le_bytes());
    h.update(modified.to_le_bytes());
    h.update(tensor.as_bytes());
    h.update(info.ty.id().to_le_bytes());
    for d in &info.dims {
        h.update(d.to_le_bytes());
    }
    h.update(info.offset.to_le_bytes());
    h.update(ty.id().to_le_bytes());
    h.update(&data[..data.len().min(SAMPLE)]);
    h.update(&data[data.len().saturating_sub(SAMPLE)..]);
    Some(h.finalize().into())
}
