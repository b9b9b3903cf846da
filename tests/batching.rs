//! Continuous batching of concurrent decodes (`EngineConfig::decode_batching`) on the tiny
//! synthetic model: a multi-sequence forward pass gives each sequence bit for bit its own
//! logits; 4 and 8 sessions decoding at once through the batcher generate exactly the tokens
//! each generates alone (greedy, seeded sampling, speculative drafts), also when sessions
//! join and leave mid-run and one is cancelled; and a full wait queue refuses a request with
//! the typed `Busy`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use bitnet_core::engine::{
    CancelToken, Engine, EngineConfig, Event, FinishReason, Generation, GenerationOptions, Input,
    SessionConfig,
};
use bitnet_core::model::{KvCache, LogitsFor, Sequence};
use bitnet_core::runtime::Profile;
use bitnet_core::Error;
use bitnet_tests::{greedy, sampled, tiny_model};

/// Longest any wait may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(60);

/// The model at `path` on 2 threads, with decode batching as asked and no limit on
/// concurrent generations.
fn engine(path: &Path, batching: bool) -> Engine {
    let config = EngineConfig {
        threads: 2,
        decode_batching: Some(batching),
        ..EngineConfig::default()
    };
    Engine::load(path, config).expect("loads")
}

/// The tiny model without and with decode batching (one file; keep the directory alive).
fn engines() -> (tempfile::TempDir, Engine, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let (plain, batching) = (engine(&path, false), engine(&path, true));
    (dir, plain, batching)
}

/// Prompts that differ in length and text, so sessions sit at different positions.
fn prompt(i: usize) -> Input {
    let words = [
        "The answer is",
        "Once upon a time",
        "In the beginning",
        "Hello",
    ];
    Input::Text {
        text: format!("{} {}", words[i % words.len()], "and so on ".repeat(i)),
    }
}

/// Generates `prompt(i)` with `options` alone on a fresh session of `engine`.
fn solo(engine: &Engine, i: usize, options: &GenerationOptions) -> Generation {
    let mut session = engine.session(SessionConfig::default()).expect("session");
    session
        .generate(prompt(i), options, None, &mut |_: Event<'_>| {})
        .expect("generates")
}

#[test]
fn a_multi_sequence_pass_gives_each_sequence_its_own_logits_bit_for_bit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(&tiny_model(dir.path()), false);
    let (model, exec) = (engine.model(), engine.executor());
    let cfg = model.config();
    let vocab = cfg.vocab_size;
    let prompts: [&[u32]; 4] = [&[1, 2, 3, 4, 5], &[9, 8], &[7; 11], &[3]];
    // What each sequence evaluates next, and which logits it asks for.
    let next: [(&[u32], LogitsFor); 4] = [
        (&[6], LogitsFor::Last),
        (&[10, 11, 12], LogitsFor::All),
        (&[], LogitsFor::Last),
        (&[4, 5], LogitsFor::Last),
    ];
    let prefilled = || -> Vec<KvCache> {
        prompts
            .iter()
            .map(|p| {
                let mut kv = KvCache::new(cfg, 32, engine.kv_precision());
                let mut scratch = engine.scratch(16, 1);
                model
                    .forward(exec, p, &mut kv, &mut scratch, LogitsFor::Last)
                    .expect("prefills");
                kv
            })
            .collect()
    };
    // Alone, one sequence at a time.
    let mut alone_kv = prefilled();
    let mut alone = Vec::new();
    for (kv, (tokens, which)) in alone_kv.iter_mut().zip(next) {
        let mut scratch = engine.scratch(16, 16);
        model
            .forward(exec, tokens, kv, &mut scratch, which)
            .expect("forward");
        alone.extend_from_slice(scratch.logits());
    }
    // Together, in one pass.
    let mut together_kv = prefilled();
    let mut scratch = engine.scratch(16, 16);
    let mut seqs: Vec<_> = together_kv
        .iter_mut()
        .zip(next)
        .map(|(kv, (tokens, logits))| Sequence { tokens, kv, logits })
        .collect();
    assert_eq!(
        seqs.iter().map(Sequence::logit_rows).collect::<Vec<_>>(),
        [1, 3, 0, 1]
    );
    model
        .forward_sequences(exec, &mut seqs, &mut scratch)
        .expect("forward");
    assert_eq!(scratch.logits().len(), 5 * vocab);
    assert_eq!(
        scratch.logits(),
        &alone[..],
        "logits equal alone, bit for bit"
    );
    let lens = |kvs: &[KvCache]| kvs.iter().map(KvCache::len).collect::<Vec<_>>();
    assert_eq!(lens(&together_kv), [6, 5, 11, 3]);
    assert_eq!(lens(&together_kv), lens(&alone_kv));
    // The caches hold the same keys and values: a next token gives the same logits.
    for (a, b) in alone_kv.iter_mut().zip(&mut together_kv) {
        let (mut sa, mut sb) = (engine.scratch(1, 1), engine.scratch(1, 1));
        model
            .forward(exec, &[2], a, &mut sa, LogitsFor::Last)
            .expect("forward");
        model
            .forward(exec, &[2], b, &mut sb, LogitsFor::Last)
            .expect("forward");
        assert_eq!(sa.logits(), sb.logits());
    }
    // A sequence that does not fit fails the pass before any cache changes.
    let mut full = KvCache::new(cfg, 1, engine.kv_precision());
    let mut ok = KvCache::new(cfg, 8, engine.kv_precision());
    let mut seqs = [
        Sequence {
            tokens: &[1],
            kv: &mut ok,
            logits: LogitsFor::Last,
        },
        Sequence {
            tokens: &[1, 2],
            kv: &mut full,
            logits: LogitsFor::Last,
        },
    ];
    assert!(model
        .forward_sequences(exec, &mut seqs, &mut scratch)
        .is_err());
    assert_eq!((ok.len(), full.len()), (0, 0));
}

