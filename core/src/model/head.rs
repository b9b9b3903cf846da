//! The output head: the matrix that turns the final hidden state into logits, read as the file
//! stores it or quantised (Q8_0, Q6_K or Q4_K, in the file or re-quantised at load), which cuts
//! the bytes every decoded token reads (2B4T: the tied F16 embedding is 657 MB, over half of a
//! token's bytes; 349 MB in Q8_0, 269 MB in Q6_K, 185 MB in Q4_K).

use std::path::Path;

use super::head_cache::{CachedHead, HeadCacheEntry};
use super::weights::Matrix;
use super::ModelError;
use crate::gguf::{GgufError, GgufFile};
use crate::kernels::Kernels;
use crate::quant::{self, TensorType, WeightView};
use crate::runtime::ThreadPool;

/// Logits per position that a head re-quantised from floats recomputes from the stored head:
/// the best this many by the quantised product, so that the tokens a sampler can pick are
/// scored as by the float head. The cost is this many stored rows per position (2B4T: 64 F16
/// rows of 5 KB, against the 185–349 MB of the quantised head read per token).
pub const RESCORED_CANDIDATES: usize = 64;

/// How the engine stores and multiplies the output head ([`EngineConfig`]'s `head`).
///
/// A quantised precision multiplies the head with int8 kernels (the final hidden state
/// quantised per block, ggml's q8_0 × q8_0, q6_K × q8_K or q4_K × q8_K product). A head the
/// file already stores at that precision or below (Q8_0, Q6_K or Q4_K) is read in place from
/// the mapping; a wider one (F32, F16, BF16; Q8_0 for [`Q6K`](Self::Q6K), Q8_0 and Q6_K for
/// [`Q4K`](Self::Q4K)) is re-quantised at load, by llama.cpp's
/// reference quantiser, into memory the engine owns
/// ([`Model::head_resident_bytes`](super::Model::head_resident_bytes)), or, with a
/// `cache_dir`, written there once and mapped by later loads (no memory of its own, no load
/// time). A head re-quantised from floats then has each position's best
/// [`RESCORED_CANDIDATES`] logits recomputed from the stored rows: those logits are the float
/// head's, bit for bit, and only the tail (tokens no sampler reaches in practice) keeps the
/// quantisation error.
///
/// [`EngineConfig`]: crate::engine::EngineConfig
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum HeadPrecision {
    /// The head as the file stores it (F16 in BitNet files: the tied embedding), read in place
    /// from the mapping and multiplied in f32 with the canonical float dot. The default.
    #[default]
    F16,
    /// Q8_0: ggml's 32-weight blocks (f16 scale, int8 values), 8.5 bits per weight.
    Q8_0,
    /// Q6_K: ggml's 256-weight super-blocks (6-bit values, int8 scale per 16), 6.5625 bits
    /// per weight. A head whose width is not a multiple of 256 gets Q8_0 instead.
    Q6K,
    /// Q4_K: ggml's 256-weight super-blocks (4-bit values, 6-bit scale and min per 32), 4.5
    /// bits per weight. A head whose width is not a multiple of 256 gets Q8_0 instead.
    Q4K,
}

/// Which tensor is the output head and how it is multiplied, decided from the file's header
/// and the precision asked for; the loader and the memory estimate both follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadPlan {
    /// `output.weight` when the file has it, else the tied `token_embd.weight`.
    pub tensor: &'static str,
    /// Its format in the file.
    pub stored: TensorType,
    /// The format it is re-quantised to at load into an owned buffer, if any.
    pub requantized: Option<TensorType>,
    /// Whether products are int8 dots (Q8_0, Q6_K or Q4_K weights; else the float kernels).
    pub int8: bool,
    /// Logits per position recomputed from the stored float head after the re-quantised
    /// product ([`RESCORED_CANDIDATES`] when re-quantised from F32, F16 or BF16, else 0).
    pub rescored: usize,
    /// Bytes held outside mapped files (the re-quantised copy when it is made at this load),
    /// in bytes.
    pub owned_bytes: u64,
    /// Where the re-quantised head is kept between loads, when a cache directory was given.
    pub cache: Option<HeadCacheEntry>,
}

