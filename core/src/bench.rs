//! The benchmark routine shared by `bitnet bench` and the apps' benchmark screens: prefill and
//! decode speed over repetitions, time to first token, peak memory, and how close decode comes
//! to this machine's memory bandwidth (decode reads every weight byte once per token); the
//! sustained run ([`run_sustained`]): decode speed, threads and thermal state over time; and
//! the workloads ([`run_workload`]): chat turns on committed prompts, the way an app sends
//! them, with the tokens each pass over the weights produced (speculative decoding).

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::chat::{Message, Role};
use crate::engine::checkpoint::Checkpoint;
use crate::engine::{
    CancelToken, Engine, Event, FinishReason, GenerationOptions, Input, SessionConfig,
};
use crate::model::{KvCache, LogitsFor, Scratch};
use crate::runtime::thermal::{ThermalState, Throttling};
use crate::{Error, Result};

/// What to measure.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BenchConfig {
    /// Prompt tokens evaluated in prefill (pp), in tokens.
    pub prompt_tokens: usize,
    /// Tokens decoded one at a time after the prompt (tg), in tokens.
    pub gen_tokens: usize,
    /// Repetitions; each starts from an empty KV cache.
    pub reps: usize,
    /// Prompt tokens per forward call during prefill.
    pub batch: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            prompt_tokens: 512,
            gen_tokens: 128,
            reps: 3,
            batch: 64,
        }
    }
}

/// Mean and sample standard deviation of repeated measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one sample).
    pub sd: f64,
}

impl Stat {
    fn of(samples: &[f64]) -> Stat {
        let n = samples.len() as f64;
        if samples.is_empty() {
            return Stat::default();
        }
        let mean = samples.iter().sum::<f64>() / n;
        let var = if samples.len() > 1 {
            samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Stat {
            mean,
            sd: var.sqrt(),
        }
    }
}

/// What one benchmark run measured.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BenchReport {
    /// Kernel table used.
    pub kernels: String,
    /// Worker threads.
    pub threads: usize,
    /// The configuration measured.
    pub prompt_tokens: usize,
    /// Tokens decoded per repetition.
    pub gen_tokens: usize,
    /// Repetitions measured: the configured count, fewer when the run was cancelled.
    pub reps: usize,
    /// Prefill speed, tokens/s.
    pub prefill_tokens_per_s: Stat,
    /// Decode speed, tokens/s.
    pub decode_tokens_per_s: Stat,
    /// Time to the first generated token's logits (prefill of the prompt), ms.
    pub time_to_first_token_ms: Stat,
    /// Weight bytes one decoded token reads (projections + head + one embedding row).
    pub bytes_per_token: u64,
    /// `bytes_per_token × decode tokens/s`, in GB/s (10^9 bytes).
    pub effective_gb_per_s: f64,
    /// Measured memory-copy bandwidth of this machine with the same threads, GB/s (bytes read
    /// plus bytes written, as STREAM's Copy counts them): the mean of one sample taken right
    /// after each repetition's decode, so that it sees the machine as the decode did (a shared
    /// machine's bandwidth drifts by tens of percent over minutes).
    pub copy_gb_per_s: f64,
    /// Each repetition's effective GB/s over the copy bandwidth sampled right after it,
    /// averaged over the repetitions, percent.
    pub roofline_percent: f64,
    /// Peak resident memory of the process during the runs (Linux `VmHWM`, mapped weight pages
    /// included), bytes; `None` elsewhere.
    pub peak_resident_bytes: Option<u64>,
    /// The most memory the process held outside clean file pages right after a repetition's
    /// decode ([`memory::footprint_bytes`](crate::runtime::memory::footprint_bytes): Linux
    /// `RssAnon`, Apple `phys_footprint`), bytes: what a phone's memory limit applies to.
    pub footprint_bytes: Option<u64>,
    /// The format the output head is multiplied in (`"F16"`, `"Q8_0"`, ...).
    pub head_type: String,
    /// Bytes the output head holds outside the mapped file (a re-quantised copy), bytes.
    pub head_resident_bytes: u64,
}

