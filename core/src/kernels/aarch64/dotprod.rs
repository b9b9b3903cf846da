//! The `"neon-dotprod"` table: `SDOT` adds 4 int8 products into each int32 lane (chosen when
//! the CPU reports `dotprod`).

use std::arch::aarch64::*;
use std::arch::asm;

use super::{tile, Mac};

neon_table!(
    /// NEON with the dot-product extension: one `SDOT` per 16 weights.
    NEON_DOTPROD,
    "neon-dotprod",
    tile,
    Sdot,
    "neon,dotprod"
);

/// Dot-product step: `SDOT` adds 4 int8 products into each int32 lane.
pub(super) struct Sdot;

impl Mac for Sdot {
    const PLANES: bool = true;

    #[inline(always)]
    unsafe fn mac(mut acc: int32x4_t, t: int8x16_t, q: int8x16_t) -> int32x4_t {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            asm!(
                "sdot {acc:v}.4s, {t:v}.16b, {q:v}.16b",
                acc = inout(vreg) acc,
                t = in(vreg) t,
                q = in(vreg) q,
                options(pure, nomem, nostack, preserves_flags),
            );
            acc
        }
    }
}
