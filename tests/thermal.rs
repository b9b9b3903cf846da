//! The thermal governor end to end on the tiny synthetic model: a source escalating mid-
//! generation is reported to the sink, lowers the threads matmuls run on, paces the tokens,
//! stops cleanly at critical with the partial text, and back at nominal restores the threads.
//!
//! States change from the sink (the platform's push path), so every switch happens at a known
//! token; nothing depends on timing. The sustained benchmark (core and `bitnet bench
//! --sustained`) replays scripted schedules and checks the states and threads it records.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bitnet_core::bench::{self, SustainedConfig};
use bitnet_core::engine::{
    Engine, EngineConfig, Event, FinishReason, Input, Segment, SessionConfig,
};
use bitnet_core::runtime::thermal::{
    ScriptedThermal, ThermalMonitor, ThermalPolicy, ThermalReading, ThermalSource, ThermalState,
    Throttle,
};
use bitnet_core::Error;
use bitnet_tests::{assert_invalid_option, greedy, run_cli, stdout_of, tiny_model};

/// A raw-text prompt whose greedy continuation streams one piece per token.
const PROMPT: &str = "The answer is";

/// The default table with 1 ms (fair) and 2 ms (serious) pauses, to keep the tests fast.
fn quick_policy() -> ThermalPolicy {
    ThermalPolicy {
        fair: Throttle::Run {
            threads_percent: 100,
            pause_ms: 1,
        },
        serious: Throttle::Run {
            threads_percent: 50,
            pause_ms: 2,
        },
        ..ThermalPolicy::default()
    }
}

fn engine(dir: &std::path::Path, threads: usize) -> Engine {
    let config = EngineConfig {
        threads,
        thermal_policy: Some(quick_policy()),
        ..EngineConfig::default()
    };
    Engine::load(tiny_model(dir), config).expect("loads")
}

/// What a sink saw: text pieces, thermal events, and the pool's active threads at each piece.
#[derive(Debug, Default)]
struct Seen {
    pieces: Vec<String>,
    thermal: Vec<(ThermalState, usize, u64)>,
    active_at_piece: Vec<usize>,
}

#[test]
fn escalation_throttles_paces_and_stops_cleanly_then_nominal_restores_the_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), 4);
    let monitor = ThermalMonitor::new();
    engine.set_thermal_source(Some(Arc::new(monitor.clone())));
    let mut session = engine.session(SessionConfig::default()).expect("session");

    // The platform reports fair after the 3rd piece, serious after the 6th, critical after
    // the 9th.
    let mut seen = Seen::default();
    let pool_engine = engine.clone();
    let mut sink = |event: Event<'_>| match event {
        Event::Text(piece) => {
            seen.pieces.push(piece.to_owned());
            seen.active_at_piece
                .push(pool_engine.executor().active_threads());
            let state = match seen.pieces.len() {
                3 => ThermalState::Fair,
                6 => ThermalState::Serious,
                9 => ThermalState::Critical,
                _ => return,
            };
            monitor.report(ThermalReading::of(state));
        }
        Event::Thermal {
            state,
            threads,
            pause_ms,
        } => seen.thermal.push((state, threads, pause_ms)),
        _ => {}
    };
    let g = session
        .generate(
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(200),
            None,
            &mut sink,
        )
        .expect("generates");

    assert_eq!(g.finish_reason, FinishReason::ThermalStop);
    assert_eq!(
        seen.thermal,
        vec![
            (ThermalState::Fair, 4, 1),
            (ThermalState::Serious, 2, 2),
            (ThermalState::Critical, 0, 0),
        ]
    );
    // Each change applies before the token after the piece that triggered it.
    assert_eq!(seen.active_at_piece, vec![4, 4, 4, 4, 4, 4, 2, 2, 2]);
    // The partial reply is the streamed text and joins the history.
    assert_eq!(g.text, seen.pieces.concat());
    assert_eq!(g.tokens.len(), 9);
    assert_eq!(
        session.history().last(),
        Some(&Segment::Text(g.text.clone()))
    );
    // Pauses: fair before tokens 4..=6 (1 ms each), serious before tokens 7..=9 (2 ms each).
    assert_eq!(g.stats.paused_ms, 3 + 3 * 2);
    assert_eq!(g.stats.throttle_events, 3);
    assert_eq!(g.stats.thermal_state, ThermalState::Critical);
    assert_eq!(engine.thermal_state(), ThermalState::Critical);
    assert_eq!(engine.metrics().throttle_events, 3);

    // Still critical: the next request stops before any work, with empty text.
    let g = session
        .generate(
            Input::Text {
                text: " again".into(),
            },
            &greedy(8),
            None,
            &mut |_: Event<'_>| {},
        )
        .expect("generates");
    assert_eq!(
        (g.finish_reason, g.text.as_str()),
        (FinishReason::ThermalStop, "")
    );

    // Back to nominal: reported once, every configured thread again, no pause.
    monitor.report(ThermalReading::of(ThermalState::Nominal));
    let mut events = Vec::new();
    let g = session
        .generate(
            Input::Text {
                text: " more".into(),
            },
            &greedy(8),
            None,
            &mut |e: Event<'_>| {
                if let Event::Thermal {
                    state,
                    threads,
                    pause_ms,
                } = e
                {
                    events.push((state, threads, pause_ms));
                }
            },
        )
        .expect("generates");
    assert_eq!(events, vec![(ThermalState::Nominal, 4, 0)]);
    assert_eq!(engine.executor().active_threads(), 4);
    assert_eq!(g.finish_reason, FinishReason::MaxTokens);
    assert_eq!((g.stats.paused_ms, g.stats.throttle_events), (0, 1));
}

