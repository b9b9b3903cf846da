//! The BitNet forward pass (spec §4) over a batch of tokens from one or more sequences, each
//! continuing its own KV cache.
//!
//! Every step is per token except attention, which reads only the token's own sequence's KV
//! cache, so a token's result does not depend on how the tokens were batched: prefilling a
//! prompt in one batch or token by token gives bit-identical logits (the kernel table
//! guarantees GEMM == GEMV), and so does decoding several sessions' tokens in one pass over
//! the weights (continuous batching) or each alone.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

use super::weights::Matrix;
use super::{FfnActivation, KvCache, Model, ModelConfig, ModelError};
use crate::kernels::{math, AttentionScratch, KernelError, Q8Acts, QuantActs};
use crate::quant::{BlockFormat, BlockQ8_0, WeightView};
use crate::runtime::Executor;

/// Which positions of a batch get logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsFor {
    /// Only the last token of the batch (generation).
    Last,
    /// Every token of the batch (reference comparisons).
    All,
}

/// One sequence of a multi-sequence forward pass ([`Model::forward_sequences`]): tokens that
/// continue `kv` at positions `kv.len()..`, and which of them get logits.
#[derive(Debug)]
pub struct Sequence<'a> {
    /// The tokens, in order (none: the sequence takes no part and gets no logits).
    pub tokens: &'a [u32],
    /// The sequence's own KV cache; the tokens' keys and values are appended to it.
    pub kv: &'a mut KvCache,
    /// Which of the tokens get logits.
    pub logits: LogitsFor,
}

impl Sequence<'_> {
    /// How many of its tokens get logits.
    pub fn logit_rows(&self) -> usize {
        match (self.logits, self.tokens.len()) {
            (_, 0) => 0,
            (LogitsFor::Last, _) => 1,
            (LogitsFor::All, n) => n,
        }
    }
}

/// Where one token of a multi-sequence batch belongs.
#[derive(Clone, Copy, Debug)]
struct Row {
    /// Index of its sequence.
    seq: usize,
    /// Its position in that sequence's cache.
    pos: usize,
}

/// The sizes of one forward pass's buffers: a batch of up to `tokens` tokens with logits for
/// up to `logit_rows` of them. [`Scratch::new`] allocates exactly these and the memory
/// estimate counts [`bytes`](Self::bytes), so the two cannot drift apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScratchLayout {
    /// Most tokens one forward call evaluates.
    pub tokens: usize,
    /// Most positions of one call that get logits.
    pub logit_rows: usize,
    embd: usize,
    kv_dim: usize,
    ff: usize,
    vocab: usize,
    rope_pairs: usize,
    /// Whether the output head multiplies Q8_0 activations (which then need their buffers).
    q8_head: bool,
}

impl ScratchLayout {
    /// The buffers of `config`'s forward pass over up to `tokens` tokens, `logit_rows` of them
    /// with logits, the head multiplied in Q8_0 when `q8_head`.
    pub fn new(config: &ModelConfig, tokens: usize, logit_rows: usize, q8_head: bool) -> Self {
        ScratchLayout {
            tokens,
            logit_rows: logit_rows.min(tokens),
            embd: config.n_embd,
            kv_dim: config.kv_dim(),
            ff: config.n_ff,
            vocab: config.vocab_size,
            rope_pairs: config.rope_dims / 2,
            q8_head,
        }
    }

    /// The widest input a ternary matmul quantises (int8 activations per token).
    fn widest_input(&self) -> usize {
        self.embd.max(self.ff)
    }

    /// Floats of the matmul workers' token-major output blocks: a batch's widest matrix, or
    /// the head when several positions get logits.
    fn block_floats(&self) -> usize {
        let layers = if self.tokens > 1 {
            self.tokens * self.embd.max(self.ff)
        } else {
            0
        };
        let head = if self.logit_rows > 1 {
            self.logit_rows * self.vocab
        } else {
            0
        };
        layers.max(head)
    }

