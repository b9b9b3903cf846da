//! Driver tests against the scalar table, and the helpers the ISA files' tests share.

use super::*;
use crate::quant::encode_ternary_tensor;
use crate::quant::{self, TensorType, WeightView};
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
fn f16_dots_match_scalar_bit_for_bit() {
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
            for k in Kernels::available() {
                let mut dots = vec![f32::NAN; r * q];
                (k.dot_f16)(&a16, &b, m, &mut dots);
                assert_eq!(bits(&dots), bits(&expected), "{} dots {m}: {r}×{q}", k.name);
            }
        }
    }
}

/// Head `h`'s weights out of position-major weights for `heads` heads.
fn head_weights(w: &[f32], heads: usize, h: usize) -> Vec<f32> {
    w.chunks_exact(heads).map(|w| w[h]).collect()
}

#[test]
fn f16_weighted_sums_of_every_table_equal_scalar_and_each_head_alone() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let specials = [0.0, -0.0, f32::INFINITY, f32::NAN, 65504.0];
    let widths = [1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128, 129];
    for (i, m) in widths.into_iter().enumerate() {
        // 1 to 9 heads: whole and partial groups of 4.
        for heads in 1..=9 {
            let n = [0, 1, 2, 7, 33, 130][(i + heads) % 6];
            let mut x = random_acts(&mut rng, n * m);
            let mut w = random_acts(&mut rng, n * heads);
            if n > 0 {
                x[(heads * 7) % (n * m)] = specials[heads % specials.len()];
                w[n * heads - 1] = -specials[(heads + 1) % specials.len()];
            }
            let x16: Vec<u8> = x
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect();
            let mut expected = vec![f32::NAN; heads * m];
            (Kernels::scalar().weighted_sum_f16)(&x16, &w, heads, &mut expected);
            let what = format!("{m} wide, {heads} heads, {n} rows");
            for (h, expected) in expected.chunks_exact(m).enumerate() {
                let mut alone = vec![f32::NAN; m];
                let w = head_weights(&w, heads, h);
                (Kernels::scalar().weighted_sum_f16)(&x16, &w, 1, &mut alone);
                assert_eq!(bits(&alone), bits(expected), "head {h} alone, {what}");
            }
            for k in Kernels::available() {
                let mut sum = vec![f32::NAN; heads * m];
                (k.weighted_sum_f16)(&x16, &w, heads, &mut sum);
                assert_eq!(bits(&sum), bits(&expected), "{} {what}", k.name);
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

/// `rows` random Q8_0 rows of `blocks` blocks: any int8 values (−128 included), finite f16
/// scales (subnormals included) and a few zero scales.
fn random_q8_rows(rng: &mut ChaCha8Rng, rows: usize, blocks: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..rows * blocks * 34).map(|_| rng.random()).collect();
    for block in bytes.chunks_exact_mut(34) {
        let d = match rng.random_range(0..8) {
            0 => 0,
            _ => rng.random::<u16>() & !0x7C00 | (rng.random_range(0..31u16) << 10),
        };
        block[..2].copy_from_slice(&d.to_le_bytes());
    }
    bytes
}

#[test]
fn q8_0_key_dots_of_every_table_equal_scalar_and_the_q8_0_dot() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let s = Kernels::scalar();
    // Blocks around the 8-lane fold, key counts around the SIMD groups (4 and 8 keys).
    for blocks in [1, 2, 3, 4, 8, 9] {
        for n in [0, 1, 3, 4, 5, 8, 9, 17, 40] {
            for heads in 1..=5 {
                let keys = random_q8_rows(&mut rng, n, blocks);
                let mut x = random_acts(&mut rng, heads * 32 * blocks);
                x[0] = 1e4; // a block dominated by one value: q = ±127
                let last = x.len() - 32;
                x[last..].fill(0.0); // an all-zero block: d = 0
                let mut q = Q8Acts::default();
                q.quantize(&x).expect("whole blocks");
                let mut expected = vec![f32::NAN; n * heads];
                (s.dot_q8_0_keys)(&keys, &q, blocks, &mut expected);
                // Each entry is the canonical Q8_0 dot of one key and one head.
                for (j, key) in keys.chunks_exact(34 * blocks).enumerate() {
                    for h in 0..heads {
                        let head = Q8Acts {
                            q: q.q[32 * blocks * h..][..32 * blocks].to_vec(),
                            d: q.d[blocks * h..][..blocks].to_vec(),
                            sums: Vec::new(),
                        };
                        let dot = (s.dot_q8_0)(key, &head);
                        assert_eq!(expected[j * heads + h].to_bits(), dot.to_bits());
                    }
                }
                for k in Kernels::available() {
                    let mut got = vec![f32::NAN; n * heads];
                    (k.dot_q8_0_keys)(&keys, &q, blocks, &mut got);
                    assert_eq!(
                        bits(&got),
                        bits(&expected),
                        "{} {blocks} blocks, {n} keys, {heads} heads",
                        k.name
                    );
                }
            }
        }
    }
}

#[test]
fn q8_0_weighted_sums_of_every_table_equal_scalar_and_the_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(32);
    let s = Kernels::scalar();
    for blocks in [1, 2, 3, 4, 5] {
        for n in [0, 1, 2, 7, 33, 200] {
            for heads in [1, 2, 3, 4, 5, 8] {
                let x = random_q8_rows(&mut rng, n, blocks);
                let mut w: Vec<f32> = (0..n * heads)
                    .map(|_| rng.random_range(0.0f32..1.0))
                    .collect();
                if n > 1 {
                    w[1] = 0.0;
                    w[n * heads - 1] = -1e-30;
                }
                let m = 32 * blocks;
                let mut expected = vec![f32::NAN; heads * m];
                (s.weighted_sum_q8_0)(&x, &w, heads, &mut expected);
                let mut definition = vec![0f32; heads * m];
                for (w, row) in w.chunks_exact(heads).zip(x.chunks_exact(34 * blocks)) {
                    for (&w, out) in w.iter().zip(definition.chunks_exact_mut(m)) {
                        for (i, y) in out.iter_mut().enumerate() {
                            let block = &row[34 * (i / 32)..][..34];
                            let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
                            *y = (w * d).mul_add(f32::from(block[2 + i % 32] as i8), *y);
                        }
                    }
                }
                let what = format!("{blocks} blocks × {n}, {heads} heads");
                assert_eq!(bits(&expected), bits(&definition), "{what}");
                for k in Kernels::available() {
                    let mut got = vec![f32::NAN; heads * m];
                    (k.weighted_sum_q8_0)(&x, &w, heads, &mut got);
                    assert_eq!(bits(&got), bits(&expected), "{} {what}", k.name);
                }
            }
        }
    }
}
