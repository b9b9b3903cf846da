//! The baseline `"neon"` table: Advanced SIMD on every aarch64 CPU, int8 products by widening
//! multiplies (`SMULL`/`SMLAL2`, pairwise-added into int32).

use std::arch::aarch64::*;

use super::{tile, Mac};

neon_table!(
    /// Baseline NEON: widening multiplies (`SMULL`/`SMLAL2`, pairwise-added into int32).
    NEON,
    "neon",
    tile,
    Widen,
    "neon"
);

/// Baseline step: 16 int16 products (`|t·q| ≤ 256`), added in pairs into int16, then pairs of
/// those into the int32 lanes.
struct Widen;

impl Mac for Widen {
    // The pair products spill in `tile_planes`: 1142.7 M instructions per 2B4T TQ2_0 token
    // under qemu against 1136.9 M with `tile`.
    const PLANES: bool = false;

    #[inline(always)]
    unsafe fn mac(acc: int32x4_t, t: int8x16_t, q: int8x16_t) -> int32x4_t {
        // SAFETY: this function's own preconditions (its `# Safety` section, the CPU features of its module) are exactly what these operations require.
        unsafe {
            let p = vmull_s8(vget_low_s8(t), vget_low_s8(q));
            let p = vmlal_high_s8(p, t, q);
            vpadalq_s16(acc, p)
        }
    }
}
