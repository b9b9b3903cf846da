//! The settings and reports added to the bindings, against the tiny synthetic model: memory
//! estimates equal the core's, an invalid thermal policy is `InvalidOption`, and metrics count
//! what the sessions did.

use std::path::Path;
use std::sync::Arc;

use bitnet_core::engine::{Engine, EngineConfig as CoreConfig};
use bitnet_ffi::{
    default_thermal_policy, estimate_memory, BitNetEngine, BitNetError, EngineConfig,
    GenerationEvent, GenerationListener, GenerationOptions, Prompt, SessionConfig, ThermalPolicy,
    Throttle,
};

struct Ignore;

impl GenerationListener for Ignore {
    fn on_event(&self, _: GenerationEvent) {}
}

/// Runs `future` on a current-thread tokio runtime (the exported async fns need one).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

fn path(model: &Path) -> String {
    model.to_string_lossy().into_owned()
}

#[test]
fn estimates_are_the_cores() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let model = bitnet_tests::tiny_model(dir.path());
    let core = Engine::estimate(&model, &CoreConfig::default()).expect("the core estimates");
    let estimate = block_on(estimate_memory(path(&model), EngineConfig::default()))
        .expect("the bindings estimate");
    assert_eq!(estimate, core);
    let engine = block_on(BitNetEngine::load(path(&model), EngineConfig::default()))
        .expect("the model loads");
    assert_eq!(engine.memory_estimate().expect("open"), estimate);
    engine.release();
    assert!(matches!(
        engine.memory_estimate(),
        Err(BitNetError::Closed { .. })
    ));
}

#[test]
fn an_invalid_thermal_policy_is_invalid_option() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let model = bitnet_tests::tiny_model(dir.path());
    let policy = ThermalPolicy {
        serious: Throttle::Run {
            threads_percent: 0,
            pause_ms: 0,
        },
        ..default_thermal_policy()
    };
    let config = EngineConfig {
        thermal_policy: Some(policy),
        ..EngineConfig::default()
    };
    let Err(BitNetError::InvalidOption { detail, name }) =
        block_on(BitNetEngine::load(path(&model), config))
    else {
        panic!("a 0 % thread share loaded");
    };
    assert_eq!(name, "thermal_policy");
    assert!(detail.contains("serious"), "{detail}");
}

#[test]
fn metrics_count_requests_errors_and_tokens() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let model = bitnet_tests::tiny_model(dir.path());
    block_on(async {
        let engine = BitNetEngine::load(path(&model), EngineConfig::default())
            .await
            .expect("the model loads");
        let session = engine
            .session(SessionConfig {
                context_length: 0,
                overflow: None,
            })
            .expect("a session");
        let options = GenerationOptions {
            max_tokens: 4,
            ..GenerationOptions::default()
        };
        let ok = Arc::clone(&session)
            .generate(
                Prompt::Text {
                    text: "Once upon a time".into(),
                },
                options.clone(),
                Arc::new(Ignore),
            )
            .await
            .expect("generates");
        let empty = Arc::clone(&session)
            .generate(
                Prompt::Text {
                    text: String::new(),
                },
                options,
                Arc::new(Ignore),
            )
            .await;
        assert!(matches!(empty, Err(BitNetError::EmptyInput { .. })));
        let m = engine.metrics().expect("open");
        assert_eq!((m.requests, m.errors), (2, 1));
        assert_eq!(m.error_rate_percent, 50.0);
        assert_eq!(m.prompt_tokens, ok.stats.prompt_tokens as u64);
        assert_eq!(m.generated_tokens, ok.stats.generated_tokens as u64);
    });
}
