//! Matrix kernels: int8 activation quantisation, ternary GEMV/GEMM, the float GEMV/GEMM used
//! for the output head, embeddings and F32 reference weights, and attention over the KV cache
//! (`attention.rs`).
//!
//! [`Kernels`] is one table of inner loops for one instruction set, chosen once at load
//! ([`Kernels::detect`]). Its methods are the one generic driver: they check every shape, pick
//! the row loop for the weight format and walk the requested row range, so an ISA file holds
//! only inner loops that may assume valid shapes. Every ISA must give the same result as the
//! scalar table bit for bit.

#[cfg(all(
    target_arch = "aarch64",
    target_feature = "neon",
    target_endian = "little"
))]
mod aarch64;
mod attention;
mod head;
pub(crate) mod math;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::ops::Range;

use crate::quant::{self, QuantError, TensorType, WeightView};

pub use attention::KvRows;
pub use head::{Q8Acts, Q8DotFn, Q8_LANES};

/// One token's activations quantised to int8 for a ternary matmul (shared by every matrix that
/// reads the same input): `x ≈ q / scale`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantActs {
    /// `clamp(round_half_even(x · scale), −128, 127)`, one per input element.
    pub q: Vec<i8>,
    /// `127 / max(max|x|, 1e-5)`: int8 units per activation unit.
    pub scale: f32,
    /// `Σ q`, for kernels that compute `Σ code·q − Σ q` from unsigned codes.
    pub sum: i32,
}

/// The inner loop of a ternary GEMV for one format: `Σ_blocks d_b · (Σ t·q)_b` over one row's
/// bytes against one token's `q` (one per weight), with the per-block int32 sums accumulated
/// in f32 in block order (I2_S: `d_b` = 1, so the row's int32 sum as f32).
pub type TernaryDotFn = fn(row: &[u8], q: &[i8]) -> f32;

/// Most rows one [`TernaryTileFn`] call covers.
pub const TILE_ROWS: usize = 4;
/// Most tokens one [`TernaryTileFn`] call covers.
pub const TILE_TOKENS: usize = 4;

/// The inner loop of a ternary matmul for one format when the whole matrix has one scale: a
/// tile of `n_rows` (1..=[`TILE_ROWS`]) rows of the same length (whole blocks), row `r` at
/// `rows[r · stride..]` (`stride` ≥ the row length, which is `rows.len() − (n_rows − 1) ·
/// stride`), against `acts` (1..=[`TILE_TOKENS`] tokens, each with one int8 per weight of a row
/// and its `sum`). Writes `out[t · n_rows + r]` = the int32 sum `Σ t·q` of row `r` against
/// token `t` (block scales ignored); `out` is `n_rows · acts.len()` long. Each weight block is
/// decoded once per call, for every token.
pub type TernaryTileFn =
    fn(rows: &[u8], n_rows: usize, stride: usize, acts: &[QuantActs], out: &mut [i32]);

/// Defines `fn $name`, a [`TernaryTileFn`] that runs the safe kernel
/// `$kernel::<$generic.., R, T>(rows: [&[u8]; R], acts: [&QuantActs; T]) -> [[i32; R]; T]` (the sums,
/// token-major) monomorphised for the tile's shape, so every ISA writes its tile loop once with
/// the shape as constants.
macro_rules! tile_fn {
    ($name:ident = $kernel:ident<$($generic:ty),*>) => {
        fn $name(
            rows: &[u8],
            n_rows: usize,
            stride: usize,
            acts: &[$crate::kernels::QuantActs],
            out: &mut [i32],
        ) {
            use $crate::kernels::run_tile as run;
            match (n_rows, acts.len()) {
                (1, 1) => run::<1, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 1>),
                (1, 2) => run::<1, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 2>),
                (1, 3) => run::<1, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 3>),
                (1, 4) => run::<1, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 1, 4>),
                (2, 1) => run::<2, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 1>),
                (2, 2) => run::<2, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 2>),
                (2, 3) => run::<2, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 3>),
                (2, 4) => run::<2, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 2, 4>),
                (3, 1) => run::<3, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 1>),
                (3, 2) => run::<3, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 2>),
                (3, 3) => run::<3, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 3>),
                (3, 4) => run::<3, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 3, 4>),
                (4, 1) => run::<4, 1>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 1>),
                (4, 2) => run::<4, 2>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 2>),
                (4, 3) => run::<4, 3>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 3>),
                (4, 4) => run::<4, 4>(rows, stride, acts, out, $kernel::<$($generic,)* 4, 4>),
                shape => unreachable!("tile shape {shape:?} beyond TILE_ROWS × TILE_TOKENS"),
            }
        }
    };
}
use tile_fn;

/// A tile kernel monomorphised for `R` rows and `T` tokens: the int32 sums `Σ t·q`, token-major.
type TileKernel<const R: usize, const T: usize> = fn([&[u8]; R], [&QuantActs; T]) -> [[i32; R]; T];

/// Splits a tile into the per-row and per-token arrays of a kernel monomorphised for `R` rows
/// and `T` tokens, runs it and stores its sums token-major in `out` (see [`TernaryTileFn`]).
#[inline(always)]
fn run_tile<const R: usize, const T: usize>(
    rows: &[u8],
    stride: usize,
    acts: &[QuantActs],
    out: &mut [i32],
    kernel: TileKernel<R, T>,
) {
    let row_bytes = rows.len() - (R - 1) * stride;
    let sums = kernel(
        std::array::from_fn(|r| &rows[r * stride..][..row_bytes]),
        std::array::from_fn(|t| &acts[t]),
    );
    for (out, sums) in out.chunks_exact_mut(R).zip(&sums) {
        out.copy_from_slice(sums);
    }
}

