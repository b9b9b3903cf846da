//! The kernel tables and how one is chosen: every table this CPU can run, the fastest by
//! default, a named one on request (tests, bug reports). The drivers are `Kernels`' methods,
//! in the files named for what they compute.

#[cfg(all(
    target_arch = "aarch64",
    target_feature = "neon",
    target_endian = "little"
))]
use super::aarch64;
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{
    scalar, F16DotFn, F16WeightedSumFn, FloatDotFn, Q4KDotFn, Q6KDotFn, Q8DotFn, Q8KeyDotFn,
    Q8WeightedSumFn, QuantActs, RowWalk, SoftmaxFn, TernaryDotFn, TernaryTileFn,
};

/// One instruction set's inner loops (see the module docs); the methods are the driver.
#[derive(Debug)]
pub struct Kernels {
    /// Shown in logs and benchmarks (`"scalar"`, later `"neon-dotprod"`, ...).
    pub(super) name: &'static str,
    /// Fills `out` from `x` as [`QuantActs`] documents, reusing `out.q`'s allocation.
    pub(super) quantize_acts: fn(x: &[f32], out: &mut QuantActs),
    /// [`TernaryTileFn`] for I2_S rows.
    pub(super) tile_i2s: TernaryTileFn,
    /// [`TernaryTileFn`] for TQ2_0 rows (uniform block scales).
    pub(super) tile_tq2_0: TernaryTileFn,
    /// [`TernaryTileFn`] for TQ1_0 rows (uniform block scales).
    pub(super) tile_tq1_0: TernaryTileFn,
    /// [`TernaryDotFn`] for TQ2_0 rows with per-block scales.
    pub(super) dot_tq2_0: TernaryDotFn,
    /// [`TernaryDotFn`] for TQ1_0 rows with per-block scales.
    pub(super) dot_tq1_0: TernaryDotFn,
    /// [`FloatDotFn`] over two f32 slices.
    pub(super) dot_f32: FloatDotFn,
    /// [`F16DotFn`]: F16 rows against f32 rows — rows of the tied output head against a
    /// token's activations, one cached key against the query heads that share it.
    pub(super) dot_f16: F16DotFn,
    /// [`Q8DotFn`]: a Q8_0 row (the Q8_0 head) against Q8_0 activations.
    pub(super) dot_q8_0: Q8DotFn,
    /// [`Q6KDotFn`]: a Q6_K row (a Q6_K head) against Q8_K activations.
    pub(super) dot_q6_k: Q6KDotFn,
    /// [`Q4KDotFn`]: a Q4_K row (a Q4_K head) against Q8_K activations.
    pub(super) dot_q4_k: Q4KDotFn,
    /// [`F16WeightedSumFn`]: one head's attention output from the cached values.
    pub(super) weighted_sum_f16: F16WeightedSumFn,
    /// [`Q8KeyDotFn`]: the cached Q8_0 keys of one kv head against its query heads.
    pub(super) dot_q8_0_keys: Q8KeyDotFn,
    /// [`Q8WeightedSumFn`]: one head's attention output from cached Q8_0 values.
    pub(super) weighted_sum_q8_0: Q8WeightedSumFn,
    /// [`SoftmaxFn`]: attention's probabilities from the key dots.
    pub(super) softmax: SoftmaxFn,
    /// How single-token reads (row-at-a-time matmuls, decode tiles) walk memory on this
    /// table's CPUs.
    pub(super) row_walk: RowWalk,
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
}