/// Runs prefill and decode `reps` times on random tokens (fixed seed) and measures them,
/// after one untimed warm-up (a prefill batch and a decode step). A cancelled run reports the
/// repetitions it finished (its statistics are zero when it finished none): `cancel` stops the
/// run from any thread, checked before every forward call.
pub fn run(
    engine: &Engine,
    config: &BenchConfig,
    cancel: Option<&CancelToken>,
) -> Result<BenchReport> {
    if config.prompt_tokens == 0 || config.gen_tokens == 0 || config.reps == 0 || config.batch == 0
    {
        return Err(Error::InvalidOption {
            name: "bench",
            reason: "prompt tokens, generated tokens, repetitions and batch must be ≥ 1".into(),
        });
    }
    let model = engine.model();
    let exec = engine.executor();
    let cfg = model.config();
    let ctx = config.prompt_tokens + config.gen_tokens;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let vocab = engine.tokenizer().vocab_size().min(cfg.vocab_size) as u32;
    let prompt: Vec<u32> = (0..config.prompt_tokens)
        .map(|_| rng.random_range(0..vocab))
        .collect();
    let decode: Vec<u32> = (0..config.gen_tokens)
        .map(|_| rng.random_range(0..vocab))
        .collect();

    let mut scratch = engine.scratch(config.batch, 1);
    // Untimed warm-up: faults the mapped weights in and sizes the buffers.
    let mut kv = KvCache::new(cfg, ctx, engine.kv_precision());
    let warm = &prompt[..prompt.len().min(config.batch)];
    model.forward(exec, warm, &mut kv, &mut scratch, LogitsFor::Last)?;
    model.forward(exec, &decode[..1], &mut kv, &mut scratch, LogitsFor::Last)?;
    let bytes_per_token = model.weight_bytes_per_token() as u64;
    let (mut prefill, mut dec, mut ttft) = (Vec::new(), Vec::new(), Vec::new());
    let (mut copy, mut roofline) = (Vec::new(), Vec::new());
    let (mut peak_resident_bytes, mut footprint_bytes) = (None, None);
    let cancelled = || cancel.is_some_and(CancelToken::is_cancelled);
    'reps: for rep in 0..config.reps {
        let mut kv = KvCache::new(cfg, ctx, engine.kv_precision());
        let start = Instant::now();
        for chunk in prompt.chunks(config.batch) {
            if cancelled() {
                break 'reps;
            }
            model.forward(exec, chunk, &mut kv, &mut scratch, LogitsFor::Last)?;
        }
        let prefill_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for &token in &decode {
            if cancelled() {
                break 'reps;
            }
            model.forward(exec, &[token], &mut kv, &mut scratch, LogitsFor::Last)?;
        }
        let decode_s = start.elapsed().as_secs_f64();
        prefill.push(config.prompt_tokens as f64 / prefill_s);
        dec.push(config.gen_tokens as f64 / decode_s);
        ttft.push(prefill_s * 1e3);
        if rep == 0 {
            // Read before the first copy test, whose 256 MiB of buffers are not the model's
            // (later repetitions allocate what the first one did).
            peak_resident_bytes = crate::runtime::memory::peak_resident_bytes();
        }
        // Before this repetition's copy test (whose buffers are freed after it).
        footprint_bytes = footprint_bytes.max(crate::runtime::memory::footprint_bytes());
        let copy_now = copy_bandwidth_gb_per_s(exec.pool());
        let effective_now = bytes_per_token as f64 * config.gen_tokens as f64 / decode_s / 1e9;
        copy.push(copy_now);
        roofline.push(if copy_now > 0.0 {
            100.0 * effective_now / copy_now
        } else {
            0.0
        });
    }
    let decode_tokens_per_s = Stat::of(&dec);
    let effective = bytes_per_token as f64 * decode_tokens_per_s.mean / 1e9;
    Ok(BenchReport {
        kernels: exec.kernels().name().to_owned(),
        threads: exec.threads(),
        prompt_tokens: config.prompt_tokens,
        gen_tokens: config.gen_tokens,
        reps: dec.len(),
        prefill_tokens_per_s: Stat::of(&prefill),
        decode_tokens_per_s,
        time_to_first_token_ms: Stat::of(&ttft),
        bytes_per_token,
        effective_gb_per_s: effective,
        copy_gb_per_s: Stat::of(&copy).mean,
        roofline_percent: Stat::of(&roofline).mean,
        peak_resident_bytes,
        footprint_bytes,
        head_type: model.head_type().name().to_owned(),
        head_resident_bytes: model.head_resident_bytes() as u64,
    })
}