/// The row loop a ternary matrix uses (see [`WeightView`]'s scaling rules).
#[derive(Clone, Copy)]
enum RowFn {
    Tile(TernaryTileFn),
    Dot(TernaryDotFn),
}

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
struct TileRows {
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
struct Tile {
    first: usize,
    stride: usize,
    n: usize,
}

impl TileRows {
    fn new(rows: Range<usize>, streams: bool) -> Self {
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

/// A kernel contract broken by the caller: a wrong format, row range or buffer length.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// A ternary kernel called on weights that are not ternary.
    #[error("{0} weights are not ternary")]
    NotTernary(TensorType),
    /// A row range that is not inside the weight matrix.
    #[error("rows {start}..{end} out of range for a matrix of {rows} rows")]
    RowsOutOfRange {
        /// First requested row.
        start: usize,
        /// One past the last requested row.
        end: usize,
        /// Rows in the matrix.
        rows: usize,
    },
    /// A buffer whose length does not match the shapes.
    #[error("{what}: expected {expected} elements, got {actual}")]
    Length {
        /// Which buffer.
        what: &'static str,
        /// Elements the shapes call for.
        expected: usize,
        /// Elements given.
        actual: usize,
    },
    /// A token-major batch buffer that is not a whole number of tokens.
    #[error("{what}: {actual} elements are not a whole number of {per_token}-element tokens")]
    PartialToken {
        /// Which buffer.
        what: &'static str,
        /// Elements per token.
        per_token: usize,
        /// Elements given.
        actual: usize,
    },
    /// A weight row the format cannot decode.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A Q8_0 × Q8_0 kernel called on weights that are not Q8_0.
    #[error("{0} weights are not Q8_0")]
    NotQ8_0(TensorType),
}

/// One instruction set's inner loops (see the module docs); the methods are the driver.
#[derive(Debug)]
pub struct Kernels {
    /// Shown in logs and benchmarks (`"scalar"`, later `"neon-dotprod"`, ...).
    name: &'static str,
    /// Fills `out` from `x` as [`QuantActs`] documents, reusing `out.q`'s allocation.
    quantize_acts: fn(x: &[f32], out: &mut QuantActs),
    /// [`TernaryTileFn`] for I2_S rows.
    tile_i2s: TernaryTileFn,
    /// [`TernaryTileFn`] for TQ2_0 rows (uniform block scales).
    tile_tq2_0: TernaryTileFn,
    /// [`TernaryTileFn`] for TQ1_0 rows (uniform block scales).
    tile_tq1_0: TernaryTileFn,
    /// [`TernaryDotFn`] for TQ2_0 rows with per-block scales.
    dot_tq2_0: TernaryDotFn,
    /// [`TernaryDotFn`] for TQ1_0 rows with per-block scales.
    dot_tq1_0: TernaryDotFn,
    /// [`FloatDotFn`] over two f32 slices.
    dot_f32: FloatDotFn,
    /// [`F16DotFn`]: F16 rows against f32 rows — rows of the tied output head against a
    /// token's activations, one cached key against the query heads that share it.
    dot_f16: F16DotFn,
    /// [`Q8DotFn`]: a Q8_0 row (the Q8_0 head) against Q8_0 activations.
    dot_q8_0: Q8DotFn,
    /// [`F16WeightedSumFn`]: one head's attention output from the cached values.
    weighted_sum_f16: F16WeightedSumFn,
    /// How single-token reads (row-at-a-time matmuls, decode tiles) walk memory on this
    /// table's CPUs.
    row_walk: RowWalk,
}

/// Lanes of the canonical float dot product (see [`FloatDotFn`]).
pub const FLOAT_LANES: usize = 16;

/// `Σ a_j·b_j` in the canonical order every ISA reproduces bit for bit: each product is fused
/// with its add into lane `j % 16` (`lane = fma(a_j, b_j, lane)`, one rounding: `FMLA` on NEON,
/// `VFMADD` on x86, `f32::mul_add` in the scalar table); lanes are then folded in halves
/// (`l[i] += l[i + 8]`, then `+4`, `+2`, `+1`). `a` and `b` have the same length.
pub type FloatDotFn = fn(a: &[f32], b: &[f32]) -> f32;

/// `out[r · Q + q]` = [`FloatDotFn`]'s sum of row `r` of `a` (little-endian IEEE f16, each
/// value converted exactly to f32) with row `q` of `b`, where `a` holds `R = a.len() / 2m`
/// and `b` holds `Q = b.len() / m` rows of `m` values, back to back, and `out` has `R · Q`
/// floats. Tables compute up to 4 dots per pass over `m` (4 head rows against one token, or
/// one cached key against 4 query heads), loading and widening each f16 value once per pass.
pub type F16DotFn = fn(a: &[u8], b: &[f32], m: usize, out: &mut [f32]);

/// One table's [`F16DotFn`] block: `R` rows of f16 against `Q` rows of f32 (`R · Q ≤ 4`), with
/// the shapes of [`F16DotFn`] (exactly `R` and `Q` rows).
pub(super) trait F16Block {
    /// `out[r · Q + q] = a_r · b_q` in the canonical order.
    fn block<const R: usize, const Q: usize>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]);
}

/// One table's [`F16WeightedSumFn`] columns: `col..col + 8V` of the sum into `out` (`8V`
/// floats), with the sums in `V` 8-lane registers over every row of `x` (rows of `m ≥ 1`).
pub(super) trait WeightedColumns {
    /// The `8V` columns from `col`.
    fn columns<const V: usize>(x: &[u8], w: &[f32], m: usize, col: usize, out: &mut [f32]);
}

/// The [`F16WeightedSumFn`] driver every SIMD table shares: 64 columns per pass over the rows,
/// then 8, then the scalar loop one column at a time.
pub(super) fn weighted_sum_f16_by<K: WeightedColumns>(x: &[u8], w: &[f32], out: &mut [f32]) {
    let m = out.len();
    if m == 0 {
        return;
    }
    let rows = w.len().min(x.len() / (2 * m));
    let (x, w) = (&x[..2 * m * rows], &w[..rows]);
    let mut col = 0;
    while col + 64 <= m {
        K::columns::<8>(x, w, m, col, &mut out[col..col + 64]);
        col += 64;
    }
    while col + 8 <= m {
        K::columns::<1>(x, w, m, col, &mut out[col..col + 8]);
        col += 8;
    }
    for (c, out) in out.iter_mut().enumerate().skip(col) {
        *out = scalar::weighted_sum_column(x, w, m, c);
    }
}