/// Runs a long prompt (prefill batches large enough to split) and returns the stats' peak
/// concurrent kernel threads and the thermal events.
fn long_prompt_run(engine: &Engine) -> (usize, Vec<(ThermalState, usize)>) {
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let prompt = "the quick brown fox jumps over the lazy dog ".repeat(16);
    let mut events = Vec::new();
    let g = session
        .generate(
            Input::Text { text: prompt },
            &greedy(4),
            None,
            &mut |e: Event<'_>| {
                if let Event::Thermal { state, threads, .. } = e {
                    events.push((state, threads));
                }
            },
        )
        .expect("generates");
    assert!((1..=engine.executor().threads()).contains(&g.stats.kernel_threads));
    (g.stats.peak_kernel_threads, events)
}

#[test]
fn a_scripted_serious_state_halves_the_threads_running_matmuls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), 2);
    let (peak, events) = long_prompt_run(&engine);
    assert!((1..=2).contains(&peak), "{peak}");
    assert!(events.is_empty());

    let script = ScriptedThermal::parse("0s:serious").expect("parses");
    engine.set_thermal_source(Some(Arc::new(script)));
    let (peak, events) = long_prompt_run(&engine);
    assert_eq!(peak, 1);
    assert_eq!(events, vec![(ThermalState::Serious, 1)]);
}

#[test]
fn a_headroom_forecast_of_one_stops_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), 1);
    let monitor = ThermalMonitor::new();
    engine.set_thermal_source(Some(Arc::new(monitor.clone())));
    monitor.report(ThermalReading {
        state: ThermalState::Nominal,
        headroom: Some(1.0),
    });
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let g = session
        .generate(
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(8),
            None,
            &mut |_: Event<'_>| {},
        )
        .expect("generates");
    assert_eq!(g.finish_reason, FinishReason::ThermalStop);
    assert!(g.tokens.is_empty() && g.text.is_empty());
    assert_eq!(g.stats.thermal_state, ThermalState::Critical);
}

#[test]
fn an_invalid_policy_is_a_typed_error() {
    let config = EngineConfig {
        thermal_policy: Some(ThermalPolicy {
            serious: Throttle::Run {
                threads_percent: 0,
                pause_ms: 0,
            },
            ..ThermalPolicy::default()
        }),
        ..EngineConfig::default()
    };
    assert_invalid_option(config, "thermal_policy");
}