impl HeadPlan {
    /// The head of `file` at `precision`; a re-quantised head is looked for in, and kept in,
    /// `cache_dir` when given.
    pub fn for_file(
        file: &GgufFile,
        precision: HeadPrecision,
        cache_dir: Option<&Path>,
    ) -> Result<Self, ModelError> {
        let tensor = match file.tensor("output.weight") {
            Some(_) => "output.weight",
            None => "token_embd.weight",
        };
        let info = file
            .tensor(tensor)
            .ok_or_else(|| ModelError::MissingTensor(tensor.to_owned()))?;
        let dim = |i: usize| info.dims.get(i).copied().unwrap_or(0);
        let (cols, rows) = (dim(0), dim(1));
        let requantized = precision
            .format_for(cols)
            .filter(|&target| bits_per_weight(info.ty) > bits_per_weight(target));
        let multiplied = requantized.unwrap_or(info.ty);
        let data_len = match requantized {
            Some(ty) => ty.row_bytes(cols).and_then(|r| r.checked_mul(rows)),
            None => Some(0),
        }
        .ok_or_else(|| ModelError::BadTensor {
            name: tensor.to_owned(),
            reason: format!("{cols} × {rows} is too large"),
        })?;
        let cache = requantized
            .zip(cache_dir)
            .and_then(|(ty, dir)| HeadCacheEntry::new(dir, file, tensor, ty, rows, cols, data_len));
        let owned_bytes = match &cache {
            Some(entry) if entry.present => 0,
            _ => data_len,
        };
        let float = matches!(
            info.ty,
            TensorType::F32 | TensorType::F16 | TensorType::BF16
        );
        Ok(HeadPlan {
            tensor,
            stored: info.ty,
            requantized,
            rescored: if requantized.is_some() && float {
                RESCORED_CANDIDATES
            } else {
                0
            },
            int8: precision != HeadPrecision::F16
                && matches!(
                    multiplied,
                    TensorType::Q8_0 | TensorType::Q6K | TensorType::Q4K
                ),
            owned_bytes,
            cache,
        })
    }

    /// The format products read the head in (the re-quantised one, else as stored).
    pub fn multiplied(&self) -> TensorType {
        self.requantized.unwrap_or(self.stored)
    }
}

impl HeadPrecision {
    /// The quantised format for a head `cols` wide at this precision (`None`: as stored).
    fn format_for(self, cols: u64) -> Option<TensorType> {
        let fits = |ty: TensorType| cols > 0 && cols.is_multiple_of(ty.block_len());
        let preferred = match self {
            HeadPrecision::F16 => return None,
            HeadPrecision::Q8_0 => TensorType::Q8_0,
            HeadPrecision::Q6K => TensorType::Q6K,
            HeadPrecision::Q4K => TensorType::Q4K,
        };
        // A K-quant needs whole 256-weight super-blocks; Q8_0's 32-weight blocks are the
        // fallback.
        [preferred, TensorType::Q8_0].into_iter().find(|&t| fits(t))
    }

    /// The name the CLI and reports use (`"f16"`, `"q8_0"`, `"q6_k"`, `"q4_k"`).
    pub fn name(self) -> &'static str {
        match self {
            HeadPrecision::F16 => "f16",
            HeadPrecision::Q8_0 => "q8_0",
            HeadPrecision::Q6K => "q6_k",
            HeadPrecision::Q4K => "q4_k",
        }
    }
}