/// The [`F16DotFn`] driver every table shares: blocks of up to 4 `a` rows against one `b` row
/// (the head), else one `a` row against up to 4 `b` rows (attention, batched head).
pub(super) fn dot_f16_blocks<K: F16Block>(a: &[u8], b: &[f32], m: usize, out: &mut [f32]) {
    if m == 0 {
        out.fill(0.0);
        return;
    }
    let (rows, cols) = (a.len() / (2 * m), b.len() / m);
    let out = &mut out[..rows * cols];
    if cols == 1 {
        for (r, out) in (0..rows).step_by(4).zip(out.chunks_mut(4)) {
            let a = &a[2 * m * r..2 * m * (r + out.len())];
            match out.len() {
                4 => K::block::<4, 1>(a, b, m, out),
                3 => K::block::<3, 1>(a, b, m, out),
                2 => K::block::<2, 1>(a, b, m, out),
                _ => K::block::<1, 1>(a, b, m, out),
            }
        }
        return;
    }
    for (a, out) in a.chunks_exact(2 * m).zip(out.chunks_exact_mut(cols)) {
        for (q, out) in (0..cols).step_by(4).zip(out.chunks_mut(4)) {
            let b = &b[m * q..m * (q + out.len())];
            match out.len() {
                4 => K::block::<1, 4>(a, b, m, out),
                3 => K::block::<1, 3>(a, b, m, out),
                2 => K::block::<1, 2>(a, b, m, out),
                _ => K::block::<1, 1>(a, b, m, out),
            }
        }
    }
}

/// `out[i] = Σ_j w[j] · x_j[i]` over the `w.len()` rows `x_j` of `x` (little-endian IEEE f16,
/// `out.len()` values per row, back to back), each value converted exactly to f32: added in
/// row order starting from `+0`, each product fused with its add (`out[i] = fma(w[j],
/// x_j[i], out[i])`), so every table gives the same bits.
pub type F16WeightedSumFn = fn(x: &[u8], w: &[f32], out: &mut [f32]);

/// How many tiles ahead of the one it computes a ternary matmul of consecutive-row tiles
/// prefetches: far enough that the lines arrive in time (≈ 10 KB ahead on 2B4T's 2560-wide
/// rows; 2 and 8 measured slower from memory), near enough to stay in L1/L2.
const PREFETCH_TILES: usize = 4;

/// How many rows ahead of the one it computes a row-at-a-time loop hints, when the table
/// hints sequential reads ([`RowWalk::hints`]).
const PREFETCH_ROWS: usize = 2;

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
const LINE_BYTES: usize = 64;

/// Hints the CPU to bring `n` rows of `w` from row `first` into the cache, clipped to the
/// rows this call computes (`rows`), so that a thread never fetches another thread's rows.
/// A hardware prefetcher follows one sequential stream well but not the 4 short interleaved
/// row streams of a tile (measured: `ternary_gemv_dram` in the kernels benchmark, about 2×
/// the bandwidth with the hints). Hints never change results.
fn prefetch_rows(w: &WeightView, first: usize, n: usize, rows: &Range<usize>) {
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
    fn prefetch_ahead(&self, w: &WeightView, r: usize, n: usize, rows: &Range<usize>) {
        if self.row_walk.hints {
            prefetch_rows(w, r + PREFETCH_ROWS, n, rows);
        }
    }
}