/// Runs sessions `0..n` at once on `engine`, session `i` with `options(i)`: the first `early`
/// start together and wait for each other at their first piece (so they all decode at once),
/// the others start once the first session has streamed 4 pieces (they join mid-run).
/// `cancel_after`: the second session cancels itself after that many pieces.
fn concurrently(
    engine: &Engine,
    n: usize,
    early: usize,
    options: &(dyn Fn(usize) -> GenerationOptions + Sync),
    cancel_after: Option<usize>,
) -> Vec<Generation> {
    let (start, first_piece) = (Barrier::new(early), Barrier::new(early));
    // Set by the first session after its fourth piece (or when it ends).
    let joined = AtomicBool::new(early == n);
    let sessions: Vec<_> = (0..n)
        .map(|_| engine.session(SessionConfig::default()).expect("session"))
        .collect();
    thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(i, mut session)| {
                let (start, first_piece, joined) = (&start, &first_piece, &joined);
                let options = options(i);
                scope.spawn(move || {
                    if i < early {
                        start.wait();
                    } else {
                        let deadline = Instant::now() + STEP;
                        while !joined.load(Ordering::Acquire) {
                            assert!(Instant::now() < deadline, "the first session streams");
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                    let cancel = CancelToken::new();
                    let mut pieces = 0;
                    // An early session meets the others at its first piece (or at its end, if
                    // it streams none).
                    let mut met = i >= early;
                    let mut sink = |event: Event<'_>| {
                        if let Event::Text(_) = event {
                            if !std::mem::replace(&mut met, true) {
                                first_piece.wait();
                            }
                            pieces += 1;
                            if i == 0 && pieces == 4 {
                                joined.store(true, Ordering::Release);
                            }
                            if i == 1 && Some(pieces) == cancel_after {
                                cancel.cancel();
                            }
                        }
                    };
                    let generation =
                        session.generate(prompt(i), &options, Some(&cancel), &mut sink);
                    if !met {
                        first_piece.wait();
                    }
                    if i == 0 {
                        joined.store(true, Ordering::Release);
                    }
                    generation.expect("generates")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    })
}

/// Asserts every session's tokens, text and finish reason equal its solo run's.
fn assert_same(batched: &[Generation], alone: &[Generation]) {
    for (i, (b, a)) in batched.iter().zip(alone).enumerate() {
        assert_eq!(b.tokens, a.tokens, "session {i}'s tokens");
        assert_eq!(b.text, a.text, "session {i}'s text");
        assert_eq!(b.finish_reason, a.finish_reason, "session {i}");
    }
}

/// Sessions with batching on decode exactly as alone, for `n` sessions and `options`.
fn check_sessions(n: usize, early: usize, options: &(dyn Fn(usize) -> GenerationOptions + Sync)) {
    let (_dir, plain, batching) = engines();
    assert!(!plain.batches_decodes() && batching.batches_decodes());
    let alone: Vec<_> = (0..n).map(|i| solo(&plain, i, &options(i))).collect();
    let batched = concurrently(&batching, n, early, options, None);
    assert_same(&batched, &alone);
    for g in &batched {
        assert!(g.stats.kernel_threads <= 2 && g.stats.peak_kernel_threads <= 2);
    }
    let m = batching.metrics();
    assert!(
        m.batched_steps > 0,
        "the sessions decoded through the batcher"
    );
    assert!(
        m.batched_tokens > m.batched_steps,
        "some steps were shared: {} tokens in {} steps",
        m.batched_tokens,
        m.batched_steps
    );
    assert_eq!((m.requests, m.errors), (n as u64, 0));
    assert_eq!(plain.metrics().batched_steps, 0);
}

#[test]
fn four_and_eight_greedy_sessions_decode_exactly_as_alone() {
    // Different lengths: sessions leave the batch at different steps.
    let options = |i: usize| greedy(24 + 5 * i);
    check_sessions(4, 4, &options);
    check_sessions(8, 8, &options);
}

#[test]
fn four_and_eight_sampled_sessions_decode_exactly_as_alone() {
    let options = |i: usize| sampled(0.9, 100 + i as u64, 30 + 3 * i);
    check_sessions(4, 4, &options);
    check_sessions(8, 8, &options);
}

#[test]
fn sessions_joining_mid_run_decode_exactly_as_alone() {
    // Half start together; the others join after the first session's fourth piece.
    let options = |i: usize| sampled(0.7, 7 * i as u64, 40 - 2 * i);
    check_sessions(8, 4, &options);
}

#[test]
fn speculative_sessions_share_steps_and_decode_exactly_as_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let load = |batching| {
        let config = EngineConfig {
            threads: 2,
            decode_batching: Some(batching),
            draft_tokens: 4,
            ..EngineConfig::default()
        };
        Engine::load(&path, config).expect("loads")
    };
    let (plain, batching) = (load(false), load(true));
    let options = |i: usize| greedy(32 + i);
    let alone: Vec<_> = (0..4).map(|i| solo(&plain, i, &options(i))).collect();
    let batched = concurrently(&batching, 4, 4, &options, None);
    assert_same(&batched, &alone);
    assert!(batching.metrics().batched_steps > 0);
}

#[test]
fn cancelling_one_session_leaves_the_others_exactly_as_alone() {
    let (_dir, plain, batching) = engines();
    let options = |i: usize| greedy(30 + i);
    let alone: Vec<_> = (0..4).map(|i| solo(&plain, i, &options(i))).collect();
    let batched = concurrently(&batching, 4, 4, &options, Some(3));
    let cancelled = &batched[1];
    assert_eq!(cancelled.finish_reason, FinishReason::Cancelled);
    assert!(alone[1].tokens.starts_with(&cancelled.tokens));
    assert!(cancelled.tokens.len() < alone[1].tokens.len());
    let others = |g: &[Generation]| -> Vec<Generation> {
        g.iter()
            .enumerate()
            .filter(|&(i, _)| i != 1)
            .map(|(_, g)| g.clone())
            .collect()
    };
    assert_same(&others(&batched), &others(&alone));
}

#[test]
fn profiles_batch_decodes_only_where_throughput_comes_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    for profile in Profile::ALL {
        let config = EngineConfig::from_profile(profile);
        assert_eq!(config.decode_batching, Some(profile.batches_decodes()));
        let engine = Engine::load(&path, config).expect("loads");
        assert_eq!(engine.batches_decodes(), profile.batches_decodes());
        // A step holds one token (with logits) of each generation the profile runs at once.
        let plan = engine.loaded_plan();
        let layout = plan.decode_batch.map(|l| (l.tokens, l.logit_rows));
        let sessions = profile.max_concurrent_generations();
        let expected = profile.batches_decodes().then_some((sessions, sessions));
        assert_eq!(layout, expected, "{profile}");
        let batch_bytes = engine.memory_estimate().decode_batch_bytes;
        assert_eq!(batch_bytes, plan.decode_batch.map_or(0, |l| l.bytes()));
        assert_eq!(batch_bytes > 0, profile.batches_decodes(), "{profile}");
    }
    // Off by default; and pointless (so off) with one generation at a time.
    let default = Engine::load(&path, EngineConfig::default()).expect("loads");
    assert!(!default.batches_decodes());
    let one = EngineConfig {
        decode_batching: Some(true),
        max_concurrent_generations: Some(1),
        ..EngineConfig::default()
    };
    let one = Engine::load(&path, one).expect("loads");
    assert!(!one.batches_decodes());
    assert_eq!(one.memory_estimate().decode_batch_bytes, 0);
}