/// A kind of request, with a committed prompt (`core/workloads/<name>.txt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A user asking for a plan in a few paragraphs.
    Chat,
    /// A passage to summarise: replies that reuse the prompt's words.
    Summarise,
    /// A function to rewrite and explain: replies that copy code from the prompt.
    Code,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 3] = [Workload::Chat, Workload::Summarise, Workload::Code];

    /// Its name (`chat`, `summarise`, `code`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Chat => "chat",
            Workload::Summarise => "summarise",
            Workload::Code => "code",
        }
    }

    /// The workload called `name`, if any.
    pub fn by_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The user message it sends.
    pub fn prompt(self) -> &'static str {
        match self {
            Workload::Chat => include_str!("../workloads/chat.txt"),
            Workload::Summarise => include_str!("../workloads/summarise.txt"),
            Workload::Code => include_str!("../workloads/code.txt"),
        }
    }
}

/// What [`run_workload`] measured.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WorkloadReport {
    /// The workload.
    pub workload: Workload,
    /// Kernel table used.
    pub kernels: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Repetitions, each a fresh one-turn chat.
    pub reps: usize,
    /// Tokens of the templated prompt, in tokens.
    pub prompt_tokens: usize,
    /// Tokens generated per repetition (the mean), in tokens.
    pub generated_tokens: f64,
    /// Time to the first generated token, ms.
    pub time_to_first_token_ms: Stat,
    /// Decode speed after the first token, tokens/s.
    pub decode_tokens_per_s: Stat,
    /// Tokens drafted by prompt lookup over all repetitions.
    pub drafted_tokens: usize,
    /// Drafted tokens that held.
    pub accepted_tokens: usize,
    /// Generated tokens per forward pass that produced any (1 without speculative decoding).
    pub tokens_per_pass: f64,
}

/// Runs `reps` fresh one-turn chats of `workload`'s prompt, greedy, up to `gen_tokens` tokens
/// each, after an untimed warm-up turn, with the engine's settings (threads, draft tokens, ...).
pub fn run_workload(
    engine: &Engine,
    workload: Workload,
    gen_tokens: usize,
    reps: usize,
) -> Result<WorkloadReport> {
    if gen_tokens == 0 || reps == 0 {
        return Err(Error::InvalidOption {
            name: "workload bench",
            reason: "generated tokens and repetitions must be ≥ 1".into(),
        });
    }
    let turn = |max_tokens: usize| {
        let mut session = engine.session(SessionConfig::default())?;
        let input = Input::Chat {
            messages: vec![Message::new(Role::User, workload.prompt())],
        };
        let options = GenerationOptions {
            max_tokens,
            ..GenerationOptions::default()
        };
        session.generate(input, &options, None, &mut |_: Event<'_>| {})
    };
    turn(gen_tokens.min(4))?;
    let runs = (0..reps)
        .map(|_| turn(gen_tokens).map(|g| g.stats))
        .collect::<Result<Vec<_>>>()?;
    let sum = |f: fn(&crate::engine::GenerationStats) -> usize| runs.iter().map(f).sum::<usize>();
    let (generated, accepted) = (sum(|s| s.generated_tokens), sum(|s| s.accepted_tokens));
    let exec = engine.executor();
    Ok(WorkloadReport {
        workload,
        kernels: exec.kernels().name(),
        threads: exec.threads(),
        reps,
        prompt_tokens: runs[0].prompt_tokens,
        generated_tokens: generated as f64 / reps as f64,
        time_to_first_token_ms: Stat::of(
            &runs
                .iter()
                .map(|s| s.time_to_first_token_ms)
                .collect::<Vec<_>>(),
        ),
        decode_tokens_per_s: Stat::of(
            &runs
                .iter()
                .map(|s| s.decode_tokens_per_s)
                .collect::<Vec<_>>(),
        ),
        drafted_tokens: sum(|s| s.drafted_tokens),
        accepted_tokens: accepted,
        tokens_per_pass: generated as f64 / (generated - accepted).max(1) as f64,
    })
}

/// What [`run_sessions`] measures.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionsConfig {
    /// Prompt tokens each session prefills (alone, untimed) before decoding, in tokens.
    pub prompt_tokens: usize,
    /// Tokens each session decodes, in tokens.
    pub gen_tokens: usize,
    /// Repetitions of every count, interleaved (1, 4, 8, 1, 4, 8, ...) so that each count
    /// sees the machine alike.
    pub reps: usize,
    /// The numbers of concurrent sessions to measure, in order.
    pub sessions: Vec<usize>,
}

