//! The thread limit: matmul work never runs on more threads than `EngineConfig::threads`.

use bitnet_core::engine::{Engine, EngineConfig, Event, Input, SessionConfig};
use bitnet_core::model::Arch;
use bitnet_core::quant::TensorType;
use bitnet_tests::{greedy, synth};

fn kernel_threads(threads: usize, path: &std::path::Path) -> usize {
    let config = EngineConfig {
        threads,
        ..EngineConfig::default()
    };
    let engine = Engine::load(path, config).expect("loads");
    assert_eq!(engine.model().pool().threads(), threads);
    let mut session = engine.session(SessionConfig::default()).expect("session");
    // A long prompt: prefill batches are large enough to be split across workers.
    let prompt = "the quick brown fox jumps over the lazy dog ".repeat(16);
    let g = session
        .generate(Input::Text(prompt), &greedy(16), &mut |_: Event<'_>| {})
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
    // Prefill of 64-token batches on the tiny model splits its larger matmuls.
    assert_eq!(kernel_threads(2, &path), 2);
}