/// The indices of the [`RESCORED_CANDIDATES`] largest `logits` (all of them when fewer; NaN
/// is skipped), in no particular order: one pass that replaces the smallest kept
/// value, rarely once the kept ones are large.
fn best_rows(logits: &[f32]) -> Vec<u32> {
    const K: usize = RESCORED_CANDIDATES;
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(K.min(logits.len()));
    let mut smallest = 0;
    let argmin = |best: &[(f32, u32)]| {
        (0..best.len())
            .min_by(|&a, &b| best[a].0.total_cmp(&best[b].0))
            .unwrap_or(0)
    };
    for (i, &v) in (0u32..).zip(logits) {
        if v.is_nan() {
            continue;
        }
        if best.len() < K {
            best.push((v, i));
            if best.len() == K {
                smallest = argmin(&best);
            }
        } else if v > best[smallest].0 {
            best[smallest] = (v, i);
            smallest = argmin(&best);
        }
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// Bits per weight of `ty` (block bytes × 8 / block length).
fn bits_per_weight(ty: TensorType) -> f64 {
    ty.block_bytes() as f64 * 8.0 / ty.block_len() as f64
}

/// The output head the forward pass multiplies.
#[derive(Debug)]
pub(super) struct OutputHead {
    /// The head's matrix in the file (the tied `token_embd` or `output.weight`).
    matrix: Matrix,
    /// The matrix re-quantised, and its format, when it is.
    requantized: Option<(TensorType, HeadBytes)>,
    /// Whether products are int8 dots (else the float kernels).
    int8: bool,
    /// Logits per position recomputed from `matrix` ([`HeadPlan::rescored`]).
    rescored: usize,
}

/// A re-quantised head's bytes: made at this load, or mapped from the cache.
#[derive(Debug)]
enum HeadBytes {
    Owned(Vec<u8>),
    Cached(CachedHead),
}

impl HeadBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            HeadBytes::Owned(bytes) => bytes,
            HeadBytes::Cached(cached) => cached.bytes(),
        }
    }
}

impl OutputHead {
    /// The head `matrix` of `file_bytes` as `plan` says; re-quantises on `pool`'s workers.
    pub(super) fn load(
        matrix: Matrix,
        plan: &HeadPlan,
        file_bytes: &[u8],
        pool: &ThreadPool,
    ) -> Result<Self, ModelError> {
        let requantized = match plan.requantized {
            Some(ty) => {
                let cached = plan.cache.as_ref().and_then(HeadCacheEntry::open);
                let bytes = match cached {
                    Some(cached) => HeadBytes::Cached(cached),
                    None => {
                        let bytes = requantize(&matrix.view(file_bytes)?, ty, pool)?;
                        if let Some(entry) = &plan.cache {
                            entry.store(&bytes);
                        }
                        HeadBytes::Owned(bytes)
                    }
                };
                Some((ty, bytes))
            }
            None => None,
        };
        Ok(OutputHead {
            matrix,
            requantized,
            int8: plan.int8,
            rescored: plan.rescored,
        })
    }

    /// A view of the head's weights: the owned re-quantised copy, or the matrix in
    /// `file_bytes`.
    pub(super) fn view<'a>(&'a self, file_bytes: &'a [u8]) -> Result<WeightView<'a>, ModelError> {
        match &self.requantized {
            Some((ty, bytes)) => Ok(WeightView::new(
                *ty,
                self.matrix.cols,
                self.matrix.rows,
                bytes.bytes(),
                1.0,
            )?),
            None => self.matrix.view(file_bytes),
        }
    }

    /// Whether products are int8 dots ([`crate::kernels::Kernels::int8_gemm`]).
    pub(super) fn int8(&self) -> bool {
        self.int8
    }

    /// Recomputes the best [`RESCORED_CANDIDATES`] of one position's `logits` (from the
    /// re-quantised product) with the stored float rows in `file_bytes` and the position's
    /// hidden state `x`, when this head re-scores (else leaves them): each becomes exactly
    /// the float head's logit (the same canonical float dot, row by row).
    pub(super) fn rescore(
        &self,
        kernels: &Kernels,
        file_bytes: &[u8],
        x: &[f32],
        logits: &mut [f32],
    ) -> Result<(), ModelError> {
        if self.rescored == 0 {
            return Ok(());
        }
        let stored = self.matrix.view(file_bytes)?;
        for r in best_rows(logits) {
            let r = r as usize;
            kernels.float_gemm(&stored, x, r..r + 1, &mut logits[r..r + 1])?;
        }
        Ok(())
    }

    /// The format the head is multiplied in.
    pub(super) fn ty(&self) -> TensorType {
        self.requantized
            .as_ref()
            .map_or(self.matrix.ty, |(ty, _)| *ty)
    }

