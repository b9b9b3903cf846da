//! The thread limit: matmul work never runs on more threads than `EngineConfig::threads`
//! (explicit, automatic, pinned, and with several sessions generating at once).

use bitnet_core::engine::{Engine, EngineConfig, Event, Input, SessionConfig};
use bitnet_core::model::Arch;
use bitnet_core::quant::TensorType;
use bitnet_core::runtime::default_threads;
use bitnet_tests::{greedy, synth};

fn kernel_threads(threads: usize, path: &std::path::Path) -> usize {
    let config = EngineConfig {
        threads,
        ..EngineConfig::default()
    };
    let engine = Engine::load(path, config).expect("loads");
    assert_eq!(engine.executor().threads(), threads);
    run(&engine)
}

/// Kernel threads of one request with a long prompt: prefill batches are large enough to be
/// split across workers.
fn run(engine: &Engine) -> usize {
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let prompt = "the quick brown fox jumps over the lazy dog ".repeat(16);
    let g = session
        .generate(
            Input::Text { text: prompt },
            &greedy(16),
            None,
            &mut |_: Event<'_>| {},
        )
        .expect("generates");
    g.stats.kernel_threads
}

#[test]
fn one_thread_means_exactly_one_thread_runs_kernels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), Arch::BitnetB158, TensorType::I2S, 5);
    assert_eq!(kernel_threads(1, &path), 1);
}

#[test]
fn kernel_threads_never_exceed_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), Arch::BitnetB158, TensorType::I2S, 5);
    for threads in [2, 3] {
        let used = kernel_threads(threads, &path);
        assert!(
            (1..=threads).contains(&used),
            "{threads} threads: {used} ran kernels"
        );
    }
    // Prefill of 64-token batches on the tiny model splits its larger matmuls into two
    // ranges. The calling thread claims ranges too: on a busy machine it can run both before
    // the worker wakes, so some request of a few uses both.
    let engine = Engine::load(
        &path,
        EngineConfig {
            threads: 2,
            ..EngineConfig::default()
        },
    )
    .expect("loads");
    let used: Vec<usize> = (0..8).map(|_| run(&engine)).collect();
    assert!(used.iter().all(|&n| (1..=2).contains(&n)), "{used:?}");
    assert!(used.contains(&2), "the work was never split: {used:?}");
}

#[test]
fn automatic_threads_are_the_performance_cores_and_bound_the_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), Arch::BitnetB158, TensorType::I2S, 5);
    let engine = Engine::load(&path, EngineConfig::default()).expect("loads");
    let auto = default_threads();
    assert_eq!(engine.executor().threads(), auto);
    assert!((1..=auto).contains(&run(&engine)));
}

#[test]
fn pinned_workers_keep_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), Arch::BitnetB158, TensorType::I2S, 5);
    for threads in [1, 2] {
        let config = EngineConfig {
            threads,
            pin_threads: true,
            ..EngineConfig::default()
        };
        let engine = Engine::load(&path, config).expect("loads");
        assert!((1..=threads).contains(&run(&engine)));
    }
}

#[test]
fn concurrent_sessions_share_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), Arch::BitnetB158, TensorType::I2S, 5);
    for threads in [1, 2, 3] {
        let config = EngineConfig {
            threads,
            ..EngineConfig::default()
        };
        let engine = Engine::load(&path, config).expect("loads");
        let used: Vec<usize> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..3).map(|_| s.spawn(|| run(&engine))).collect();
            runs.into_iter().map(|r| r.join().expect("joins")).collect()
        });
        assert!(
            used.iter().all(|&n| (1..=threads).contains(&n)),
            "{threads} threads: {used:?}"
        );
    }
}
