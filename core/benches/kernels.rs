//! Micro-benchmarks of every kernel table this CPU runs, on 2B4T shapes: activation
//! quantisation (2560 values), the ternary FFN matrix (2560 → 6912) as a GEMV and as a GEMM of
//! 8 tokens in each ternary format, the prefill-sized GEMM tiles (I2_S, 1 to 64 tokens, SIMD
//! tables only), and the output head (2560 → 32768 rows) in F16 and in Q8_0 (with the
//! activations' Q8_0 quantisation). Matrix throughputs are in weight bytes read per call (the
//! GEMM streams the matrix once per token), the tile benchmarks' in tokens per second.
//! `ternary_gemv_dram` cycles one GEMV over 16 copies of the FFN matrix (≈ 70 MB, more than
//! the last-level cache) so that the weights come from memory, as in decode; the other matrix
//! benchmarks reread one matrix that the cache holds after the first call. `attention` runs
//! one 2B4T GQA group (4 query heads of 128 over 640 or 4096 cached positions, F16 and Q8_0)
//! from the cache (`cached`) and cycling over the 150 groups of 30 layers × 5 kv heads (≈ 49
//! MB of F16 keys and values at 640 positions, 315 MB at 4096, as a 4096-token decode reads,
//! `from_memory`), in KV bytes read per call.
//!
//! `cargo bench -p bitnet-core --bench kernels -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` defines a public entry point it cannot document; a bench has no API.
#![allow(missing_docs)]

use std::hint::black_box;

use bitnet_core::kernels::{AttentionScratch, Kernels, KvRows, Q8Acts, QuantActs, TILE_TOKENS};
use bitnet_core::model::Q8Row;
use bitnet_core::quant::{encode_ternary_tensor, quantize_tensor, TensorType, WeightView};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Model width (2B4T `n_embd`), the columns of every benchmarked matrix.
const COLS: usize = 2560;
/// FFN width (2B4T `n_ff`), the rows of the ternary matrix.
const FFN_ROWS: usize = 6912;
/// Rows of the output head benchmarked (a quarter of the 128256-token vocabulary).
const HEAD_ROWS: usize = 32768;
/// Tokens in the GEMM benchmark.
const BATCH: usize = 8;

fn random_acts(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-4.0f32..4.0)).collect()
}

fn quantized(k: &Kernels, x: &[f32]) -> QuantActs {
    let mut a = QuantActs::default();
    k.quantize_acts(x, &mut a);
    a
}

fn quantize_acts(c: &mut Criterion) {
    let x = random_acts(&mut ChaCha8Rng::seed_from_u64(1), COLS);
    let mut group = c.benchmark_group("quantize_acts_2560");
    for k in Kernels::available() {
        let mut out = QuantActs::default();
        group.bench_function(k.name(), |b| {
            b.iter(|| k.quantize_acts(black_box(&x), &mut out))
        });
    }
    group.finish();
}

fn ternary(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let t: Vec<i8> = (0..COLS * FFN_ROWS)
        .map(|_| rng.random_range(-1..=1))
        .collect();
    let tokens: Vec<Vec<f32>> = (0..BATCH).map(|_| random_acts(&mut rng, COLS)).collect();
    for ty in [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0] {
        let bytes = encode_ternary_tensor(ty, &t, COLS, 0.5).expect("encodes");
        // One scale for the whole matrix: the whole-row int32 path, as the model uses.
        let mut w = WeightView::new(ty, COLS, FFN_ROWS, &bytes, 1.0).expect("valid");
        if let Some(d) = w.uniform_block_scale() {
            w = w.with_uniform_block_scale(d);
        }
        let weight_bytes = w.data().len() as u64;
        let mut gemv = c.benchmark_group(format!("ternary_gemv_2560x6912/{ty}"));
        gemv.throughput(Throughput::Bytes(weight_bytes));
        for k in Kernels::available() {
            let acts = quantized(k, &tokens[0]);
            let mut out = vec![0f32; FFN_ROWS];
            gemv.bench_function(k.name(), |b| {
                b.iter(|| k.ternary_gemv(&w, black_box(&acts), 0..FFN_ROWS, &mut out))
            });
        }
        gemv.finish();
        let mut gemm = c.benchmark_group(format!("ternary_gemm_2560x6912x8/{ty}"));
        gemm.throughput(Throughput::Bytes(weight_bytes * BATCH as u64));
        for k in Kernels::available() {
            let acts: Vec<QuantActs> = tokens.iter().map(|x| quantized(k, x)).collect();
            let mut out = vec![0f32; FFN_ROWS * BATCH];
            gemm.bench_function(k.name(), |b| {
                b.iter(|| k.ternary_gemm(&w, black_box(&acts), 0..FFN_ROWS, &mut out))
            });
        }
        gemm.finish();
    }
}