/// One count of concurrent sessions, measured.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SessionsRow {
    /// Sessions decoding at once.
    pub sessions: usize,
    /// Tokens decoded by all sessions over the wall time from the start until the last one
    /// finished, tokens/s.
    pub aggregate_tokens_per_s: Stat,
    /// Each session's tokens over its own decode time, averaged over the sessions, tokens/s.
    pub session_tokens_per_s: Stat,
    /// Tokens per shared step (the mean batch; 1 when decodes are not batched).
    pub tokens_per_step: f64,
    /// Wall time of one step (a pass over the weights), in ms.
    pub step_ms: f64,
}

/// What [`run_sessions`] measured.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SessionsReport {
    /// Kernel table used.
    pub kernels: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Whether the engine batches concurrent decodes ([`Engine::batches_decodes`]).
    pub batched: bool,
    /// Prompt tokens per session, in tokens.
    pub prompt_tokens: usize,
    /// Tokens decoded per session, in tokens.
    pub gen_tokens: usize,
    /// Repetitions of each count.
    pub reps: usize,
    /// One row per count of sessions, in the configured order.
    pub rows: Vec<SessionsRow>,
}

/// Decodes random tokens (fixed seeds) in `n` concurrent sessions, each on its own thread
/// with its own KV cache and buffers, for every `n` of `config.sessions`: what aggregate and
/// per-session decode speeds an engine serving that many sessions at once reaches. Each
/// session's pass goes through [`Engine`]'s decode path, shared with the others when the
/// engine batches decodes (and run one after another on the pool when it does not). Prompts
/// are prefilled alone and untimed; an untimed single-session run first faults the weights
/// in.
pub fn run_sessions(engine: &Engine, config: &SessionsConfig) -> Result<SessionsReport> {
    let most = config.sessions.iter().copied().max().unwrap_or(0);
    if config.gen_tokens == 0
        || config.reps == 0
        || config.prompt_tokens == 0
        || config.sessions.contains(&0)
        || most == 0
    {
        return Err(Error::InvalidOption {
            name: "sessions bench",
            reason: "prompt tokens, generated tokens, repetitions and every session count must \
                     be ≥ 1"
                .into(),
        });
    }
    if most > MAX_BENCH_SESSIONS {
        return Err(Error::InvalidOption {
            name: "sessions bench",
            reason: format!("at most {MAX_BENCH_SESSIONS} sessions"),
        });
    }
    let ctx = config.prompt_tokens + config.gen_tokens;
    if ctx > engine.model().config().n_ctx_train {
        return Err(Error::InvalidOption {
            name: "sessions bench",
            reason: format!(
                "prompt + generated tokens ({ctx}) exceed the model's context ({})",
                engine.model().config().n_ctx_train
            ),
        });
    }
    let _ = measure_sessions(engine, config, 1, config.gen_tokens.min(4))?;
    let mut samples: Vec<Vec<SessionsSample>> = vec![Vec::new(); config.sessions.len()];
    for _ in 0..config.reps {
        for (i, &n) in config.sessions.iter().enumerate() {
            samples[i].push(measure_sessions(engine, config, n, config.gen_tokens)?);
        }
    }
    let rows = config
        .sessions
        .iter()
        .zip(&samples)
        .map(|(&sessions, runs)| {
            let stat =
                |f: fn(&SessionsSample) -> f64| Stat::of(&runs.iter().map(f).collect::<Vec<_>>());
            let steps: u64 = runs.iter().map(|r| r.steps).sum();
            let tokens = (sessions * config.gen_tokens * runs.len()) as f64;
            let wall: f64 = runs.iter().map(|r| r.wall_s).sum();
            SessionsRow {
                sessions,
                aggregate_tokens_per_s: stat(|r| r.aggregate),
                session_tokens_per_s: stat(|r| r.per_session),
                tokens_per_step: if steps > 0 {
                    tokens / steps as f64
                } else {
                    1.0
                },
                step_ms: 1e3 * wall / if steps > 0 { steps as f64 } else { tokens },
            }
        })
        .collect();
    let exec = engine.executor();
    Ok(SessionsReport {
        kernels: exec.kernels().name(),
        threads: exec.threads(),
        batched: engine.batches_decodes(),
        prompt_tokens: config.prompt_tokens,
        gen_tokens: config.gen_tokens,
        reps: config.reps,
        rows,
    })
}