/// Starts a one-token request on its own session and thread that blocks in its sink at its
/// first piece until `release` gets a message (so it holds its slot), reporting on `started`.
fn holder(
    engine: &Engine,
    started: Sender<()>,
    release: Receiver<()>,
) -> thread::JoinHandle<bitnet_core::Result<Generation>> {
    let mut session = engine.session(SessionConfig::default()).expect("session");
    thread::spawn(move || {
        let mut first = true;
        let mut sink = |event: Event<'_>| {
            if matches!(event, Event::Text(_)) && std::mem::take(&mut first) {
                started.send(()).expect("the test listens");
                release.recv_timeout(STEP).expect("released");
            }
        };
        session.generate(prompt(0), &greedy(1), None, &mut sink)
    })
}

#[test]
fn a_full_wait_queue_refuses_a_request_with_busy_and_leaves_it_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        threads: 1,
        max_concurrent_generations: Some(1),
        max_queued_generations: Some(1),
        ..EngineConfig::default()
    };
    let path = tiny_model(dir.path());
    let engine = Engine::load(&path, config).expect("loads");
    let (started_tx, started) = mpsc::channel();
    let (release, wait) = mpsc::channel();
    let running = holder(&engine, started_tx, wait);
    started.recv_timeout(STEP).expect("runs");
    // A second request waits for the slot...
    let mut waiting = engine.session(SessionConfig::default()).expect("session");
    let waiter = thread::spawn(move || {
        waiting.generate(prompt(1), &greedy(2), None, &mut |_: Event<'_>| {})
    });
    while engine.metrics().queued < 1 {
        thread::sleep(Duration::from_millis(1));
    }
    // ...and a third finds the queue full: refused at once, nothing done.
    let mut refused = engine.session(SessionConfig::default()).expect("session");
    let err = refused
        .generate(prompt(2), &greedy(2), None, &mut |_: Event<'_>| {})
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Busy {
                generating: 1,
                queued: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "engine busy: 1 generations running and 1 waiting, the most allowed"
    );
    assert!(refused.history().is_empty() && refused.cached_tokens() == 0);
    let m = engine.metrics();
    assert_eq!((m.busy_rejections, m.errors, m.queued), (1, 1, 1));
    release.send(()).expect("running");
    running.join().expect("no panic").expect("generates");
    waiter.join().expect("no panic").expect("generates");
    // With the queue empty again the refused session works.
    refused
        .generate(prompt(2), &greedy(2), None, &mut |_: Event<'_>| {})
        .expect("generates");

    // A bound of 0: a request either starts at once or is refused.
    let config = EngineConfig {
        threads: 1,
        max_concurrent_generations: Some(1),
        max_queued_generations: Some(0),
        ..EngineConfig::default()
    };
    let engine = Engine::load(&path, config).expect("loads");
    let (started_tx, started) = mpsc::channel();
    let (release, wait) = mpsc::channel();
    let running = holder(&engine, started_tx, wait);
    started.recv_timeout(STEP).expect("runs");
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let err = session
        .generate(prompt(1), &greedy(1), None, &mut |_: Event<'_>| {})
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Busy {
            generating: 1,
            queued: 0
        }
    ));
    release.send(()).expect("running");
    running.join().expect("no panic").expect("generates");
}