/// Copies of the FFN matrix `ternary_gemv_dram` cycles through: together larger than a
/// phone's or a server's last-level cache.
const DRAM_COPIES: usize = 16;

fn ternary_dram(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let t: Vec<i8> = (0..COLS * FFN_ROWS)
        .map(|_| rng.random_range(-1..=1))
        .collect();
    let x = random_acts(&mut rng, COLS);
    for ty in [TensorType::I2S, TensorType::TQ2_0, TensorType::TQ1_0] {
        let bytes = encode_ternary_tensor(ty, &t, COLS, 0.5).expect("encodes");
        let copies: Vec<Vec<u8>> = (0..DRAM_COPIES).map(|_| bytes.clone()).collect();
        let views: Vec<WeightView> = copies
            .iter()
            .map(|b| {
                let w = WeightView::new(ty, COLS, FFN_ROWS, b, 1.0).expect("valid");
                match w.uniform_block_scale() {
                    Some(d) => w.with_uniform_block_scale(d),
                    None => w,
                }
            })
            .collect();
        let mut group = c.benchmark_group(format!("ternary_gemv_dram_2560x6912/{ty}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        for k in Kernels::available() {
            let acts = quantized(k, &x);
            let mut out = vec![0f32; FFN_ROWS];
            let mut next = 0;
            group.bench_function(k.name(), |b| {
                b.iter(|| {
                    next = (next + 1) % DRAM_COPIES;
                    k.ternary_gemv(&views[next], black_box(&acts), 0..FFN_ROWS, &mut out)
                })
            });
        }
        group.finish();
    }
}

/// Token counts of the prefill tile benchmarks: one token (the GEMV tile), one full tile of
/// tokens, a ragged count and a prefill chunk.
const TILE_BATCHES: [usize; 4] = [1, TILE_TOKENS, 7, 64];

fn gemm_tiles(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let t: Vec<i8> = (0..COLS * FFN_ROWS)
        .map(|_| rng.random_range(-1..=1))
        .collect();
    let bytes = encode_ternary_tensor(TensorType::I2S, &t, COLS, 0.5).expect("encodes");
    let w = WeightView::new(TensorType::I2S, COLS, FFN_ROWS, &bytes, 1.0).expect("valid");
    let tokens: Vec<Vec<f32>> = (0..64).map(|_| random_acts(&mut rng, COLS)).collect();
    let mut group = c.benchmark_group("ternary_gemm_tiles_2560x6912/I2_S");
    group.sample_size(10);
    for k in Kernels::available().into_iter().skip(1) {
        for n in TILE_BATCHES {
            let acts: Vec<QuantActs> = tokens[..n].iter().map(|x| quantized(k, x)).collect();
            let mut out = vec![0f32; FFN_ROWS * n];
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(BenchmarkId::new(k.name(), n), |b| {
                b.iter(|| k.ternary_gemm(&w, black_box(&acts), 0..FFN_ROWS, &mut out))
            });
        }
    }
    group.finish();
}

fn f16_head(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut bytes = vec![0u8; COLS * HEAD_ROWS * 2];
    rng.fill(&mut bytes[..]);
    for high in bytes.iter_mut().skip(1).step_by(2) {
        *high &= 0xBF; // clear the top exponent bit: every weight finite, |w| < 2
    }
    let w = WeightView::new(TensorType::F16, COLS, HEAD_ROWS, &bytes, 1.0).expect("valid");
    let x = random_acts(&mut rng, COLS);
    let mut group = c.benchmark_group("f16_head_gemv_2560x32768");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(10);
    for k in Kernels::available() {
        let mut out = vec![0f32; HEAD_ROWS];
        group.bench_with_input(BenchmarkId::from_parameter(k.name()), &x, |b, x| {
            b.iter(|| k.float_gemv(&w, black_box(x), 0..HEAD_ROWS, &mut out))
        });
    }
    group.finish();
}

/// The int8 heads (Q8_0, Q6_K, Q4_K) on a quarter of the 2B4T head, the activations' quantisation
/// included.
fn int8_head(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let weights: Vec<f32> = (0..COLS * HEAD_ROWS)
        .map(|_| rng.random_range(-0.1f32..0.1))
        .collect();
    let x = random_acts(&mut rng, COLS);
    for (ty, name) in [
        (TensorType::Q8_0, "q8_0"),
        (TensorType::Q6K, "q6_k"),
        (TensorType::Q4K, "q4_k"),
    ] {
        let bytes = quantize_tensor(ty, &weights, COLS).expect("encodes");
        let w = WeightView::new(ty, COLS, HEAD_ROWS, &bytes, 1.0).expect("valid");
        let mut group = c.benchmark_group(format!("{name}_head_gemv_2560x32768"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.sample_size(10);
        for k in Kernels::available() {
            let mut out = vec![0f32; HEAD_ROWS];
            let mut acts = Q8Acts::default();
            group.bench_with_input(BenchmarkId::from_parameter(k.name()), &x, |b, x| {
                b.iter(|| {
                    acts.quantize_for(ty, black_box(x)).expect("whole blocks");
                    k.int8_gemm(&w, std::slice::from_ref(&acts), 0..HEAD_ROWS, &mut out)
                })
            });
        }
        group.finish();
    }
}

fn attention(c: &mut Criterion) {
    for positions in [640, 4096] {
        attention_at(c, positions);
    }
}

/// The `attention` benchmarks over caches of `positions` positions.
fn attention_at(c: &mut Criterion, positions: usize) {
    const HEAD_DIM: usize = 128;
    const HEADS: usize = 4;
    const GROUPS: usize = 30 * 5;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let kv_bytes = 2 * positions * HEAD_DIM;
    // Each group's keys then values, as f16 in [-1, 1) (high byte's exponent bits limited).
    let mut cache = vec![0u8; GROUPS * 2 * kv_bytes];
    rng.fill(&mut cache[..]);
    for high in cache.iter_mut().skip(1).step_by(2) {
        *high &= 0xBB;
    }
    let q = random_acts(&mut rng, HEADS * HEAD_DIM);
    let scale = 1.0 / (HEAD_DIM as f32).sqrt();
    let mut group = c.benchmark_group(format!("attention_4x128_{positions}"));
    group.throughput(Throughput::Bytes(2 * kv_bytes as u64));
    for k in Kernels::available() {
        let (mut scratch, mut out) = (AttentionScratch::default(), vec![0f32; HEADS * HEAD_DIM]);
        let mut attend = |g: usize| {
            let kv = &cache[g * 2 * kv_bytes..(g + 1) * 2 * kv_bytes];
            let (keys, values) = kv.split_at(kv_bytes);
            k.attend(
                HEAD_DIM,
                black_box(&q),
                KvRows::F16(keys),
                KvRows::F16(values),
                positions,
                scale,
                &mut scratch,
                &mut out,
            )
        };
        group.bench_function(BenchmarkId::new("cached", k.name()), |b| {
            b.iter(|| attend(0))
        });
        let mut g = 0;
        group.bench_function(BenchmarkId::new("from_memory", k.name()), |b| {
            b.iter(|| {
                g = (g + 1) % GROUPS;
                attend(g)
            })
        });
    }
    group.finish();
    drop(cache);

    // The same groups with a Q8_0 cache (34 bytes per 32 values) of random values in [-1, 1).
    let row = Q8Row::bytes(HEAD_DIM);
    let q8_bytes = positions * row;
    let mut q8_cache = vec![0u8; GROUPS * 2 * q8_bytes];
    for (i, block) in q8_cache.chunks_exact_mut(34).enumerate() {
        rng.fill(&mut block[2..]);
        let d = half::f16::from_f32(1.0 / 127.0 * (1.0 + (i % 7) as f32 / 7.0));
        block[..2].copy_from_slice(&d.to_le_bytes());
    }
    let mut group = c.benchmark_group(format!("attention_q8_0_4x128_{positions}"));
    group.throughput(Throughput::Bytes(2 * q8_bytes as u64));
    for k in Kernels::available() {
        let (mut scratch, mut out) = (AttentionScratch::default(), vec![0f32; HEADS * HEAD_DIM]);
        let mut attend = |g: usize| {
            let kv = &q8_cache[g * 2 * q8_bytes..(g + 1) * 2 * q8_bytes];
            let (keys, values) = kv.split_at(q8_bytes);
            k.attend(
                HEAD_DIM,
                black_box(&q),
                KvRows::Q8_0(keys),
                KvRows::Q8_0(values),
                positions,
                scale,
                &mut scratch,
                &mut out,
            )
        };
        group.bench_function(BenchmarkId::new("cached", k.name()), |b| {
            b.iter(|| attend(0))
        });
        let mut g = 0;
        group.bench_function(BenchmarkId::new("from_memory", k.name()), |b| {
            b.iter(|| {
                g = (g + 1) % GROUPS;
                attend(g)
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    quantize_acts,
    ternary,
    ternary_dram,
    gemm_tiles,
    f16_head,
    int8_head,
    attention
);
criterion_main!(benches);