/// The most sessions [`run_sessions`] runs at once (each holds a thread, a KV cache and
/// buffers).
pub const MAX_BENCH_SESSIONS: usize = 64;

/// One measurement of `n` concurrent sessions.
#[derive(Clone, Copy, Debug)]
struct SessionsSample {
    aggregate: f64,
    per_session: f64,
    wall_s: f64,
    /// Shared steps the batcher ran meanwhile (0 when decodes are not batched).
    steps: u64,
}

/// Prefills `n` sessions alone, then decodes `gen_tokens` random tokens in each, all at once.
fn measure_sessions(
    engine: &Engine,
    config: &SessionsConfig,
    n: usize,
    gen_tokens: usize,
) -> Result<SessionsSample> {
    let model = engine.model();
    let cfg = model.config();
    let vocab = engine.tokenizer().vocab_size().min(cfg.vocab_size) as u32;
    let ctx = config.prompt_tokens + gen_tokens;
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        let mut rng = ChaCha8Rng::seed_from_u64(1 + i as u64);
        let prompt: Vec<u32> = (0..config.prompt_tokens)
            .map(|_| rng.random_range(0..vocab))
            .collect();
        let decode: Vec<u32> = (0..gen_tokens)
            .map(|_| rng.random_range(0..vocab))
            .collect();
        let mut kv = KvCache::new(cfg, ctx, engine.kv_precision());
        let mut scratch = Scratch::new(&engine.loaded_plan().scratch);
        for chunk in prompt.chunks(SUSTAINED_BATCH) {
            model.forward(
                engine.executor(),
                chunk,
                &mut kv,
                &mut scratch,
                LogitsFor::Last,
            )?;
        }
        sessions.push((kv, scratch, decode));
    }
    let steps_before = engine.batched_steps();
    let start = std::sync::Barrier::new(n + 1);
    let (times, wall_s) = std::thread::scope(|scope| {
        let threads: Vec<_> = sessions
            .iter_mut()
            .map(|(kv, scratch, decode)| {
                let start = &start;
                scope.spawn(move || -> Result<f64> {
                    let member = engine.join_decoders();
                    start.wait();
                    let began = Instant::now();
                    for &token in decode.iter() {
                        engine.decode(member.as_ref(), &[token], kv, scratch, LogitsFor::Last)?;
                    }
                    Ok(began.elapsed().as_secs_f64())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        let times: Vec<_> = threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(Error::internal("a benchmark session panicked")))
            })
            .collect();
        (times, began.elapsed().as_secs_f64())
    });
    let times = times.into_iter().collect::<Result<Vec<_>>>()?;
    let per_session = times.iter().map(|&s| gen_tokens as f64 / s).sum::<f64>() / n as f64;
    Ok(SessionsSample {
        aggregate: (n * gen_tokens) as f64 / wall_s,
        per_session,
        wall_s,
        steps: engine.batched_steps() - steps_before,
    })
}

