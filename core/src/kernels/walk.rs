//! How a table's matmuls walk memory: the row tiles of a ternary matmul, and the per-CPU-family
//! prefetch policy of single-token reads. Tuning only: results never depend on it.

use std::ops::Range;

use super::{Kernels, TILE_ROWS};
use crate::quant::WeightView;

/// The row tiles a ternary matmul walks over `rows`, each up to [`TILE_ROWS`] row indices.
///
/// - A batch (prefill): consecutive rows, `rows.start..+4`, `+4..+8`, …: the tile's bytes are
///   one block of memory that every token tile reuses from L1.
/// - One token (decode) on a table without hints ([`RowWalk::hints`], `streams`): `rows` cut
///   into [`TILE_ROWS`] equal stretches, a tile taking the next row of each, so the tiles read
///   [`TILE_ROWS`] long sequential streams. A hardware prefetcher follows those, where
///   consecutive rows give it 4 interleaved streams a few hundred bytes long (2B4T TQ2_0:
///   660-byte rows) that it loses at every tile: x86_64 (AMD EPYC Zen 4, 2 threads) read the
///   ternary layers at 26–27 GB/s this way against 19–21 GB/s with consecutive rows and hints
///   (see docs/ARCHITECTURE.md, *Prefetch and stream order*).
pub(super) struct TileRows {
    /// The next tile's first row.
    next: usize,
    /// The rows walked.
    rows: Range<usize>,
    /// Rows between a tile's rows: 1, or the stretch of each stream.
    stride: usize,
    /// Rows per tile step: `TILE_ROWS` (consecutive), or 1 (streams).
    step: usize,
}

/// One tile: rows `first + j · stride` for `j` in `0..n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Tile {
    pub(super) first: usize,
    pub(super) stride: usize,
    pub(super) n: usize,
}

impl TileRows {
    pub(super) fn new(rows: Range<usize>, streams: bool) -> Self {
        let (stride, step) = if streams {
            (rows.len().div_ceil(TILE_ROWS).max(1), 1)
        } else {
            (1, TILE_ROWS)
        };
        Self {
            next: rows.start,
            rows,
            stride,
            step,
        }
    }
}

impl Iterator for TileRows {
    type Item = Tile;

    fn next(&mut self) -> Option<Tile> {
        let first = self.next;
        // Streams: tile `i` is row `i` of each stretch; only the last stretch can be short, so
        // the streams that still have a row are a prefix.
        let end = if self.step == 1 {
            self.rows.start + self.stride
        } else {
            self.rows.end
        };
        if first >= end.min(self.rows.end) {
            return None;
        }
        self.next += self.step;
        let n = (self.rows.end - first).div_ceil(self.stride).min(TILE_ROWS);
        Some(Tile {
            first,
            stride: self.stride,
            n,
        })
    }
}

/// How many tiles ahead of the one it computes a ternary matmul of consecutive-row tiles
/// prefetches: far enough that the lines arrive in time (≈ 10 KB ahead on 2B4T's 2560-wide
/// rows; 2 and 8 measured slower from memory), near enough to stay in L1/L2.
pub(super) const PREFETCH_TILES: usize = 4;

/// How many rows ahead of the one it computes a row-at-a-time loop hints, when the table
/// hints sequential reads ([`RowWalk::hints`]).
pub(super) const PREFETCH_ROWS: usize = 2;

/// How a table's single-token reads — the row-at-a-time matmuls (the F16 and Q8_0 heads,
/// per-block-scale ternary rows, other float weights) and single-token ternary tiles — walk
/// memory: a per-CPU-family tuning that never changes results.
#[derive(Clone, Copy, Debug)]
pub(super) struct RowWalk {
    /// F16 rows one [`F16DotFn`] call takes for a single token (1 to 4): 4 shares each
    /// activation load between 4 rows (fewer instructions), 1 reads the rows as one
    /// sequential stream.
    pub f16_rows: usize,
    /// Whether reads are hinted ahead — [`PREFETCH_ROWS`] rows in row loops, single-token
    /// tiles of consecutive rows [`PREFETCH_TILES`] tiles ahead — or left to the hardware
    /// prefetchers, single-token tiles then reading [`TileRows`]' streams.
    pub hints: bool,
}

impl RowWalk {
    /// x86_64: sequential streams with no hints. On AMD EPYC Zen 4 (criterion
    /// `*_head_gemv_2560x32768/avx2`, one thread) the hardware prefetchers follow one stream at
    /// the core's bandwidth, while hints 1, 2 or 4 rows ahead (which hold L1 miss buffers) or 4
    /// interleaved rows cost up to 40 %: F16 head 19.7 GiB/s without hints vs 13.7 with hints
    /// 2 rows ahead (13.4 for 4 rows per pass), Q8_0 head 23.6 vs 17.0. (A Zen 5 machine of an
    /// earlier session measured the opposite for hints, 26.6 vs 16.8 GiB/s: the walk is a
    /// per-machine tuning; see docs/ARCHITECTURE.md.)
    pub const SEQUENTIAL: RowWalk = RowWalk {
        f16_rows: 1,
        hints: false,
    };
    /// aarch64: 4 F16 rows per pass and hints — the fewest instructions per token (the qemu
    /// instruction-count proxy; phones' memory behaviour is not measurable on the build
    /// machine).
    #[cfg(target_arch = "aarch64")]
    pub const SHARED_LOADS: RowWalk = RowWalk {
        f16_rows: 4,
        hints: true,
    };
}

/// Cache lines the prefetch hints step by, in bytes.
pub(super) const LINE_BYTES: usize = 64;

/// Hints the CPU to bring `n` rows of `w` from row `first` into the cache, clipped to the
/// rows this call computes (`rows`), so that a thread never fetches another thread's rows.
/// A hardware prefetcher follows one sequential stream well but not the 4 short interleaved
/// row streams of a tile (measured: `ternary_gemv_dram` in the kernels benchmark, about 2×
/// the bandwidth with the hints). Hints never change results.
pub(super) fn prefetch_rows(w: &WeightView, first: usize, n: usize, rows: &Range<usize>) {
    let end = (first + n).min(rows.end);
    if first >= end {
        return;
    }
    let bytes = &w.data()[first * w.row_bytes()..end * w.row_bytes()];
    for line in bytes.chunks(LINE_BYTES) {
        prefetch_line(line.as_ptr());
    }
}

impl Kernels {
    /// The row loops' hint while computing row `r` of `rows` (see [`RowWalk::hints`]).
    pub(super) fn prefetch_ahead(&self, w: &WeightView, r: usize, n: usize, rows: &Range<usize>) {
        if self.row_walk.hints {
            prefetch_rows(w, r + PREFETCH_ROWS, n, rows);
        }
    }
}

/// A prefetch hint for the cache line holding `p` (no effect elsewhere).
#[inline(always)]
pub(super) fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch hint reads nothing architecturally and never faults, whatever the
    // address; SSE (its feature) is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `PRFM` is a hint: it reads nothing architecturally, never faults and writes no
    // register or memory.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}