    /// Bytes one product reads (the whole head), in bytes.
    pub(super) fn byte_len(&self) -> usize {
        self.requantized
            .as_ref()
            .map_or(self.matrix.byte_len(), |(_, bytes)| bytes.bytes().len())
    }

    /// Bytes the head holds outside mapped files (a copy re-quantised at this load), in bytes.
    pub(super) fn owned_bytes(&self) -> usize {
        match &self.requantized {
            Some((_, HeadBytes::Owned(bytes))) => bytes.len(),
            _ => 0,
        }
    }

    /// `Ok` while a head mapped from the cache is as it was mapped (always for other heads;
    /// see [`GgufFile::check_unchanged`]).
    pub(super) fn check_unchanged(&self) -> Result<(), GgufError> {
        match &self.requantized {
            Some((_, HeadBytes::Cached(cached))) => cached.check_unchanged(),
            _ => Ok(()),
        }
    }
}

/// `w` re-quantised row by row to `ty` (rows dequantised with the view's scale, then encoded
/// by the reference quantiser), split over `pool`'s workers. The plan checked the width.
fn requantize(w: &WeightView, ty: TensorType, pool: &ThreadPool) -> Result<Vec<u8>, ModelError> {
    let bad = |reason: String| ModelError::BadTensor {
        name: "output head".into(),
        reason,
    };
    let row_bytes = ty
        .row_bytes(w.cols() as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| bad(format!("a {ty} head cannot be {} wide", w.cols())))?;
    let mut out = vec![0u8; w.rows() * row_bytes];
    let byte_ranges: Vec<_> = pool
        .split(w.rows(), 64)
        .into_iter()
        .map(|r| r.start * row_bytes..r.end * row_bytes)
        .collect();
    let results = pool.for_each_chunk(&byte_ranges, &mut out, |bytes, chunk| {
        let mut row = vec![0f32; w.cols()];
        for (r, out) in (bytes.start / row_bytes..).zip(chunk.chunks_exact_mut(row_bytes)) {
            w.dequantize_row(r, &mut row)?;
            quant::quantize_row(ty, &row, out)?;
        }
        Ok::<(), ModelError>(())
    });
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_precision_picks_the_format_the_width_allows() {
        use HeadPrecision::*;
        assert_eq!(F16.format_for(2560), None);
        assert_eq!(Q8_0.format_for(2560), Some(TensorType::Q8_0));
        assert_eq!(Q6K.format_for(2560), Some(TensorType::Q6K));
        // Not whole 256-weight super-blocks: Q8_0; not whole 32-weight blocks: as stored.
        assert_eq!(Q6K.format_for(96), Some(TensorType::Q8_0));
        assert_eq!(Q6K.format_for(40), None);
        assert_eq!(Q4K.format_for(2560), Some(TensorType::Q4K));
        assert_eq!(Q4K.format_for(96), Some(TensorType::Q8_0));
        assert_eq!(Q8_0.format_for(0), None);
    }

    #[test]
    fn best_rows_are_the_largest_logits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(30);
        let mut logits: Vec<f32> = (0..5000)
            .map(|_| rng.random_range(-10.0f32..10.0))
            .collect();
        logits[17] = f32::NAN;
        let mut got = best_rows(&logits);
        got.sort_unstable();
        let mut order: Vec<u32> = (0..5000).filter(|&i| i != 17).collect();
        order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        let mut want = order[..RESCORED_CANDIDATES].to_vec();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(best_rows(&[1.0, 3.0, 2.0]), vec![0, 1, 2]);
        assert!(best_rows(&[]).is_empty());
    }

    #[test]
    fn only_wider_heads_are_requantized() {
        let wider = |from: TensorType, to: TensorType| bits_per_weight(from) > bits_per_weight(to);
        assert!(wider(TensorType::F16, TensorType::Q6K));
        assert!(wider(TensorType::Q8_0, TensorType::Q6K));
        assert!(!wider(TensorType::Q6K, TensorType::Q8_0));
        assert!(!wider(TensorType::Q4K, TensorType::Q6K));
        assert!(wider(TensorType::Q6K, TensorType::Q4K));
    }
}