/// Prompt tokens per forward call when a sustained run (re)fills its context.
const SUSTAINED_BATCH: usize = 64;

/// What a sustained run measures.
#[derive(Clone, Debug, PartialEq)]
pub struct SustainedConfig {
    /// How long to decode, in seconds.
    pub seconds: f64,
    /// Time between two samples, in ms.
    pub sample_ms: u64,
    /// Prompt tokens prefilled at the start and whenever the context is full, in tokens.
    pub prompt_tokens: usize,
    /// Context the decode runs in before it starts over, in tokens (at most the model's).
    pub context: usize,
}

impl Default for SustainedConfig {
    fn default() -> Self {
        SustainedConfig {
            seconds: 60.0,
            sample_ms: 1000,
            prompt_tokens: 64,
            context: 512,
        }
    }
}

/// One point of the sustained curve.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SustainedSample {
    /// Time since the start, in seconds (the end of the interval).
    pub t_s: f64,
    /// Tokens decoded in the interval over its wall time (pauses and re-prefills included),
    /// tokens/s.
    pub tokens_per_s: f64,
    /// Threads matmuls ran on at the interval's end (0: the governor stopped).
    pub threads: usize,
    /// Thermal state in force at the interval's end.
    pub state: ThermalState,
    /// Pause between tokens at the interval's end, in ms.
    pub pause_ms: u64,
}

/// A change of thermal state during a sustained run: what a generation reports as
/// [`Event::Thermal`] at the same point.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ThermalChange {
    /// Time since the start, in seconds.
    pub t_s: f64,
    /// The state now in force.
    pub state: ThermalState,
    /// Threads matmuls now run on (0: the run stops).
    pub threads: usize,
    /// Pause between tokens now, in ms.
    pub pause_ms: u64,
}

/// What a sustained run recorded.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SustainedReport {
    /// Kernel table used.
    pub kernels: &'static str,
    /// Configured worker threads.
    pub threads: usize,
    /// The samples, in time order.
    pub samples: Vec<SustainedSample>,
    /// Every thermal state change, in time order.
    pub thermal_changes: Vec<ThermalChange>,
    /// Tokens decoded in all, in tokens.
    pub tokens: usize,
    /// When the thermal governor stopped the run (its policy said stop), seconds from the
    /// start; `None` if it ran its full time.
    pub thermal_stop_s: Option<f64>,
}

