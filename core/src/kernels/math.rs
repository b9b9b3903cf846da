//! Elementwise float functions the forward pass shares on every table: an `exp` and f64
//! sums written so that the compiler vectorises the loops that call them.
//!
//! Each is plain Rust arithmetic — separate IEEE multiplies and adds, no fused operations, no
//! library calls, a fixed association — so a loop over them gives the same bits whether it
//! is vectorised or not, on x86_64 and on aarch64: the tables stay equal bit for bit.

/// Lanes of [`sum_f64`]'s partial sums.
pub(crate) const SUM_LANES: usize = 8;

/// `e^x` in f32, within 2 ulp of the exact value over the normal range (the test checks every
/// 97th float of `[-87.3, 88.7]` against f64).
///
/// Cody–Waite reduction `x = n · ln 2 + r` with `|r| ≤ ln 2 / 2`, Cephes' degree-7 minimax
/// polynomial for `e^r` (Cephes `expf`'s coefficients, rounded to f32), and `2^n` applied as
/// two exact power-of-two factors so that results overflow to `+inf` above ≈ 88.72 and
/// underflow gradually to subnormals and `+0` below ≈ −87.34, as IEEE `exp` does. NaN gives
/// NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n · LN2_HI` is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2^23 to a float of magnitude < 2^22 rounds it to an integer (ties to even)
    // held in the low mantissa bits: no rounding instruction (SSE2 has none) and no
    // float-to-int conversion (Rust's saturating one does not vectorise).
    const ROUND: f32 = 12_582_912.0;
    // Beyond these every result is `+inf` / `+0` already; the clamp keeps `n` small.
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = (p * (r * r) + r) + 1.0;
    // `2^n = 2^a · 2^b` with `a, b ∈ [−75, 65]`: both factors are normal floats.
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let (a, b) = (n >> 1, n - (n >> 1));
    y * pow2(a) * pow2(b)
}

/// `2^k` for `k ∈ [−126, 127]`, from its exponent bits.
#[inline(always)]
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// `Σ f(v)` over `values` in f64: [`SUM_LANES`] partial sums, element `i` into lane `i %
/// SUM_LANES`, then the lanes added pairwise in a fixed tree. A vector loop rather than a
/// chain of dependent adds; the order is the same on every machine.
#[inline(always)]
pub(crate) fn sum_f64(values: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut lanes = [0f64; SUM_LANES];
    let chunks = values.chunks_exact(SUM_LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    for (lane, &v) in lanes.iter_mut().zip(tail) {
        *lane += f(v);
    }
    fold_lanes(lanes)
}

/// The total of [`sum_f64`]'s partial sums: the lanes added pairwise in a fixed tree.
#[inline(always)]
pub(crate) fn fold_lanes(lanes: [f64; SUM_LANES]) -> f64 {
    let [a, b, c, d, e, f, g, h] = lanes;
    ((a + b) + (c + d)) + ((e + f) + (g + h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite floats of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp_over_the_normal_range() {
        // Positive floats up to 88.7, then negative ones down to −87.3 (their bit patterns
        // grow with magnitude from the sign bit).
        let positive = (0..88.7f32.to_bits()).step_by(97);
        let negative = ((-0.0f32).to_bits()..(-87.3f32).to_bits()).step_by(97);
        let mut worst = 0;
        for x in positive.chain(negative).map(f32::from_bits) {
            worst = worst.max(ulps(exp(x), f64::from(x).exp() as f32));
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn exp_edges_follow_ieee() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-104.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
        // Gradual underflow: e^-100 ≈ 3.7e-44 is a subnormal, not zero.
        let sub = exp(-100.0);
        assert!(sub > 0.0 && sub < f32::MIN_POSITIVE);
        assert!(ulps(sub, (-100f64).exp() as f32) <= 1);
        assert!(ulps(exp(88.5), 88.5f64.exp() as f32) <= 2);
    }

    #[test]
    fn sum_f64_adds_lanes_in_a_fixed_tree() {
        let v: Vec<f32> = (1..=19).map(|i| i as f32).collect();
        assert_eq!(sum_f64(&v, f64::from), 190.0);
        assert_eq!(sum_f64(&[], f64::from), 0.0);
        let sq = |v: f32| f64::from(v) * f64::from(v);
        assert_eq!(sum_f64(&[3.0, 4.0], sq), 25.0);
    }
}