    /// Bytes of all the buffers: hidden states (x, xn, q, attn, proj; k, v; gate, up), the
    /// workers' blocks, logits, int8 activations, the Q8_0 head's activations and the
    /// rotary angles.
    pub fn bytes(&self) -> u64 {
        let (n, rows) = (self.tokens, self.logit_rows);
        let f32s = n * (5 * self.embd + 2 * self.kv_dim + 2 * self.ff)
            + self.block_floats()
            + rows * self.vocab;
        let int8s = n * self.widest_input();
        let q8_head = if self.q8_head {
            // q, the Q8_0 block scales (more than Q8_K's), the Q8_K 16-value sums.
            rows * (self.embd + 4 * (self.embd / BlockQ8_0::LEN) + 2 * (self.embd / 16))
        } else {
            0
        };
        let rotations = n * self.rope_pairs * 2 * 4;
        (4 * f32s + int8s + q8_head + rotations) as u64
    }
}

/// Buffers for forward passes, allocated up front from a [`ScratchLayout`]; a batch larger
/// than the layout's grows them (sessions never send one).
///
/// Besides the layout's buffers it keeps attention's ([`AttentionScratch`]), one per range of
/// (token, head) pairs attended at once (at most one per pool thread), made on the first pass
/// and reserved for the longest cache a pass attends: `4 · min(n_head / n_head_kv, 8)` bytes
/// per position of that cache for each range, plus a few copies of the group's queries (see
/// [`AttentionScratch::reserve`]). Sized by the caches rather than the batch, they are not
/// part of [`ScratchLayout::bytes`]; reserved once, they leave decoding nothing to allocate
/// in attention.
#[derive(Debug, Default)]
pub struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    proj: Vec<f32>,
    /// The matmul workers' token-major output blocks, for batches.
    blocks: Vec<f32>,
    /// `vocab_size` logits per selected position, token-major.
    logits: Vec<f32>,
    acts: Vec<QuantActs>,
    /// Each selected position's final hidden state in Q8_0 blocks, for a Q8_0 head.
    head_acts: Vec<Q8Acts>,
    /// `(cos, sin)` of each token's rotary angles.
    rotations: Vec<(f32, f32)>,
    /// Attention's buffers, entry `i` for the `i`-th range of a pass's (token, head) pairs.
    /// The ranges run on the pool's threads, hence a lock each; as no two ranges share an
    /// entry, none is ever waited for.
    attention: Vec<Mutex<AttentionScratch>>,
    /// Threads that ran matmul work since the last [`Scratch::take_kernel_threads`].
    kernel_threads: ThreadUse,
}

impl Scratch {
    /// Every buffer of `layout`, allocated now.
    pub fn new(layout: &ScratchLayout) -> Self {
        let n = layout.tokens;
        let floats = |len: usize| Vec::with_capacity(len);
        let q8 = |_| Q8Acts {
            q: Vec::with_capacity(layout.embd),
            d: Vec::with_capacity(layout.embd / BlockQ8_0::LEN),
            sums: Vec::with_capacity(layout.embd / 16),
        };
        Scratch {
            x: floats(n * layout.embd),
            xn: floats(n * layout.embd),
            q: floats(n * layout.embd),
            k: floats(n * layout.kv_dim),
            v: floats(n * layout.kv_dim),
            attn: floats(n * layout.embd),
            gate: floats(n * layout.ff),
            up: floats(n * layout.ff),
            proj: floats(n * layout.embd),
            blocks: floats(layout.block_floats()),
            logits: floats(layout.logit_rows * layout.vocab),
            acts: (0..n)
                .map(|_| QuantActs {
                    q: Vec::with_capacity(layout.widest_input()),
                    ..QuantActs::default()
                })
                .collect(),
            head_acts: match layout.q8_head {
                true => (0..layout.logit_rows).map(q8).collect(),
                false => Vec::new(),
            },
            rotations: Vec::with_capacity(n * layout.rope_pairs),
            attention: Vec::new(),
            kernel_threads: ThreadUse::default(),
        }
    }

    /// Bytes the layout's buffers hold now (their capacity): [`ScratchLayout::bytes`] for a
    /// scratch made by [`Scratch::new`], whatever passes within the layout it has run.
    /// Attention's buffers, sized by the caches attended (see [`Scratch`]), are not counted.
    pub fn allocated_bytes(&self) -> u64 {
        let f32s = [
            &self.x,
            &self.xn,
            &self.q,
            &self.k,
            &self.v,
            &self.attn,
            &self.gate,
            &self.up,
            &self.proj,
            &self.blocks,
            &self.logits,
        ];
        let floats: usize = f32s.iter().map(|v| v.capacity()).sum();
        let int8s: usize = self.acts.iter().map(|a| a.q.capacity()).sum();
        let head: usize = self
            .head_acts
            .iter()
            .map(|a| a.q.capacity() + 4 * a.d.capacity() + 2 * a.sums.capacity())
            .sum();
        (4 * floats + int8s + head + 8 * self.rotations.capacity()) as u64
    }

