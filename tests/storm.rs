//! A storm over one engine: 8 threads each run random operations — new sessions under a tight
//! memory budget, short generations, cancels from other threads, trims, resets, dropped
//! sessions and thermal flips — and the test asserts no panic, no deadlock (a watchdog) and
//! resident memory back near where it started once every session is gone.
//!
//! Operations per thread: `$BITNET_STORM_OPS` (default 1000 on the tiny preset, 100 on the
//! small one; `BITNET_STORM_OPS=1000 cargo test --release -p bitnet-tests --test storm` is the
//! soak run). `$BITNET_STORM_RSS_MARGIN_MIB` (default 64) is the allowed growth of resident
//! memory; under a sanitizer, whose shadow memory and quarantine are resident too, set it high.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitnet_authoring::synth::Preset;
use bitnet_core::engine::{
    CancelToken, Engine, EngineConfig, Event, GenerationOptions, Input, Session, SessionConfig,
};
use bitnet_core::runtime::memory::resident_bytes;
use bitnet_core::runtime::thermal::{
    ThermalMonitor, ThermalPolicy, ThermalReading, ThermalState, Throttle,
};
use bitnet_core::Error;
use bitnet_tests::{preset_model, user};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const THREADS: usize = 8;
/// How long the whole storm may take before it counts as a deadlock.
const WATCHDOG: Duration = Duration::from_secs(600);