/// Decodes random tokens (fixed seed) for `config.seconds`, starting over from a fresh prompt
/// whenever the context is full, and samples decode speed, threads and thermal state every
/// `config.sample_ms`. The engine's thermal governor is polled before every token through the
/// checks a generation makes: its threads and pauses apply, each change is recorded as a
/// generation would report it, and a stop ends the run with a last sample (threads 0) at the
/// stop.
pub fn run_sustained(engine: &Engine, config: &SustainedConfig) -> Result<SustainedReport> {
    let model = engine.model();
    let exec = engine.executor();
    let cfg = model.config();
    let context = config.context.min(cfg.n_ctx_train);
    let valid = config.sample_ms > 0 && (1..context).contains(&config.prompt_tokens);
    let duration = Duration::try_from_secs_f64(config.seconds)
        .ok()
        .filter(|d| valid && !d.is_zero())
        .ok_or_else(|| Error::InvalidOption {
            name: "sustained bench",
            reason: format!(
                "needs 0 < seconds < 2^64, sample ms ≥ 1 and 1 ≤ prompt tokens < context ({context})"
            ),
        })?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let vocab = engine.tokenizer().vocab_size().min(cfg.vocab_size) as u32;
    let prompt: Vec<u32> = (0..config.prompt_tokens)
        .map(|_| rng.random_range(0..vocab))
        .collect();
    let mut scratch = engine.scratch(SUSTAINED_BATCH, 1);
    let mut kv = KvCache::new(cfg, context, engine.kv_precision());
    let prefill = |kv: &mut KvCache, scratch: &mut Scratch| {
        kv.truncate(0);
        prompt
            .chunks(SUSTAINED_BATCH)
            .try_for_each(|chunk| model.forward(exec, chunk, kv, scratch, LogitsFor::Last))
    };
    // Untimed warm-up: faults the mapped weights in.
    prefill(&mut kv, &mut scratch)?;

    let interval = Duration::from_millis(config.sample_ms);
    let mut checkpoint = Checkpoint::new(exec);
    let started = Instant::now();
    let mut thermal_changes = Vec::new();
    let mut record = |event: Event<'_>| {
        if let Event::Thermal {
            state,
            threads,
            pause_ms,
        } = event
        {
            thermal_changes.push(ThermalChange {
                t_s: started.elapsed().as_secs_f64(),
                state,
                threads,
                pause_ms,
            });
        }
    };
    let (mut samples, mut tokens, mut thermal_stop_s) = (Vec::new(), 0, None);
    let (mut interval_start, mut interval_tokens) = (started, 0usize);
    let sample = |now: Instant, from: Instant, n: usize, t: &Throttling| SustainedSample {
        t_s: (now - started).as_secs_f64(),
        tokens_per_s: n as f64 / (now - from).as_secs_f64().max(f64::MIN_POSITIVE),
        threads: t.threads,
        state: t.state,
        pause_ms: t.action.pause_ms(),
    };
    while started.elapsed() < duration {
        // Between two tokens (not before the first) the policy's pause is slept.
        if checkpoint.check(&mut record, tokens > 0)? == Some(FinishReason::ThermalStop) {
            let now = Instant::now();
            samples.push(sample(
                now,
                interval_start,
                interval_tokens,
                &checkpoint.now,
            ));
            thermal_stop_s = Some((now - started).as_secs_f64());
            break;
        }
        if kv.len() == kv.capacity() {
            prefill(&mut kv, &mut scratch)?;
        }
        let token = rng.random_range(0..vocab);
        model.forward(exec, &[token], &mut kv, &mut scratch, LogitsFor::Last)?;
        tokens += 1;
        interval_tokens += 1;
        let now = Instant::now();
        if now - interval_start >= interval {
            samples.push(sample(
                now,
                interval_start,
                interval_tokens,
                &checkpoint.now,
            ));
            (interval_start, interval_tokens) = (now, 0);
        }
    }
    Ok(SustainedReport {
        kernels: exec.kernels().name(),
        threads: exec.threads(),
        samples,
        thermal_changes,
        tokens,
        thermal_stop_s,
    })
}

/// Bytes copied per copy-bandwidth pass: large enough to defeat caches.
const COPY_BYTES: usize = 128 << 20;

/// Passes of the copy test; the best one counts.
const COPY_PASSES: usize = 20;

/// Best of [`COPY_PASSES`] multi-threaded copies of [`COPY_BYTES`], counted as read + write
/// bytes (STREAM Copy).
fn copy_bandwidth_gb_per_s(pool: &crate::runtime::ThreadPool) -> f64 {
    let src = vec![1u8; COPY_BYTES];
    let mut dst = vec![0u8; COPY_BYTES];
    let ranges = pool.split(COPY_BYTES, 1 << 20);
    let mut best = f64::INFINITY;
    for _ in 0..COPY_PASSES {
        let start = Instant::now();
        pool.for_each_chunk(&ranges, &mut dst, |r, chunk| chunk.copy_from_slice(&src[r]));
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    2.0 * COPY_BYTES as f64 / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_mean_and_sample_sd() {
        let s = Stat::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean, 5.0);
        assert!((s.sd - 2.138_089_935).abs() < 1e-6);
        assert_eq!(Stat::of(&[3.0]), Stat { mean: 3.0, sd: 0.0 });
    }
}