    /// The logits of the last forward pass: `vocab_size` floats per selected position.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// How many distinct threads ran matmul work since the last call, and resets the count.
    /// Passes shared with other sequences (decode batching) count the threads of the one that
    /// used the most.
    pub fn take_kernel_threads(&mut self) -> usize {
        let set = self.kernel_threads.seen.get_mut().map(std::mem::take);
        let shared = std::mem::take(&mut self.kernel_threads.shared);
        set.map_or(0, |s| s.len()).max(shared)
    }

    /// The most threads that ran one matmul's work at the same moment since the last call
    /// (at most the pool's active threads then), and resets the figure.
    pub fn take_peak_kernel_threads(&mut self) -> usize {
        std::mem::take(self.kernel_threads.peak.get_mut())
    }

    /// Moves the logits buffer out, leaving an empty one: a pass shared with other sequences
    /// fills it elsewhere and hands it back through [`put_logits`](Self::put_logits).
    pub(crate) fn take_logits(&mut self) -> Vec<f32> {
        std::mem::take(&mut self.logits)
    }

    /// Puts back a logits buffer (see [`take_logits`](Self::take_logits)).
    pub(crate) fn put_logits(&mut self, logits: Vec<f32>) {
        self.logits = logits;
    }

    /// Records a pass shared with other sequences that ran on `threads` distinct threads, at
    /// most `peak` at once, as if it had run on this scratch.
    pub(crate) fn record_shared_pass(&mut self, threads: usize, peak: usize) {
        let used = &mut self.kernel_threads;
        used.shared = used.shared.max(threads);
        let most = used.peak.get_mut();
        *most = (*most).max(peak);
    }
}

/// Which threads run matmul work, and how many at once.
#[derive(Debug, Default)]
struct ThreadUse {
    /// Distinct threads seen.
    seen: Mutex<HashSet<ThreadId>>,
    /// Ranges running now.
    running: AtomicUsize,
    /// Most ranges seen running at once.
    peak: AtomicUsize,
    /// Most distinct threads of one pass shared with other sequences.
    shared: usize,
}

impl ThreadUse {
    /// Records the calling thread starting a range; the range ends when the guard drops.
    fn enter(&self) -> RangeGuard<'_> {
        if let Ok(mut set) = self.seen.lock() {
            set.insert(std::thread::current().id());
        }
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        RangeGuard(&self.running)
    }
}

/// Ends one running range of a [`ThreadUse`] when dropped.
struct RangeGuard<'a>(&'a AtomicUsize);

impl Drop for RangeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a matmul borrows from the scratch: the workers' output blocks and the thread meter.
struct Matmul<'s> {
    blocks: &'s mut Vec<f32>,
    meter: &'s ThreadUse,
}

/// Rows a matmul's row ranges are a multiple of (keeps SIMD row blocks whole).
const ROW_BLOCK: usize = 16;
/// Below this many multiply-adds (rows × cols × tokens) a matmul stays in one range: splitting
/// would cost more than it saves.
const MIN_SPLIT_WORK: usize = 1 << 18;

impl Model {
    /// Evaluates `tokens` at positions `kv.len()..kv.len() + tokens.len()` on `exec`'s threads
    /// and kernels, appends their keys and values to `kv`, and leaves the logits in
    /// [`Scratch::logits`] (`vocab_size` floats per token that `which` selects, token-major).
    /// No tokens: the logits are emptied and `kv` left as it is.
    ///
    /// The mapped files (the model, a cached head) are checked before and after
    /// ([`GgufFile::check_unchanged`]): a file changed on disk fails the pass, even when the
    /// change happened during it, so logits computed from missing pages are never used.
    ///
    /// [`GgufFile::check_unchanged`]: crate::gguf::GgufFile::check_unchanged
    pub fn forward(
        &self,
        exec: &Executor,
        tokens: &[u32],
        kv: &mut KvCache,
        scratch: &mut Scratch,
        which: LogitsFor,
    ) -> Result<(), ModelError> {
        let mut seqs = [Sequence {
            tokens,
            kv,
            logits: which,
        }];
        self.forward_sequences(exec, &mut seqs, scratch)
    }