fn rss_margin_bytes() -> u64 {
    std::env::var("BITNET_STORM_RSS_MARGIN_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(64)
        << 20
}

fn ops(default: usize) -> usize {
    std::env::var("BITNET_STORM_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one thread did, by operation.
#[derive(Debug, Default)]
struct Tally {
    generations: usize,
    refused: usize,
    cancels: usize,
    trims: usize,
    other: usize,
}

fn thread(
    engine: Engine,
    monitor: ThermalMonitor,
    tokens: Arc<Mutex<Vec<CancelToken>>>,
    seed: u64,
    n: usize,
) -> Tally {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sessions: Vec<Session> = Vec::new();
    let mut tally = Tally::default();
    let states = [
        ThermalState::Nominal,
        ThermalState::Fair,
        ThermalState::Serious,
        ThermalState::Critical,
    ];
    for _ in 0..n {
        match rng.random_range(0..100) {
            0..15 => {
                let context_length = [0, 64, 256, 1 << 40][rng.random_range(0..4)];
                match engine.session(SessionConfig {
                    context_length,
                    ..SessionConfig::default()
                }) {
                    Ok(s) if sessions.len() < 3 => sessions.push(s),
                    Ok(_) => {}
                    Err(Error::BudgetExceeded { .. } | Error::InsufficientMemory { .. }) => {
                        tally.refused += 1
                    }
                    Err(e) => panic!("session: {e:?}"),
                }
            }
            15..55 if !sessions.is_empty() => {
                let i = rng.random_range(0..sessions.len());
                let cancel = CancelToken::new();
                tokens.lock().unwrap().push(cancel.clone());
                let options = GenerationOptions {
                    max_tokens: rng.random_range(1..5),
                    ..GenerationOptions::default()
                };
                let input = if rng.random_bool(0.5) {
                    Input::Chat {
                        messages: vec![user("Tell me something.")],
                    }
                } else {
                    Input::Text {
                        text: "Once upon a time".into(),
                    }
                };
                match sessions[i].generate(input, &options, Some(&cancel), &mut |_: Event<'_>| {}) {
                    Ok(_) => tally.generations += 1,
                    Err(
                        Error::ContextFull { .. }
                        | Error::PromptTooLong { .. }
                        | Error::BudgetExceeded { .. },
                    ) => tally.refused += 1,
                    Err(e) => panic!("generate: {e:?}"),
                }
            }
            55..65 => {
                let mut all = tokens.lock().unwrap();
                if !all.is_empty() {
                    let at = rng.random_range(0..all.len());
                    let token = all.swap_remove(at);
                    token.cancel();
                    tally.cancels += 1;
                }
            }
            65..75 => {
                engine.trim();
                tally.trims += 1;
            }
            75..85 if !sessions.is_empty() => {
                let i = rng.random_range(0..sessions.len());
                sessions[i].reset();
                tally.other += 1;
            }
            85..93 if !sessions.is_empty() => {
                sessions.swap_remove(rng.random_range(0..sessions.len()));
                tally.other += 1;
            }
            _ => {
                monitor.report(ThermalReading {
                    state: states[rng.random_range(0..states.len())],
                    headroom: None,
                });
                tally.other += 1;
            }
        }
    }
    tally
}

/// One storm at a time: resident memory is the process's, shared by the tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn storm(preset: Preset, default_ops: usize) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = preset_model(dir.path(), preset, 3);
    let plan = Engine::plan(&path, &EngineConfig::default()).expect("plan");
    // Room for the engine and about four default sessions: the rest are capped or refused.
    let budget = plan.memory.engine_bytes() + 4 * plan.memory.session_bytes(1024);
    let engine = Engine::load(
        &path,
        EngineConfig {
            threads: 2,
            memory_budget_bytes: Some(budget),
            // No pauses, so the storm is about contention, not sleeping.
            thermal_policy: Some(ThermalPolicy {
                nominal: Throttle::Run {
                    threads_percent: 100,
                    pause_ms: 0,
                },
                fair: Throttle::Run {
                    threads_percent: 100,
                    pause_ms: 0,
                },
                serious: Throttle::Run {
                    threads_percent: 50,
                    pause_ms: 0,
                },
                critical: Throttle::Stop,
            }),
            ..EngineConfig::default()
        },
    )
    .expect("loads");
    let monitor = ThermalMonitor::new();
    engine.set_thermal_source(Some(Arc::new(monitor.clone())));
    // Warm-up: the first session's buffers and the mapped weights count as the baseline.
    {
        let mut s = engine.session(SessionConfig::default()).unwrap();
        s.generate(
            Input::Text {
                text: "warm".into(),
            },
            &GenerationOptions {
                max_tokens: 2,
                ..GenerationOptions::default()
            },
            None,
            &mut |_: Event<'_>| {},
        )
        .unwrap();
    }
    engine.trim();
    let start_rss = resident_bytes();

    let n = ops(default_ops);
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let (done, finished) = mpsc::channel();
    for t in 0..THREADS {
        let (engine, monitor, tokens, done) = (
            engine.clone(),
            monitor.clone(),
            Arc::clone(&tokens),
            done.clone(),
        );
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                thread(engine, monitor, tokens, t as u64, n)
            }));
            let _ = done.send(result.map_err(|_| t));
        });
    }
    let mut total = Tally::default();
    for _ in 0..THREADS {
        let tally = finished
            .recv_timeout(WATCHDOG)
            .expect("a storm thread is stuck: deadlock")
            .unwrap_or_else(|t| panic!("storm thread {t} panicked"));
        total.generations += tally.generations;
        total.refused += tally.refused;
        total.cancels += tally.cancels;
        total.trims += tally.trims;
        total.other += tally.other;
    }
    engine.trim();
    let end_rss = resident_bytes();
    eprintln!(
        "{preset:?}: {THREADS} threads x {n} operations: {total:?}; resident {} -> {} MiB",
        start_rss.unwrap_or(0) >> 20,
        end_rss.unwrap_or(0) >> 20
    );
    assert!(total.generations > 0, "{total:?}");
    if let (Some(start), Some(end)) = (start_rss, end_rss) {
        // Every session is gone and trimmed: what is left is allocator slack and thread stacks.
        assert!(
            end <= start + rss_margin_bytes(),
            "resident memory grew from {} to {} MiB",
            start >> 20,
            end >> 20
        );
    }
}

#[test]
fn storm_over_the_tiny_preset() {
    storm(Preset::Tiny, 1000);
}

#[test]
fn storm_over_the_small_preset() {
    storm(Preset::Small, 100);
}