/// A prefetch hint for the cache line holding `p` (no effect elsewhere).
#[inline(always)]
fn prefetch_line(p: *const u8) {
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

/// Checks that `actual == expected` for the buffer `what`.
fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), KernelError> {
    if expected != actual {
        return Err(KernelError::Length {
            what,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks that `rows` lies inside `w`.
fn check_rows(w: &WeightView, rows: &Range<usize>) -> Result<(), KernelError> {
    if rows.start > rows.end || rows.end > w.rows() {
        return Err(KernelError::RowsOutOfRange {
            start: rows.start,
            end: rows.end,
            rows: w.rows(),
        });
    }
    Ok(())
}

impl Kernels {
    /// Every table this CPU can run, from the portable reference to the fastest.
    pub fn available() -> Vec<&'static Kernels> {
        let mut tables = vec![Self::scalar()];
        #[cfg(target_arch = "x86_64")]
        tables.extend(x86::tables());
        #[cfg(all(
            target_arch = "aarch64",
            target_feature = "neon",
            target_endian = "little"
        ))]
        tables.extend(aarch64::available());
        tables
    }

    /// The table for this process, chosen once by the caller at load: the fastest this CPU
    /// runs, or the one named by the environment variable `BITNET_KERNELS` (e.g. `scalar`) to
    /// force a lower level for tests and bug reports. An unknown or unsupported name is logged
    /// and ignored.
    pub fn detect() -> &'static Kernels {
        let tables = Self::available();
        let best = tables[tables.len() - 1];
        match std::env::var("BITNET_KERNELS") {
            Ok(name) => Self::by_name(&name).unwrap_or_else(|| {
                log::warn!(
                    "BITNET_KERNELS={name:?} is not available here; using {}",
                    best.name
                );
                best
            }),
            Err(_) => best,
        }
    }

    /// The table called `name`, if this CPU can run it.
    pub fn by_name(name: &str) -> Option<&'static Kernels> {
        Self::available().into_iter().find(|k| k.name == name)
    }

    /// The portable reference table every other table is tested against.
    pub fn scalar() -> &'static Kernels {
        &scalar::KERNELS
    }

    /// The table's name, for logs and benchmarks.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Quantises one token's activations `x` into `out` (see [`QuantActs`]); `out.q` ends up
    /// `x.len()` long. Non-finite inputs quantise to 0 or ±max without panicking.
    pub fn quantize_acts(&self, x: &[f32], out: &mut QuantActs) {
        (self.quantize_acts)(x, out);
    }

    /// The row loop for `w`: `Σ_b d_b · acc_b` with per-block scales, else the row's int32
    /// sum (as f32; exact below 2^24, which rows of int8 × ternary up to 131072 wide are).
    fn ternary_row_fn(&self, w: &WeightView) -> Result<RowFn, KernelError> {
        Ok(match (w.ty(), w.per_block_scales()) {
            (TensorType::TQ2_0, true) => RowFn::Dot(self.dot_tq2_0),
            (TensorType::TQ1_0, true) => RowFn::Dot(self.dot_tq1_0),
            (TensorType::I2S, _) => RowFn::Tile(self.tile_i2s),
            (TensorType::TQ2_0, false) => RowFn::Tile(self.tile_tq2_0),
            (TensorType::TQ1_0, false) => RowFn::Tile(self.tile_tq1_0),
            (ty, _) => return Err(KernelError::NotTernary(ty)),
        })
    }

    /// Ternary GEMV for one token: for each row `r` in `rows`,
    /// `out[r − rows.start] = dot(r) · (w.scale / acts.scale)`, with `dot` the row's
    /// [`TernaryDotFn`]. `acts.q` has `w.cols()` elements, `out` has `rows.len()`.
    pub fn ternary_gemv(
        &self,
        w: &WeightView,
        acts: &QuantActs,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        self.ternary_gemm(w, std::slice::from_ref(acts), rows, out)
    }

    /// Ternary GEMM for a batch of tokens: token `t`'s outputs are
    /// `out[t · rows.len() ..][.. rows.len()]`, each exactly what [`ternary_gemv`]
    /// gives for that token.
    ///
    /// [`ternary_gemv`]: Self::ternary_gemv
    pub fn ternary_gemm(
        &self,
        w: &WeightView,
        acts: &[QuantActs],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let row_fn = self.ternary_row_fn(w)?;
        check_rows(w, &rows)?;
        check_len("ternary_gemm out", acts.len() * rows.len(), out.len())?;
        for a in acts {
            check_len("ternary_gemm activations", w.cols(), a.q.len())?;
        }
        if rows.is_empty() {
            return Ok(()); // nothing to do, and `chunks_exact_mut(0)` would panic
        }
        let n_rows = rows.len();
        match row_fn {
            // Tiles of up to TILE_ROWS rows × TILE_TOKENS tokens, rows outer: each tile's weight
            // bytes are read from memory once and reused from L1 by every token tile (the
            // tokens' activations stay in L2); within a tile each block is decoded once.
            RowFn::Tile(tile) => {
                // A single token on a table that leaves sequential reads to the hardware
                // prefetchers: streams (see `TileRows`); else consecutive rows, hinted ahead.
                let streams = acts.len() == 1 && !self.row_walk.hints;
                let mut sums = [0i32; TILE_ROWS * TILE_TOKENS];
                for Tile { first, stride, n } in TileRows::new(rows.clone(), streams) {
                    if !streams {
                        let ahead = first + PREFETCH_TILES * TILE_ROWS;
                        prefetch_rows(w, ahead, TILE_ROWS, &rows);
                    }
                    let row_bytes = w.row_bytes();
                    let bytes =
                        &w.data()[first * row_bytes..][..((n - 1) * stride + 1) * row_bytes];
                    for (tile_index, tokens) in acts.chunks(TILE_TOKENS).enumerate() {
                        let sums = &mut sums[..n * tokens.len()];
                        tile(bytes, n, stride * row_bytes, tokens, sums);
                        for (j, (a, sums)) in tokens.iter().zip(sums.chunks_exact(n)).enumerate() {
                            let out = &mut out[(tile_index * TILE_TOKENS + j) * n_rows..];
                            let first = first - rows.start;
                            for (i, &acc) in sums.iter().enumerate() {
                                out[first + i * stride] = acc as f32 * (w.scale() / a.scale);
                            }
                        }
                    }
                }
            }
            // Per-block scales: one row at a time, reused from L1 by every token.
            RowFn::Dot(dot) => {
                for (i, r) in rows.clone().enumerate() {
                    self.prefetch_ahead(w, r, 1, &rows);
                    let row = w.row(r);
                    for (t, a) in acts.iter().enumerate() {
                        out[t * n_rows + i] = dot(row, &a.q) * (w.scale() / a.scale);
                    }
                }
            }
        }
        Ok(())
    }

    /// Float GEMV for one token, any weight format: for each row `r` in `rows`,
    /// `out[r − rows.start] = (Σ_j deq(r)_j · x_j) · w.scale`, where `deq(r)` is the row
    /// dequantised by its format's reference decoder (F16 rows are read directly) and the sum
    /// is the canonical lane-wise [`FloatDotFn`]. `x` has `w.cols()` elements, `out` has
    /// `rows.len()`.
    pub fn float_gemv(
        &self,
        w: &WeightView,
        x: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_len("float_gemv input", w.cols(), x.len())?;
        self.float_gemm(w, x, rows, out)
    }

    /// Float GEMM for a batch of tokens: `x` holds the tokens' inputs one after another
    /// (`w.cols()` each) and token `t`'s outputs are `out[t · rows.len() ..][.. rows.len()]`,
    /// each exactly what [`float_gemv`](Self::float_gemv) gives for that token. Each row is
    /// dequantised once per call.
    pub fn float_gemm(
        &self,
        w: &WeightView,
        x: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_rows(w, &rows)?;
        if !x.len().is_multiple_of(w.cols()) {
            return Err(KernelError::PartialToken {
                what: "float_gemm input",
                per_token: w.cols(),
                actual: x.len(),
            });
        }
        let tokens = x.len() / w.cols();
        check_len("float_gemm out", tokens * rows.len(), out.len())?;
        if w.ty() == TensorType::F16 {
            // F16 rows straight from the file against every token: `f16_rows` at a time for
            // one token, else one (each row's values then widened once for all tokens).
            let step = if tokens == 1 {
                self.row_walk.f16_rows
            } else {
                1
            };
            let mut dots = vec![0f32; step * tokens];
            for first in rows.clone().step_by(step) {
                let block = first..(first + step).min(rows.end);
                self.prefetch_ahead(w, first, step, &rows);
                let bytes = &w.data()[block.start * w.row_bytes()..block.end * w.row_bytes()];
                let dots = &mut dots[..block.len() * tokens];
                (self.dot_f16)(bytes, x, w.cols(), dots);
                for (r, dots) in block.zip(dots.chunks_exact(tokens)) {
                    for (t, &dot) in dots.iter().enumerate() {
                        out[t * rows.len() + r - rows.start] = dot * w.scale();
                    }
                }
            }
            return Ok(());
        }
        let mut row = vec![0f32; w.cols()];
        for (i, r) in rows.clone().enumerate() {
            self.prefetch_ahead(w, r, 1, &rows);
            quant::dequantize_row(w.ty(), w.row(r), &mut row)?;
            for (t, x) in x.chunks_exact(w.cols()).enumerate() {
                out[t * rows.len() + i] = (self.dot_f32)(&row, x) * w.scale();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::quant::encode_ternary_tensor;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const TERNARY: [TensorType; 3] = [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0];

    fn random_ternary(rng: &mut ChaCha8Rng, n: usize) -> Vec<i8> {
        (0..n).map(|_| rng.random_range(-1i8..=1)).collect()
    }

    fn random_acts(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-4.0f32..4.0)).collect()
    }

    /// `k`'s tile entry for the ternary format `ty`.
    pub(super) fn tile_entry(k: &Kernels, ty: TensorType) -> TernaryTileFn {
        match ty {
            TensorType::I2S => k.tile_i2s,
            TensorType::TQ2_0 => k.tile_tq2_0,
            TensorType::TQ1_0 => k.tile_tq1_0,
            ty => panic!("{ty} is not ternary"),
        }
    }

    /// Activations with `q` as given (scale 1) and their sum.
    pub(super) fn acts_of(q: &[i8]) -> QuantActs {
        QuantActs {
            q: q.to_vec(),
            scale: 1.0,
            sum: q.iter().map(|&q| i32::from(q)).sum(),
        }
    }

    /// Checks `k`'s tile for `ty` against the scalar table's, bit for bit, on every tile shape
    /// that fits: `rows` holds `rows.len() / row_bytes` rows (any bytes), `acts` the tokens.
    pub(super) fn assert_tiles_match(
        k: &Kernels,
        ty: TensorType,
        rows: &[u8],
        row_bytes: usize,
        acts: &[QuantActs],
    ) {
        let (fast, reference) = (tile_entry(k, ty), tile_entry(Kernels::scalar(), ty));
        let max_rows = TILE_ROWS.min(rows.len() / row_bytes);
        // Adjacent rows, and every other row (a stride of two rows, as decode streams use).
        for (n_rows, spacing) in (1..=max_rows)
            .map(|n| (n, 1))
            .chain((1..=2).map(|n| (n, 2)))
        {
            let stride = spacing * row_bytes;
            if (n_rows - 1) * stride + row_bytes > rows.len() {
                continue;
            }
            let bytes = &rows[..(n_rows - 1) * stride + row_bytes];
            for n_tokens in 1..=TILE_TOKENS.min(acts.len()) {
                let tokens = &acts[acts.len() - n_tokens..];
                let mut got = vec![0; n_rows * n_tokens];
                let mut expected = vec![1; n_rows * n_tokens];
                fast(bytes, n_rows, stride, tokens, &mut got);
                reference(bytes, n_rows, stride, tokens, &mut expected);
                let shape = format!("{n_rows}×{n_tokens}, stride {spacing}");
                assert_eq!(got, expected, "{} {ty} {shape}", k.name());
            }
        }
    }

    #[test]
    fn tile_rows_cover_every_row_once() {
        for rows in [0..0, 3..4, 0..3, 0..5, 7..16, 1..1000] {
            for streams in [false, true] {
                let tiles: Vec<Tile> = TileRows::new(rows.clone(), streams).collect();
                let mut seen: Vec<usize> = tiles
                    .iter()
                    .flat_map(|t| (0..t.n).map(move |j| t.first + j * t.stride))
                    .collect();
                assert!(tiles.iter().all(|t| (1..=TILE_ROWS).contains(&t.n)));
                if !streams {
                    // Consecutive rows, in order.
                    assert!(tiles.iter().all(|t| t.stride == 1));
                    assert!(seen.iter().copied().eq(rows.clone()), "{rows:?}");
                } else if let Some(first) = tiles.first() {
                    // Tile 0 takes the first row of each of the 4 equal stretches.
                    assert_eq!(first.stride, rows.len().div_ceil(TILE_ROWS), "{rows:?}");
                }
                seen.sort_unstable();
                assert_eq!(seen, rows.clone().collect::<Vec<_>>(), "{rows:?} {streams}");
            }
        }
    }

    #[test]
    fn every_table_matches_scalar_on_edge_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for ty in TERNARY {
            let min_k = ty.block_len() as usize;
            // One row; rows and tokens not multiples of the tile; K at the minimum block multiple.
            for (rows, cols, tokens, range) in [
                (1, min_k, 1, 0..1),
                (5, min_k, 3, 0..5),
                (7, 512, 6, 1..7),
                (9, 2560, 5, 2..9),
                (16, 256, 9, 0..16),
            ] {
                let t = random_ternary(&mut rng, rows * cols);
                let acts: Vec<QuantActs> = (0..tokens)
                    .map(|_| {
                        let mut a = QuantActs::default();
                        Kernels::scalar().quantize_acts(&random_acts(&mut rng, cols), &mut a);
                        a
                    })
                    .collect();
                let bytes = encode_ternary_tensor(ty, &t, cols, 0.375).expect("encodes");
                let mut w = WeightView::new(ty, cols, rows, &bytes, 1.5).expect("valid");
                if let Some(d) = w.uniform_block_scale() {
                    w = w.with_uniform_block_scale(d);
                }
                let mut expected = vec![0f32; tokens * range.len()];
                Kernels::scalar()
                    .ternary_gemm(&w, &acts, range.clone(), &mut expected)
                    .expect("shapes");
                for k in Kernels::available() {
                    let mut got = vec![f32::NAN; tokens * range.len()];
                    k.ternary_gemm(&w, &acts, range.clone(), &mut got)
                        .expect("shapes");
                    assert_eq!(got, expected, "{} {ty} {rows}×{cols}×{tokens}", k.name());
                    let mut single = vec![0f32; range.len()];
                    k.ternary_gemv(&w, &acts[0], range.clone(), &mut single)
                        .expect("shapes");
                    assert_eq!(single, expected[..range.len()], "{} {ty}", k.name());
                }
                // The tiles alone, on random bytes (every code, TQ1_0 bytes past 242 included).
                let row_bytes = w.row_bytes();
                let random: Vec<u8> = (0..row_bytes * rows).map(|_| rng.random()).collect();
                let q_acts: Vec<QuantActs> = (0..TILE_TOKENS)
                    .map(|_| acts_of(&(0..cols).map(|_| rng.random()).collect::<Vec<i8>>()))
                    .collect();
                for k in Kernels::available() {
                    assert_tiles_match(k, ty, &random, row_bytes, &q_acts);
                }
            }
        }
    }

    #[test]
    fn tables_are_found_by_name_and_scalar_is_always_there() {
        let tables = Kernels::available();
        assert!(std::ptr::eq(tables[0], Kernels::scalar()));
        for k in tables {
            assert!(std::ptr::eq(Kernels::by_name(k.name()).expect("listed"), k));
        }
        assert!(Kernels::by_name("no-such-isa").is_none());
    }

    #[test]
    fn quantize_acts_all_zero_uses_the_floor() {
        let mut a = QuantActs::default();
        Kernels::scalar().quantize_acts(&[0.0; 7], &mut a);
        assert_eq!(a.q, vec![0; 7]);
        assert_eq!(a.scale, 127.0 / 1e-5);
        assert_eq!(a.sum, 0);
    }

    #[test]
    fn quantize_acts_rounds_ties_to_even() {
        // max |x| = 127 → scale = 1.
        let mut a = QuantActs::default();
        let x = [127.0, 2.5, -2.5, 3.5, 0.5, -1.5, -127.0, 0.49];
        Kernels::scalar().quantize_acts(&x, &mut a);
        assert_eq!(a.scale, 1.0);
        assert_eq!(a.q, vec![127, 2, -2, 4, 0, -2, -127, 0]);
        assert_eq!(a.sum, 2);
        // The buffer is reused and resized.
        Kernels::scalar().quantize_acts(&[-0.5, 0.25], &mut a);
        assert_eq!(
            (a.q.as_slice(), a.scale, a.sum),
            (&[-127, 64][..], 254.0, -63)
        );
    }

    /// One random ternary matrix stored in every ternary format (power-of-two scale, so every
    /// format's result is exactly the same).
    fn ternary_views(t: &[i8], cols: usize, scale: f32) -> Vec<(TensorType, Vec<u8>)> {
        TERNARY
            .into_iter()
            .map(|ty| {
                (
                    ty,
                    encode_ternary_tensor(ty, t, cols, scale).expect("encodes"),
                )
            })
            .collect()
    }

    #[test]
    fn ternary_gemv_matches_the_integer_reference_in_every_format() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (rows, cols) = (5, 512);
        let t = random_ternary(&mut rng, rows * cols);
        let x = random_acts(&mut rng, cols);
        let k = Kernels::scalar();
        let mut acts = QuantActs::default();
        k.quantize_acts(&x, &mut acts);
        let mut results = Vec::new();
        for (ty, bytes) in ternary_views(&t, cols, 0.5) {
            let w = WeightView::new(ty, cols, rows, &bytes, 2.0).expect("valid");
            let mut out = vec![0f32; rows];
            k.ternary_gemv(&w, &acts, 0..rows, &mut out)
                .expect("shapes");
            for (r, &y) in out.iter().enumerate() {
                let acc: i32 = t[r * cols..][..cols]
                    .iter()
                    .zip(&acts.q)
                    .map(|(&t, &q)| i32::from(t) * i32::from(q))
                    .sum();
                let row = w.row(r);
                assert_eq!(quant::ternary_acc(ty, row, &acts.q), Ok(acc), "{ty}");
                // w.scale: I2_S 0.5 (tail) · 2; TQ 2, with d = 0.5 inside each block.
                assert_eq!(y, acc as f32 * (0.5 * 2.0 / acts.scale), "{ty} row {r}");
            }
            results.push(out);
        }
        assert!(results.windows(2).all(|p| p[0] == p[1]));
    }

    #[test]
    fn uniform_tq_block_scales_take_the_i2s_path_bit_for_bit() {
        // 0.0146484375 is exact in f16 but not a power of two, so scaling per block (f32 sum of
        // d·acc_b) and per row (d·Σacc_b) round differently; the uniform path must equal I2_S.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (rows, cols, scale) = (9, 1024, 0.014_648_437_5);
        let t = random_ternary(&mut rng, rows * cols);
        let k = Kernels::scalar();
        let mut acts = QuantActs::default();
        k.quantize_acts(&random_acts(&mut rng, cols), &mut acts);
        let mut results = Vec::new();
        for (ty, bytes) in ternary_views(&t, cols, scale) {
            let mut w = WeightView::new(ty, cols, rows, &bytes, 1.0).expect("valid");
            if ty != TensorType::I2S {
                assert!(w.per_block_scales());
                assert_eq!(w.uniform_block_scale(), Some(scale), "{ty}");
                w = w.with_uniform_block_scale(scale);
            }
            assert!(!w.per_block_scales());
            let mut out = vec![0f32; rows];
            k.ternary_gemv(&w, &acts, 0..rows, &mut out)
                .expect("shapes");
            results.push(out);
        }
        assert!(results.windows(2).all(|p| p[0] == p[1]), "{results:?}");
    }

    #[test]
    fn differing_block_scales_are_not_uniform() {
        let t = vec![1i8; 512];
        let mut bytes = encode_ternary_tensor(TensorType::TQ2_0, &t, 512, 0.5).expect("encodes");
        let w = WeightView::new(TensorType::TQ2_0, 512, 1, &bytes, 1.0).expect("valid");
        assert_eq!(w.uniform_block_scale(), Some(0.5));
        // The second block's f16 d (bytes 64..66 of a 66-byte block) becomes 1.0.
        bytes[66 + 64..66 + 66].copy_from_slice(&half::f16::from_f32(1.0).to_le_bytes());
        let w = WeightView::new(TensorType::TQ2_0, 512, 1, &bytes, 1.0).expect("valid");
        assert_eq!(w.uniform_block_scale(), None);
        let mut acts = QuantActs::default();
        Kernels::scalar().quantize_acts(&[1.0; 512], &mut acts);
        let mut out = [0f32];
        Kernels::scalar()
            .ternary_gemv(&w, &acts, 0..1, &mut out)
            .expect("shapes");
        assert_eq!(out[0], (127.0 * 256.0 * 0.5 + 127.0 * 256.0) / 127.0);
    }

    #[test]
    fn ternary_gemm_equals_gemv_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (rows, cols, tokens) = (7, 256, 3);
        let t = random_ternary(&mut rng, rows * cols);
        let k = Kernels::scalar();
        let acts: Vec<QuantActs> = (0..tokens)
            .map(|_| {
                let mut a = QuantActs::default();
                k.quantize_acts(&random_acts(&mut rng, cols), &mut a);
                a
            })
            .collect();
        for (ty, bytes) in ternary_views(&t, cols, 0.3) {
            let w = WeightView::new(ty, cols, rows, &bytes, 1.0).expect("valid");
            let range = 2..5;
            let mut batch = vec![0f32; tokens * range.len()];
            k.ternary_gemm(&w, &acts, range.clone(), &mut batch)
                .expect("shapes");
            for (a, expected) in acts.iter().zip(batch.chunks(range.len())) {
                let mut single = vec![0f32; range.len()];
                k.ternary_gemv(&w, a, range.clone(), &mut single)
                    .expect("shapes");
                assert_eq!(single.as_slice(), expected, "{ty}");
            }
        }
    }

    #[test]
    fn one_block_rows_and_empty_ranges() {
        let t = [1i8; 128];
        let bytes = encode_ternary_tensor(TensorType::I2S, &t, 128, 1.0).expect("encodes");
        let w = WeightView::new(TensorType::I2S, 128, 1, &bytes, 1.0).expect("valid");
        let k = Kernels::scalar();
        let mut acts = QuantActs::default();
        k.quantize_acts(&[1.0; 128], &mut acts);
        let mut out = [0f32; 1];
        k.ternary_gemv(&w, &acts, 0..1, &mut out).expect("shapes");
        assert_eq!(out[0], 128.0 * 127.0 / 127.0);
        k.ternary_gemv(&w, &acts, 1..1, &mut [])
            .expect("empty range");
        k.ternary_gemm(&w, &[], 0..1, &mut []).expect("no tokens");
        k.float_gemv(&w, &[1.0; 128], 0..0, &mut [])
            .expect("empty range");
    }

    #[test]
    fn broken_contracts_are_typed_errors() {
        let k = Kernels::scalar();
        let bytes = encode_ternary_tensor(TensorType::TQ2_0, &[0; 512], 256, 1.0).expect("ok");
        let w = WeightView::new(TensorType::TQ2_0, 256, 2, &bytes, 1.0).expect("valid");
        let mut acts = QuantActs::default();
        k.quantize_acts(&[0.5; 256], &mut acts);
        let mut out = [0f32; 2];
        assert_eq!(
            k.ternary_gemv(&w, &acts, 1..3, &mut out[..2]),
            Err(KernelError::RowsOutOfRange {
                start: 1,
                end: 3,
                rows: 2
            })
        );
        assert!(matches!(
            k.ternary_gemv(&w, &acts, 0..2, &mut out[..1]),
            Err(KernelError::Length { .. })
        ));
        let mut short = QuantActs::default();
        k.quantize_acts(&[0.5; 255], &mut short);
        assert!(matches!(
            k.ternary_gemv(&w, &short, 0..2, &mut out),
            Err(KernelError::Length { .. })
        ));
        assert!(matches!(
            k.float_gemm(&w, &[0.0; 300], 0..2, &mut out),
            Err(KernelError::PartialToken { .. })
        ));
        let f = WeightView::new(TensorType::F32, 1, 1, &[0; 4], 1.0).expect("valid");
        assert_eq!(
            k.ternary_gemv(&f, &acts, 0..1, &mut out[..1]),
            Err(KernelError::NotTernary(TensorType::F32))
        );
    }

    #[test]
    fn f16_gemm_of_every_table_equals_scalar_on_ragged_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for (rows, cols) in [(11, 40), (4, 16), (9, 2560), (1, 1)] {
            let weights = random_acts(&mut rng, rows * cols);
            let bytes = quant::quantize_tensor(TensorType::F16, &weights, cols).expect("encodes");
            let w = WeightView::new(TensorType::F16, cols, rows, &bytes, 0.75).expect("valid");
            for tokens in [1, 3] {
                let x = random_acts(&mut rng, tokens * cols);
                for range in [0..rows, rows / 3..rows, rows - 1..rows] {
                    let gemm = |k: &Kernels| {
                        let mut out = vec![f32::NAN; tokens * range.len()];
                        k.float_gemm(&w, &x, range.clone(), &mut out)
                            .expect("shapes");
                        out
                    };
                    let expected = gemm(Kernels::scalar());
                    for (t, x) in x.chunks_exact(cols).enumerate() {
                        for (i, r) in range.clone().enumerate() {
                            let dot = dot_f16_one(Kernels::scalar(), w.row(r), x) * 0.75;
                            assert_eq!(expected[t * range.len() + i].to_bits(), dot.to_bits());
                        }
                    }
                    for k in Kernels::available() {
                        let got = gemm(k);
                        assert_eq!(bits(&got), bits(&expected), "{} {rows}×{cols}", k.name);
                    }
                }
            }
        }
    }

    #[test]
    fn float_gemv_on_f32_weights_is_exact() {
        // 3 rows × 2 cols: [[1, 2], [3, 4], [-1, 0.5]], scale 2.
        let x: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.5];
        let bytes = quant::quantize_tensor(TensorType::F32, &x, 2).expect("encodes");
        let w = WeightView::new(TensorType::F32, 2, 3, &bytes, 2.0).expect("valid");
        let mut out = [0f32; 3];
        Kernels::scalar()
            .float_gemv(&w, &[10.0, 1.0], 0..3, &mut out)
            .expect("shapes");
        assert_eq!(out, [24.0, 68.0, -19.0]);
    }

    /// The [`F16DotFn`] of one f16 row `a` with `b` (`a.len() / 2 == b.len()`).
    pub(super) fn dot_f16_one(k: &Kernels, a: &[u8], b: &[f32]) -> f32 {
        let mut out = [0f32];
        (k.dot_f16)(a, b, b.len(), &mut out);
        out[0]
    }

    #[test]
    fn f16_dots_and_weighted_sums_match_scalar_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let f16_bytes = |v: &[f32]| -> Vec<u8> {
            v.iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect()
        };
        let specials = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            65504.0,
        ];
        let shapes = [
            (1, 1),
            (1, 2),
            (1, 3),
            (1, 4),
            (1, 5),
            (1, 9),
            (2, 1),
            (3, 1),
            (4, 1),
        ];
        let shapes = shapes.into_iter().chain([(5, 1), (9, 1), (3, 2), (2, 5)]);
        for m in [0, 1, 7, 8, 15, 16, 17, 63, 64, 72, 128, 129] {
            for ((r, q), special) in shapes.clone().zip(0..) {
                let mut a = random_acts(&mut rng, r * m);
                let mut b = random_acts(&mut rng, q * m);
                if m > 0 && special < specials.len() {
                    a[r * m / 2] = specials[special];
                    b[q * m - 1] = -specials[special];
                }
                let a16 = f16_bytes(&a);
                let mut expected = vec![f32::NAN; r * q];
                (Kernels::scalar().dot_f16)(&a16, &b, m, &mut expected);
                if m > 0 {
                    // Each block entry is the single-row dot.
                    let single: Vec<f32> = a16
                        .chunks_exact(2 * m)
                        .flat_map(|a| {
                            b.chunks_exact(m)
                                .map(|b| dot_f16_one(Kernels::scalar(), a, b))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    assert_eq!(bits(&expected), bits(&single), "block = single, {m}");
                }
                // `q` rows of `m` cached values weighted by the first `q` values of `a`.
                let (x16, w) = (f16_bytes(&b), &a[..q.min(r * m)]);
                let x16 = &x16[..2 * m * w.len()];
                let mut expected_sum = vec![f32::NAN; m];
                (Kernels::scalar().weighted_sum_f16)(x16, w, &mut expected_sum);
                for k in Kernels::available() {
                    let mut dots = vec![f32::NAN; r * q];
                    (k.dot_f16)(&a16, &b, m, &mut dots);
                    assert_eq!(bits(&dots), bits(&expected), "{} dots {m}: {r}×{q}", k.name);
                    let mut sum = vec![f32::NAN; m];
                    (k.weighted_sum_f16)(x16, w, &mut sum);
                    assert_eq!(bits(&sum), bits(&expected_sum), "{} sum {m}×{q}", k.name);
                }
            }
        }
    }

    /// The bits of each value, every NaN as one canonical NaN (which NaN an operation on two
    /// NaNs returns depends on operand order, which the compiler may swap).
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter()
            .map(|v| if v.is_nan() { f32::NAN } else { *v }.to_bits())
            .collect()
    }

    #[test]
    fn float_kernels_follow_the_documented_order_in_every_format() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (rows, cols, tokens) = (3, 256, 2);
        let k = Kernels::scalar();
        let x = random_acts(&mut rng, tokens * cols);
        let weights = random_acts(&mut rng, rows * cols);
        let mut blocks: Vec<(TensorType, Vec<u8>)> = [
            TensorType::F32,
            TensorType::F16,
            TensorType::BF16,
            TensorType::Q8_0,
        ]
        .into_iter()
        .map(|ty| {
            (
                ty,
                quant::quantize_tensor(ty, &weights, cols).expect("encodes"),
            )
        })
        .collect();
        for ty in [TensorType::Q4K, TensorType::Q6K] {
            // Random bytes with finite f16 super-block scales (byte 0x3C: 1.0 ≤ |d| < 2).
            let mut bytes: Vec<u8> = (0..ty.tensor_bytes(&[256, 3]).unwrap_or(0))
                .map(|_| rng.random())
                .collect();
            for b in bytes.chunks_exact_mut(ty.block_bytes() as usize) {
                let d_offsets: &[usize] = if ty == TensorType::Q4K {
                    &[1, 3]
                } else {
                    &[209]
                };
                for &o in d_offsets {
                    b[o] = 0x3C;
                }
            }
            blocks.push((ty, bytes));
        }
        for (ty, bytes) in &blocks {
            let w = WeightView::new(*ty, cols, rows, bytes, 0.5).expect("valid");
            let mut batch = vec![0f32; tokens * 2];
            k.float_gemm(&w, &x, 1..3, &mut batch).expect("shapes");
            for (t, x) in x.chunks(cols).enumerate() {
                let mut single = [0f32; 2];
                k.float_gemv(&w, x, 1..3, &mut single).expect("shapes");
                assert_eq!(single, batch[t * 2..][..2], "{ty}");
                for (i, r) in (1..3).enumerate() {
                    let mut row = vec![0f32; cols];
                    quant::dequantize_row(*ty, w.row(r), &mut row).expect("decodes");
                    let mut lanes = [0f32; FLOAT_LANES];
                    for (j, (a, b)) in row.iter().zip(x).enumerate() {
                        lanes[j % FLOAT_LANES] = a.mul_add(*b, lanes[j % FLOAT_LANES]);
                    }
                    let sum = scalar::fold_lanes(lanes);
                    assert_eq!(single[i], sum * 0.5, "{ty}");
                    assert!(single[i].is_finite());
                }
            }
        }
    }
}
