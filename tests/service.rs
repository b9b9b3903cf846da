//! Service limits and metrics on the tiny synthetic model: the input, output, rate and time
//! limits each give their typed error; metrics and health report known traffic exactly.

use bitnet_core::engine::{Engine, EngineConfig, Event, FinishReason, Input, SessionConfig};
use bitnet_core::runtime::health::{Alert, HealthThresholds};
use bitnet_core::runtime::thermal::ThermalState;
use bitnet_core::Error;
use bitnet_tests::{assert_invalid_option, greedy, tiny_model};

fn engine(dir: &std::path::Path, config: EngineConfig) -> Engine {
    Engine::load(tiny_model(dir), config).expect("loads")
}

fn text(s: &str) -> Input {
    Input::Text { text: s.into() }
}

#[test]
fn input_and_output_limits_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        max_input_tokens: 8,
        max_output_tokens: 16,
        ..EngineConfig::default()
    };
    let engine = engine(dir.path(), config);
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let mut sink = |_: Event<'_>| {};
    let long = "many words make a long input ".repeat(4);
    let err = session
        .generate(text(&long), &greedy(4), None, &mut sink)
        .unwrap_err();
    assert!(
        matches!(err, Error::PromptTooLong { limit: 8, tokens } if tokens > 8),
        "{err:?}"
    );
    let err = session
        .generate(text("hi"), &greedy(17), None, &mut sink)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                name: "max_tokens",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(session.history().is_empty());
}

#[test]
fn the_rate_limit_refuses_the_request_over_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        rate_limit_per_minute: Some(2),
        ..EngineConfig::default()
    };
    let engine = engine(dir.path(), config);
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let mut sink = |_: Event<'_>| {};
    // The limit is per engine: two sessions share it.
    let mut other = engine.session(SessionConfig::default()).expect("session");
    session
        .generate(text("a"), &greedy(2), None, &mut sink)
        .expect("first");
    other
        .generate(text("b"), &greedy(2), None, &mut sink)
        .expect("second");
    let err = session
        .generate(text("c"), &greedy(2), None, &mut sink)
        .unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after_ms } if (1..=60_000).contains(&retry_after_ms)),
        "{err:?}"
    );
    assert_eq!(session.history().len(), 2);

    let config = EngineConfig {
        rate_limit_per_minute: Some(0),
        ..EngineConfig::default()
    };
    assert_invalid_option(config, "rate_limit_per_minute");
}

#[test]
fn a_timeout_is_a_typed_error_and_leaves_the_history_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        request_timeout_ms: Some(1),
        ..EngineConfig::default()
    };
    let engine = engine(dir.path(), config);
    let mut session = engine.session(SessionConfig::default()).expect("session");
    // The sink outlasts the limit on the first piece; the check before the next token fires.
    let mut pieces = 0;
    let mut sink = |e: Event<'_>| {
        if let Event::Text(_) = e {
            pieces += 1;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    let err = session
        .generate(text("The answer is"), &greedy(64), None, &mut sink)
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { limit_ms: 1 }), "{err:?}");
    assert!(pieces <= 1, "{pieces}");
    assert!(session.history().is_empty());
    assert!(session.cached_tokens() <= session.context_length());

    let err = Engine::load(
        tiny_model(dir.path()),
        EngineConfig {
            request_timeout_ms: Some(0),
            ..EngineConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidOption {
            name: "request_timeout_ms",
            ..
        }
    ));
}

#[test]
fn metrics_and_health_report_known_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        // Thresholds every run crosses (memory, speed, latency) or never does (CPU).
        health: HealthThresholds {
            max_resident_bytes: 1,
            max_cpu_percent: u32::MAX,
            min_decode_tokens_per_s: u32::MAX,
            max_error_rate_percent: 5,
            max_latency_ms: 0,
        },
        ..EngineConfig::default()
    };
    let engine = engine(dir.path(), config);
    let before = engine.metrics();
    assert_eq!((before.requests, before.errors), (0, 0));
    assert_eq!(before.latency_p50_ms, None);

    // Three successes of known length and one error.
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let mut sink = |_: Event<'_>| {};
    let mut done = Vec::new();
    for (input, n) in [("one", 3), (" two", 5), (" three", 7)] {
        let g = session
            .generate(text(input), &greedy(n), None, &mut sink)
            .expect("generates");
        assert_eq!(g.finish_reason, FinishReason::MaxTokens);
        done.push(g.stats);
    }
    let err = session
        .generate(text("x"), &greedy(0), None, &mut sink)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }));

    let m = engine.metrics();
    assert_eq!((m.requests, m.errors), (4, 1));
    assert_eq!(m.generated_tokens, 3 + 5 + 7);
    let prompt: usize = done.iter().map(|s| s.prompt_tokens).sum();
    assert_eq!(m.prompt_tokens, prompt as u64);
    let mut latencies: Vec<f64> = done.iter().map(|s| s.total_ms).collect();
    latencies.sort_by(f64::total_cmp);
    assert_eq!(m.latency_p50_ms, Some(latencies[1]));
    assert_eq!(m.latency_p95_ms, Some(latencies[2]));
    let mean = done.iter().map(|s| s.decode_tokens_per_s).sum::<f64>() / 3.0;
    let speed = m.decode_tokens_per_s.expect("decoded");
    assert!((speed - mean).abs() <= 1e-9 * mean, "{speed} vs {mean}");
    assert_eq!(
        (m.thermal_state, m.throttle_events),
        (ThermalState::Nominal, 0)
    );
    if cfg!(target_os = "linux") {
        assert!(m.resident_bytes.is_some_and(|b| b > 0));
        assert!(m.peak_resident_bytes >= m.resident_bytes);
        assert!(m.cpu_percent.is_some_and(|c| c >= 0.0));
    }

    let health = engine.health();
    assert!(!health.is_healthy());
    let kinds: Vec<&str> = health
        .alerts
        .iter()
        .map(|a| match a {
            Alert::Memory { .. } => "memory",
            Alert::Cpu { .. } => "cpu",
            Alert::SlowDecode { .. } => "slow decode",
            Alert::ErrorRate { .. } => "error rate",
            Alert::Latency { .. } => "latency",
        })
        .collect();
    let expected = if cfg!(target_os = "linux") {
        vec!["memory", "slow decode", "error rate", "latency"]
    } else {
        vec!["slow decode", "error rate", "latency"]
    };
    assert_eq!(kinds, expected);
    assert!(health.alerts.contains(&Alert::ErrorRate {
        percent: 25.0,
        limit_percent: 5
    }));
    assert_eq!(health.metrics.requests, 4);
}
