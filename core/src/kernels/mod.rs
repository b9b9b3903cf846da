//! Matrix kernels: int8 activation quantisation, ternary GEMV/GEMM, the float GEMV/GEMM used
//! for the output head, embeddings and F32 reference weights, the Q8_0 head and attention over
//! the KV cache.
//!
//! [`Kernels`] is one table of inner loops for one instruction set, chosen once at load
//! ([`Kernels::detect`]). Its methods are the one generic driver: they check every shape, pick
//! the row loop for the weight format and walk the requested row range, so an ISA file holds
//! only inner loops that may assume valid shapes. Every ISA must give the same result as the
//! scalar table bit for bit.
//!
//! - `contract.rs`: the function types, tile shapes and activations every table implements,
//!   and the typed errors;
//! - `dispatch.rs`: the tables and how one is chosen;
//! - `ternary.rs`, `float.rs`, `head.rs`, `attention.rs`: one driver per operation;
//! - `walk.rs`: row tiles and the prefetch policy;
//! - `math.rs`: the exp and f64 sums every table shares;
//! - one file per ISA table: `scalar.rs` (the reference); `x86/avx2.rs`, `x86/avx512.rs` and
//!   what they share in `x86/mod.rs`; `aarch64/neon.rs`, `aarch64/dotprod.rs`,
//!   `aarch64/i8mm.rs` and what they share in `aarch64/mod.rs`.

#[cfg(all(
    target_arch = "aarch64",
    target_feature = "neon",
    target_endian = "little"
))]
mod aarch64;
mod attention;
mod contract;
mod dispatch;
mod float;
mod head;
pub(crate) mod math;
mod scalar;
mod ternary;
#[cfg(test)]
mod tests;
mod walk;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use attention::{AttentionScratch, KvRows};
pub use contract::{
    F16DotFn, F16WeightedSumFn, FloatDotFn, KernelError, Q8KeyDotFn, Q8WeightedSumFn, QuantActs,
    SoftmaxFn, TernaryDotFn, TernaryTileFn, FLOAT_LANES, TILE_ROWS, TILE_TOKENS,
};
pub use dispatch::Kernels;
pub use head::{Q4KDotFn, Q6KDotFn, Q8Acts, Q8DotFn, Q8_LANES};

use contract::{check_len, check_rows, run_tile, tile_fn};
use float::{
    dot_f16_blocks, weighted_sum_f16_by, weighted_sum_q8_0_by, F16Block, Q8WeightedColumns,
    WeightedColumns,
};
use walk::{prefetch_rows, RowWalk, Tile, TileRows, PREFETCH_TILES};
