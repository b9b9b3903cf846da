//! What must never cross the FFI boundary: a panic. A foreign listener that fails (Kotlin or
//! Swift code that throws makes uniffi panic on the Rust side) ends the call with
//! `BitNetError::Internal`, and the process, the engine and other sessions carry on.

use std::sync::Arc;

use bitnet_ffi::{
    BitNetEngine, BitNetError, EngineConfig, FinishReason, GenerationEvent, GenerationListener,
    GenerationOptions, Prompt, SessionConfig,
};

struct Failing;

impl GenerationListener for Failing {
    fn on_event(&self, _: GenerationEvent) {
        panic!("listener failed");
    }
}

struct Ignore;

impl GenerationListener for Ignore {
    fn on_event(&self, _: GenerationEvent) {}
}

fn options(max_tokens: usize) -> GenerationOptions {
    GenerationOptions {
        max_tokens,
        ..GenerationOptions::default()
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    }
}

fn prompt() -> Prompt {
    Prompt::Text {
        text: "Once upon a time".into(),
    }
}

#[test]
fn a_failing_listener_is_an_internal_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let model = bitnet_tests::tiny_model(dir.path());
    // The exported async fns need a tokio context (uniffi's `async_runtime` gives one to
    // foreign callers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let path = model.to_string_lossy().into_owned();
        let engine = BitNetEngine::load(path, config())
            .await
            .expect("the model loads");
        let session_config = SessionConfig {
            context_length: 0,
            overflow: None,
        };
        let broken = engine.session(session_config.clone()).expect("a session");
        let result = Arc::clone(&broken)
            .generate(prompt(), options(8), Arc::new(Failing))
            .await;
        match result {
            Err(BitNetError::Internal { detail }) => assert!(detail.contains("listener failed")),
            other => panic!("expected Internal, got {other:?}"),
        }
        // The panic may have left that session's cache half-written: it stays unusable...
        let again = Arc::clone(&broken)
            .generate(prompt(), options(8), Arc::new(Ignore))
            .await;
        assert!(matches!(again, Err(BitNetError::Internal { .. })));
        // ...while the engine and a new session work.
        let fresh = engine.session(session_config).expect("a session");
        let summary = fresh
            .generate(prompt(), options(8), Arc::new(Ignore))
            .await
            .expect("a generation");
        assert_eq!(summary.finish_reason, FinishReason::MaxTokens);
    });
}