#[test]
fn the_sustained_bench_follows_the_governor_until_it_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), 2);
    let script = ScriptedThermal::parse("0s:serious,1s:critical").expect("parses");
    engine.set_thermal_source(Some(Arc::new(script)));
    let config = SustainedConfig {
        seconds: 30.0,
        sample_ms: 100,
        prompt_tokens: 8,
        context: 16,
    };
    for bad in [
        SustainedConfig {
            seconds: f64::NAN,
            ..config.clone()
        },
        SustainedConfig {
            seconds: -1.0,
            ..config.clone()
        },
        SustainedConfig {
            sample_ms: 0,
            ..config.clone()
        },
        SustainedConfig {
            prompt_tokens: 16,
            ..config.clone()
        },
    ] {
        let err = bench::run_sustained(&engine, &bad).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOption { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let report = bench::run_sustained(&engine, &config).expect("runs");
    let stop = report
        .thermal_stop_s
        .expect("the critical state stops the run");
    assert!(stop >= 1.0, "{stop}");
    let (last, before) = report.samples.split_last().expect("a sample at the stop");
    assert_eq!((last.state, last.threads), (ThermalState::Critical, 0));
    for s in before {
        assert_eq!(
            (s.state, s.threads, s.pause_ms),
            (ThermalState::Serious, 1, 2)
        );
    }
    // The 16-token context (8 decoded tokens after the prompt) filled and started over.
    assert!(report.tokens > 16, "{}", report.tokens);
}

#[test]
fn bitnet_bench_sustained_prints_the_curve_as_csv_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(dir.path());
    let model = model.to_str().expect("UTF-8 path");
    let args = [
        "bench",
        model,
        "-t",
        "2",
        "--sustained",
        "20",
        "--sample-ms",
        "100",
        "--thermal-schedule",
        "0s:nominal,300ms:critical",
    ];
    let csv = stdout_of(&run_cli(&args, None));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "t_s,tokens_per_s,threads,thermal_state,pause_ms");
    assert!(
        lines.last().expect("rows").ends_with(",0,critical,0"),
        "{csv}"
    );
    assert!(lines[1..lines.len() - 1]
        .iter()
        .all(|l| l.ends_with(",2,nominal,0")));

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = stdout_of(&run_cli(&json_args, None));
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(v["thermal_stop_s"].as_f64().is_some_and(|t| t >= 0.3));
    assert_eq!(
        v["samples"]
            .as_array()
            .expect("samples")
            .last()
            .expect("one")["thermal_state"],
        "critical"
    );

    let bad = run_cli(
        &[
            "bench",
            model,
            "--sustained",
            "1",
            "--thermal-schedule",
            "5s:hot",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"hot\""));
}

#[test]
fn bitnet_generate_reports_the_governor_and_stops_at_critical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(dir.path());
    let model = model.to_str().expect("UTF-8 path");
    let args = [
        "generate",
        model,
        "-p",
        PROMPT,
        "-n",
        "8",
        "--thermal-schedule",
        "0s:critical",
    ];
    let out = run_cli(&args, None);
    assert_eq!(stdout_of(&out).trim(), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[thermal critical: 0 threads"), "{stderr}");
    assert!(stderr.contains("[ThermalStop:"), "{stderr}");
}

/// A source that steps through `states`, `polls_each` readings per state, then stays on the
/// last: the same sequence for any run that polls once per token, whatever its speed.
#[derive(Debug)]
struct Steps {
    states: Vec<ThermalState>,
    polls_each: usize,
    polls: AtomicUsize,
}

impl ThermalSource for Steps {
    fn reading(&self) -> ThermalReading {
        let i = self.polls.fetch_add(1, Ordering::Relaxed) / self.polls_each;
        ThermalReading::of(self.states[i.min(self.states.len() - 1)])
    }
}

#[test]
fn generation_and_the_sustained_bench_report_the_same_thermal_changes() {
    use ThermalState::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let steps = || {
        Some(Arc::new(Steps {
            states: vec![Nominal, Fair, Serious, Fair, Critical],
            polls_each: 3,
            polls: AtomicUsize::new(0),
        }) as Arc<dyn ThermalSource>)
    };

    let generating = engine(dir.path(), 2);
    generating.set_thermal_source(steps());
    let mut session = generating
        .session(SessionConfig::default())
        .expect("session");
    let mut seen = Vec::new();
    let g = session
        .generate(
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(64),
            None,
            &mut |e: Event<'_>| {
                if let Event::Thermal {
                    state,
                    threads,
                    pause_ms,
                } = e
                {
                    seen.push((state, threads, pause_ms));
                }
            },
        )
        .expect("generates");
    assert_eq!(g.finish_reason, FinishReason::ThermalStop);

    let benchmarking = engine(dir.path(), 2);
    benchmarking.set_thermal_source(steps());
    let config = SustainedConfig {
        seconds: 30.0,
        sample_ms: 1000,
        prompt_tokens: 8,
        context: 64,
    };
    let report = bench::run_sustained(&benchmarking, &config).expect("runs");
    let recorded: Vec<_> = report
        .thermal_changes
        .iter()
        .map(|c| (c.state, c.threads, c.pause_ms))
        .collect();
    assert_eq!(
        seen,
        [
            (Fair, 2, 1),
            (Serious, 1, 2),
            (Fair, 2, 1),
            (Critical, 0, 0)
        ]
    );
    assert_eq!(recorded, seen);
    assert!(report.thermal_stop_s.is_some());
}