    /// [`forward`](Self::forward) for several sequences in one pass over the weights: every
    /// matmul runs over all their tokens at once, each token is attended against its own
    /// sequence's cache at its own position, and each sequence's keys and values go to its own
    /// cache. The logits are those of the selected tokens, sequence by sequence (in `seqs`'
    /// order), token-major: bit for bit what [`forward`](Self::forward) gives each sequence
    /// alone.
    ///
    /// Every sequence is checked (context room, token ids) before anything is evaluated; on an
    /// error no cache's length has changed, except when the output head itself fails (a broken
    /// kernel contract), after the caches took the tokens.
    pub fn forward_sequences(
        &self,
        exec: &Executor,
        seqs: &mut [Sequence<'_>],
        scratch: &mut Scratch,
    ) -> Result<(), ModelError> {
        self.check_files()?;
        let result = self.evaluate(exec, seqs, scratch);
        self.check_files()?;
        result
    }

    /// `Ok` while every mapped file the model reads is as it was mapped.
    fn check_files(&self) -> Result<(), ModelError> {
        self.file().check_unchanged()?;
        Ok(self.head.check_unchanged()?)
    }

    /// [`forward_sequences`](Self::forward_sequences) without the file checks.
    fn evaluate(
        &self,
        exec: &Executor,
        seqs: &mut [Sequence<'_>],
        scratch: &mut Scratch,
    ) -> Result<(), ModelError> {
        let cfg = &self.config;
        let mut rows = Vec::new();
        for (i, seq) in seqs.iter().enumerate() {
            let (start, n) = (seq.kv.len(), seq.tokens.len());
            if start + n > seq.kv.capacity() {
                return Err(ModelError::ContextFull {
                    needed: start + n,
                    capacity: seq.kv.capacity(),
                });
            }
            if let Some(&bad) = seq.tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
                return Err(ModelError::InvalidToken {
                    token: bad,
                    vocab_size: cfg.vocab_size,
                });
            }
            rows.extend((start..start + n).map(|pos| Row { seq: i, pos }));
        }
        let n = rows.len();
        if n == 0 {
            // Nothing to evaluate (and `LogitsFor::Last` has no last token).
            scratch.logits.clear();
            return Ok(());
        }
        let (embd, kv_dim, ff) = (cfg.n_embd, cfg.kv_dim(), cfg.n_ff);
        let s = scratch;
        resize(&mut s.x, n * embd);
        resize(&mut s.xn, n * embd);
        resize(&mut s.q, n * embd);
        resize(&mut s.k, n * kv_dim);
        resize(&mut s.v, n * kv_dim);
        resize(&mut s.attn, n * embd);
        resize(&mut s.gate, n * ff);
        resize(&mut s.up, n * ff);
        resize(&mut s.proj, n * embd);
        if s.acts.len() < n {
            s.acts.resize_with(n, QuantActs::default);
        }

        // A pinned pool's CPUs also hold this thread while it takes part in the matmuls.
        let _pin = exec.pool().pin_caller();
        let bytes = self.file.bytes();
        let embd_view = self.weights.token_embd.view(bytes)?;
        let tokens = seqs.iter().flat_map(|seq| seq.tokens);
        for (t, &tok) in tokens.enumerate() {
            embd_view.dequantize_row(tok as usize, &mut s.x[t * embd..(t + 1) * embd])?;
        }

        // The rotary angles depend on the position only: once per token, for every layer.
        s.rotations.clear();
        for row in &rows {
            self.rope.rotation(row.pos, &mut s.rotations);
        }
        let pairs = s.rotations.len() / n;
        for (l, layer) in self.weights.layers.iter().enumerate() {
            // Attention block.
            rms_norm_rows(&s.x, &layer.attn_norm, cfg.rms_eps, &mut s.xn);
            self.quantize_rows(exec, l, &s.xn, embd, &mut s.acts[..n])?;
            self.linear(
                exec,
                &layer.attn_q,
                &s.xn,
                &s.acts[..n],
                &mut s.q,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            self.linear(
                exec,
                &layer.attn_k,
                &s.xn,
                &s.acts[..n],
                &mut s.k,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            self.linear(
                exec,
                &layer.attn_v,
                &s.xn,
                &s.acts[..n],
                &mut s.v,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            for (t, row) in rows.iter().enumerate() {
                let rotation = &s.rotations[t * pairs..(t + 1) * pairs];
                let q = &mut s.q[t * embd..(t + 1) * embd];
                let k = &mut s.k[t * kv_dim..(t + 1) * kv_dim];
                self.rope.apply(q, rotation);
                self.rope.apply(k, rotation);
                let v = &s.v[t * kv_dim..(t + 1) * kv_dim];
                seqs[row.seq].kv.store(l, row.pos, k, v);
            }
            self.attention(
                exec,
                l,
                seqs,
                &rows,
                &s.q[..n * embd],
                &mut s.attention,
                &mut s.attn[..n * embd],
            )?;
            rms_norm_rows_in_place(&mut s.attn, &layer.attn_sub_norm, cfg.rms_eps);
            self.quantize_rows(exec, l, &s.attn, embd, &mut s.acts[..n])?;
            self.linear(
                exec,
                &layer.attn_output,
                &s.attn,
                &s.acts[..n],
                &mut s.proj,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            add_in_place(&mut s.x, &s.proj);

            // Feed-forward block.
            rms_norm_rows(&s.x, &layer.ffn_norm, cfg.rms_eps, &mut s.xn);
            self.quantize_rows(exec, l, &s.xn, embd, &mut s.acts[..n])?;
            self.linear(
                exec,
                &layer.ffn_gate,
                &s.xn,
                &s.acts[..n],
                &mut s.gate,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            self.linear(
                exec,
                &layer.ffn_up,
                &s.xn,
                &s.acts[..n],
                &mut s.up,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            gated_activation(cfg.arch.ffn_activation(), &mut s.gate, &s.up);
            rms_norm_rows_in_place(&mut s.gate, &layer.ffn_sub_norm, cfg.rms_eps);
            self.quantize_rows(exec, l, &s.gate, ff, &mut s.acts[..n])?;
            self.linear(
                exec,
                &layer.ffn_down,
                &s.gate,
                &s.acts[..n],
                &mut s.proj,
                Matmul {
                    blocks: &mut s.blocks,
                    meter: &s.kernel_threads,
                },
            )?;
            add_in_place(&mut s.x, &s.proj);
        }
        for seq in seqs.iter_mut() {
            let len = seq.kv.len() + seq.tokens.len();
            seq.kv.set_len(len);
        }

        // Output head on the selected rows only, sequence by sequence, into `xn`'s first rows.
        let mut selected = 0;
        let mut first = 0;
        for seq in seqs.iter() {
            let count = seq.logit_rows();
            let from = first + seq.tokens.len() - count;
            rms_norm_rows(
                &s.x[from * embd..(from + count) * embd],
                &self.weights.output_norm,
                cfg.rms_eps,
                &mut s.xn[selected * embd..(selected + count) * embd],
            );
            selected += count;
            first += seq.tokens.len();
        }
        resize(&mut s.logits, selected * cfg.vocab_size);
        let x = &s.xn[..selected * embd];
        let mm = Matmul {
            blocks: &mut s.blocks,
            meter: &s.kernel_threads,
        };
        self.output_head(exec, x, &mut s.head_acts, &mut s.logits, mm)
    }

    /// `logits[t] = head · x[t]` for each `n_embd`-wide row `x[t]` of `x`: float kernels, or
    /// for an int8 head the rows quantised (into `acts`: Q8_K blocks for a Q6_K or Q4_K head,
    /// else Q8_0 blocks) and int8 dots, the best candidates then re-scored from the stored
    /// float head when it was re-quantised.
    fn output_head(
        &self,
        exec: &Executor,
        x: &[f32],
        acts: &mut Vec<Q8Acts>,
        logits: &mut [f32],
        mm: Matmul<'_>,
    ) -> Result<(), ModelError> {
        let view = self.head.view(self.file.bytes())?;
        let n = x.len() / view.cols();
        if !self.head.int8() {
            return self.matmul(exec, &view, n, logits, mm, |rows, out| {
                exec.kernels().float_gemm(&view, x, rows, out)
            });
        }
        if acts.len() < n {
            acts.resize_with(n, Q8Acts::default);
        }
        for (x, a) in x.chunks_exact(view.cols()).zip(acts.iter_mut()) {
            a.quantize_for(view.ty(), x)?;
        }
        let acts = &acts[..n];
        self.matmul(exec, &view, n, logits, mm, |rows, out| {
            exec.kernels().int8_gemm(&view, acts, rows, out)
        })?;
        let vocab = view.rows();
        for (x, logits) in x
            .chunks_exact(view.cols())
            .zip(logits.chunks_exact_mut(vocab))
        {
            self.head
                .rescore(exec.kernels(), self.file.bytes(), x, logits)?;
        }
        Ok(())
    }

    /// Quantises each `width`-wide row of `x` to int8 for the ternary matmuls of `layer` that
    /// read it. A NaN or infinite value is an error: int8 cannot hold it, and the quantiser
    /// would turn it into 0 and carry on with wrong logits.
    fn quantize_rows(
        &self,
        exec: &Executor,
        layer: usize,
        x: &[f32],
        width: usize,
        acts: &mut [QuantActs],
    ) -> Result<(), ModelError> {
        if !self.has_ternary {
            return Ok(());
        }
        for (row, a) in x.chunks_exact(width).zip(acts) {
            if !row.iter().all(|v| v.is_finite()) {
                return Err(ModelError::NonFiniteActivations { layer });
            }
            exec.kernels().quantize_acts(row, a);
        }
        Ok(())
    }

    /// `out[t] = W · input[t]` for the batch's tokens, one per entry of `acts`: int8 × ternary
    /// for ternary formats (activations already quantised in `acts`), f32 otherwise (`acts`
    /// only counts the tokens).
    fn linear(
        &self,
        exec: &Executor,
        w: &Matrix,
        input: &[f32],
        acts: &[QuantActs],
        out: &mut [f32],
        mm: Matmul<'_>,
    ) -> Result<(), ModelError> {
        let n = acts.len();
        let view = w.view(self.file.bytes())?;
        let input = &input[..n * w.cols];
        self.matmul(exec, &view, n, out, mm, |rows, out| {
            if w.ty.is_ternary() {
                exec.kernels().ternary_gemm(&view, acts, rows, out)
            } else {
                exec.kernels().float_gemm(&view, input, rows, out)
            }
        })
    }

    /// Runs `product(rows, out)` — `w`'s rows `rows` for the `n` tokens, token-major into `out`
    /// — over all of `w`'s rows, filling `out[t · w.rows() + r]`.
    ///
    /// The rows are split into one range per thread of the pool (the calling thread's included);
    /// with several tokens each worker fills its token-major block of `mm.blocks`, which is
    /// then copied in.
    fn matmul(
        &self,
        exec: &Executor,
        w: &WeightView,
        n: usize,
        out: &mut [f32],
        mm: Matmul<'_>,
        product: impl Fn(Range<usize>, &mut [f32]) -> Result<(), KernelError> + Sync,
    ) -> Result<(), ModelError> {
        let w_rows = w.rows();
        let out = &mut out[..n * w_rows];
        let ranges = if w_rows * w.cols() * n < MIN_SPLIT_WORK {
            std::iter::once(0..w_rows).collect()
        } else {
            exec.pool().split(w_rows, ROW_BLOCK)
        };
        let meter = mm.meter;
        let run = |rows: Range<usize>, out: &mut [f32]| -> Result<(), ModelError> {
            let _running = meter.enter();
            Ok(product(rows, out)?)
        };
        if n == 1 {
            return exec
                .pool()
                .for_each_chunk(&ranges, out, run)
                .into_iter()
                .collect();
        }
        // Range `rows`' block is `blocks[n · rows.start..n · rows.end]`, token-major. The
        // buffer only grows: a layer's matrices alternate in height, and shrinking it would
        // have the next taller one zero the difference again.
        if mm.blocks.len() < n * w_rows {
            resize(mm.blocks, n * w_rows);
        }
        let blocks = &mut mm.blocks[..n * w_rows];
        let scaled: Vec<_> = ranges.iter().map(|r| n * r.start..n * r.end).collect();
        exec.pool()
            .for_each_chunk(&scaled, blocks, |block, chunk| {
                run(block.start / n..block.end / n, chunk)
            })
            .into_iter()
            .collect::<Result<(), _>>()?;
        for (rows, block) in ranges.iter().zip(&scaled) {
            let block = &mm.blocks[block.clone()];
            for (t, src) in block.chunks_exact(rows.len()).enumerate() {
                out[t * w_rows + rows.start..t * w_rows + rows.end].copy_from_slice(src);
            }
        }
        Ok(())
    }

    /// Causal GQA attention of the batch's queries `q` (token-major, all heads; token `t` at
    /// `rows[t]`: its sequence and position) over layer `l` of each token's own sequence's
    /// cache, which already holds their keys and values; writes the concatenated head outputs
    /// to `out`. The (token, head) pairs are split over the pool in ranges of about equal cost
    /// (a pair costs its token's positions); within a range, the heads of one token that share
    /// a kv head are attended in one pass over it. Range `i` works in `scratch[i]` (made here
    /// when missing).
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        exec: &Executor,
        l: usize,
        seqs: &[Sequence<'_>],
        rows: &[Row],
        q: &[f32],
        scratch: &mut Vec<Mutex<AttentionScratch>>,
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        let cfg = &self.config;
        let (hd, n_head) = (cfg.head_dim, cfg.n_head);
        let group = n_head / cfg.n_head_kv;
        let scale = 1.0 / (hd as f32).sqrt();
        let pairs = q.len() / hd;
        let positions = |pair: usize| rows[pair / n_head].pos + 1;
        let cost = |pair: usize| positions(pair) * hd;
        let ranges = if (0..pairs).map(cost).sum::<usize>() < MIN_SPLIT_WORK {
            std::iter::once(0..pairs).collect()
        } else {
            exec.pool().split_by_cost(pairs, cost)
        };
        let values: Vec<_> = ranges.iter().map(|r| r.start * hd..r.end * hd).collect();
        if scratch.len() < ranges.len() {
            scratch.resize_with(ranges.len(), Mutex::default);
        }
        // Reserving for the longest cache rather than the positions attended now means one
        // allocation per range for a session's life instead of one whenever the context grows
        // past the buffers.
        let longest = seqs.iter().map(|seq| seq.kv.capacity()).max().unwrap_or(0);
        let scratch = &scratch[..];
        let results = exec.pool().for_each_chunk(&values, out, |values, out| {
            let (first, end) = (values.start / hd, values.end / hd);
            // This range's index: the ranges are in order, so the one starting at `first`
            // follows every range starting before it.
            let range = ranges.partition_point(|r| r.start < first);
            // A pass that panicked while holding it left nothing that matters: a call's
            // result does not depend on what the scratch held.
            let mut scratch = scratch[range]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            scratch.reserve(group, hd, longest);
            // Runs of consecutive pairs of one token whose heads share a kv head: one call.
            let mut pair = first;
            while pair < end {
                let (token, kv_head) = (pair / n_head, (pair % n_head) / group);
                let run = pair..end.min(token * n_head + (kv_head + 1) * group);
                let n = positions(pair);
                let (keys, values) = seqs[rows[token].seq].kv.head(l, kv_head, n);
                exec.kernels().attend(
                    hd,
                    &q[run.start * hd..run.end * hd],
                    keys,
                    values,
                    n,
                    scale,
                    &mut scratch,
                    &mut out[(run.start - first) * hd..(run.end - first) * hd],
                )?;
                pair = run.end;
            }
            Ok(())
        });
        results.into_iter().collect()
    }
}

fn resize(buf: &mut Vec<f32>, len: usize) {
    buf.resize(len, 0.0);
}

/// `out_row = x_row / rms(x_row) * weight` for each row (sum of squares in f64, by
/// [`math::sum_f64`]).
fn rms_norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let width = weight.len();
    for (row, out_row) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let scale = rms_scale(row, eps);
        for ((o, &v), &w) in out_row.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

fn rms_norm_rows_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let scale = rms_scale(row, eps);
        for (v, &w) in row.iter_mut().zip(weight) {
            *v = *v * scale * w;
        }
    }
}

fn rms_scale(row: &[f32], eps: f32) -> f32 {
    let sum_sq = math::sum_f64(row, |v| f64::from(v) * f64::from(v));
    let mean = (sum_sq / row.len() as f64) as f32;
    1.0 / (mean + eps).sqrt()
}

fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `gate = act(gate) * up`, elementwise (one loop per activation, so each vectorises).
fn gated_activation(act: FfnActivation, gate: &mut [f32], up: &[f32]) {
    let gate_up = gate.iter_mut().zip(up);
    match act {
        FfnActivation::Silu => gate_up.for_each(|(g, &u)| *g = *g / (1.0 + math::exp(-*g)) * u),
        FfnActivation::ReluSquared => gate_up.for_each(|(g, &u)| {
            let r = g.max(0.0);
            *g = r * r * u;
        }),
    }
}

/// NEOX-style rotary embedding: dimension `i` pairs with `i + rope_dims / 2` in each head.
#[derive(Debug)]
pub(super) struct Rope {
    head_dim: usize,
    rope_dims: usize,
    /// `base^(-2i / rope_dims)` for `i` in `0..rope_dims / 2`.
    inv_freq: Vec<f64>,
}

impl Rope {
    pub(super) fn new(head_dim: usize, rope_dims: usize, base: f32) -> Self {
        let half = rope_dims / 2;
        let inv_freq = (0..half)
            .map(|i| f64::from(base).powf(-2.0 * i as f64 / rope_dims as f64))
            .collect();
        Rope {
            head_dim,
            rope_dims,
            inv_freq,
        }
    }

    /// Appends the rotation of position `pos` to `out`: `(cos θ_i, sin θ_i)` with `θ_i = pos ·
    /// base^(−2i / rope_dims)` (angle in f64, rounded to f32), one per rotated pair.
    pub(super) fn rotation(&self, pos: usize, out: &mut Vec<(f32, f32)>) {
        out.extend(self.inv_freq.iter().map(|&f| {
            let theta = pos as f64 * f;
            (theta.cos() as f32, theta.sin() as f32)
        }));
    }

    /// Rotates every head of `x` (heads of `head_dim` back to back) by `rotation` (from
    /// [`rotation`](Self::rotation)).
    fn apply(&self, x: &mut [f32], rotation: &[(f32, f32)]) {
        let half = self.rope_dims / 2;
        for head in x.chunks_exact_mut(self.head_dim) {
            for (i, &(cos, sin)) in rotation.iter().enumerate() {
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * cos - b * sin;
                head[i + half] = a * sin + b * cos;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_at_position_zero_is_identity_and_preserves_norm() {
        let rope = Rope::new(8, 8, 10_000.0);
        let orig: Vec<f32> = (0..16).map(|i| i as f32 * 0.25 - 1.0).collect();
        let mut x = orig.clone();
        let rotation = |pos| {
            let mut out = Vec::new();
            rope.rotation(pos, &mut out);
            out
        };
        rope.apply(&mut x, &rotation(0));
        assert_eq!(x, orig);
        rope.apply(&mut x, &rotation(17));
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&x[..8]) - norm(&orig[..8])).abs() < 1e-4);
        // NEOX pairing: dimension 0 rotates with dimension 4 at the highest frequency.
        let theta = 17.0f64;
        let (a, b) = (orig[0], orig[4]);
        assert!((x[0] - (a * theta.cos() as f32 - b * theta.sin() as f32)).abs() < 1e-5);
    }

    #[test]
    fn squared_relu_and_silu_gates() {
        let mut g = [-2.0f32, 0.5, 3.0];
        gated_activation(FfnActivation::ReluSquared, &mut g, &[1.0, 2.0, 0.5]);
        assert_eq!(g, [0.0, 0.5, 4.5]);
        let mut g = [0.0f32, 1.0];
        gated_activation(FfnActivation::Silu, &mut g, &[1.0, 1.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.731_058_6).abs() < 1e-6);
    }

    #[test]
    fn rms_norm_matches_definition() {
        let x = [3.0f32, 4.0];
        let mut out = [0.0; 2];
        rms_norm_rows(&x, &[1.0, 2.0], 0.0, &mut out);
        let rms = (12.5f32).sqrt();
        assert!((out[0] - 3.0 / rms).abs() < 1e-6 && (out[1] - 8.0 / rms).abs() < 1e-6);
    }
}
