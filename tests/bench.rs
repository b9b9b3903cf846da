//! The benchmark routine shared by `bitnet bench` and the apps' benchmark screens, on the tiny
//! synthetic model: what a run reports, how it refuses an empty configuration, and what a
//! cancelled run keeps; the workloads, with and without speculative decoding.

use bitnet_core::bench::{self, BenchConfig, Workload};
use bitnet_core::engine::{CancelToken, Engine, EngineConfig};
use bitnet_core::Error;
use bitnet_tests::{run_cli, stdout_of, tiny_engine, tiny_model};

fn small() -> BenchConfig {
    BenchConfig {
        prompt_tokens: 16,
        gen_tokens: 4,
        reps: 2,
        batch: 8,
    }
}

#[test]
fn a_run_reports_every_figure_of_the_engine_it_measured() {
    let (_dir, engine) = tiny_engine();
    let report = bench::run(&engine, &small(), None).expect("runs");
    assert_eq!(report.kernels, engine.executor().kernels().name());
    assert_eq!(report.threads, engine.executor().threads());
    assert_eq!((report.prompt_tokens, report.gen_tokens), (16, 4));
    assert_eq!(report.reps, 2);
    assert_eq!(
        report.bytes_per_token,
        engine.model().weight_bytes_per_token() as u64
    );
    for stat in [
        report.prefill_tokens_per_s,
        report.decode_tokens_per_s,
        report.time_to_first_token_ms,
    ] {
        assert!(stat.mean > 0.0 && stat.sd >= 0.0, "{stat:?}");
    }
    assert!(report.copy_gb_per_s > 0.0);
    if cfg!(target_os = "linux") {
        let footprint = report.footprint_bytes.expect("RssAnon");
        assert!(report.peak_resident_bytes.expect("VmHWM") > 0);
        // The process's peak read now: other tests in this binary allocate meanwhile, so the
        // report's own peak may predate its last footprint reading.
        let peak_now = bitnet_core::runtime::memory::peak_resident_bytes().expect("VmHWM");
        assert!(footprint > 0 && footprint <= peak_now);
    }
    assert!(report.effective_gb_per_s > 0.0 && report.roofline_percent > 0.0);
    let expected = report.bytes_per_token as f64 * report.decode_tokens_per_s.mean / 1e9;
    assert!((report.effective_gb_per_s - expected).abs() <= 1e-12 * expected.max(1.0));
}

#[test]
fn an_empty_configuration_is_an_invalid_option() {
    let (_dir, engine) = tiny_engine();
    for config in [
        BenchConfig {
            prompt_tokens: 0,
            ..small()
        },
        BenchConfig {
            gen_tokens: 0,
            ..small()
        },
        BenchConfig { reps: 0, ..small() },
        BenchConfig {
            batch: 0,
            ..small()
        },
    ] {
        let err = bench::run(&engine, &config, None).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOption { name: "bench", .. }),
            "{err}"
        );
    }
}

#[test]
fn a_cancelled_run_reports_only_the_repetitions_it_finished() {
    let (_dir, engine) = tiny_engine();
    let cancel = CancelToken::new();
    cancel.cancel();
    let report =
        bench::run(&engine, &small(), Some(&cancel)).expect("a cancelled run is not an error");
    assert_eq!(report.reps, 0);
    assert_eq!(report.decode_tokens_per_s.mean, 0.0);
    assert_eq!(report.prefill_tokens_per_s.mean, 0.0);
    assert_eq!(report.roofline_percent, 0.0);
}

#[test]
fn workloads_report_their_turns_and_tokens_per_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    for draft_tokens in [0, 4] {
        let config = EngineConfig {
            draft_tokens,
            ..EngineConfig::default()
        };
        let engine = Engine::load(&path, config).expect("loads");
        for workload in Workload::ALL {
            assert_eq!(Workload::by_name(workload.name()), Some(workload));
            assert!(!workload.prompt().trim().is_empty());
            let r = bench::run_workload(&engine, workload, 24, 2).expect("runs");
            assert_eq!((r.workload, r.reps), (workload, 2));
            assert!(r.prompt_tokens > 20 && r.generated_tokens >= 1.0);
            assert!(r.time_to_first_token_ms.mean > 0.0);
            assert!(r.accepted_tokens <= r.drafted_tokens);
            if draft_tokens == 0 {
                assert_eq!((r.drafted_tokens, r.tokens_per_pass), (0, 1.0));
            } else {
                // This model repeats itself: its drafts hold.
                assert!(r.tokens_per_pass > 1.0, "{r:?}");
            }
        }
    }
    let (_dir, engine) = tiny_engine();
    for (tokens, reps) in [(0, 1), (1, 0)] {
        let err = bench::run_workload(&engine, Workload::Chat, tokens, reps).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    name: "workload bench",
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(Workload::by_name("poetry"), None);
}

#[test]
fn bitnet_bench_workload_prints_the_report_and_refuses_an_unknown_workload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(dir.path());
    let model = model.to_str().expect("UTF-8 path");
    let args = [
        "bench",
        model,
        "--workload",
        "summarise",
        "-n",
        "16",
        "-r",
        "1",
        "--draft-tokens",
        "4",
        "--json",
    ];
    let v: serde_json::Value =
        serde_json::from_str(&stdout_of(&run_cli(&args, None))).expect("JSON");
    assert_eq!(v["workload"], "summarise");
    assert_eq!(v["reps"], 1);
    assert!(v["tokens_per_pass"].as_f64().is_some_and(|t| t >= 1.0));
    assert!(v["decode_tokens_per_s"]["mean"].as_f64().is_some());
    let text = stdout_of(&run_cli(&args[..args.len() - 1], None));
    assert!(text.starts_with("workload summarise:"), "{text}");
    assert!(text.contains("tokens/pass"), "{text}");
    let bad = run_cli(&["bench", model, "--workload", "poetry"], None);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("one of chat, summarise, code"), "{err}");
}

#[test]
fn concurrent_sessions_report_each_count_and_share_steps_when_batching() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let config = bench::SessionsConfig {
        prompt_tokens: 8,
        gen_tokens: 12,
        reps: 2,
        sessions: vec![1, 3],
    };
    for batching in [false, true] {
        let engine = Engine::load(
            &path,
            EngineConfig {
                threads: 2,
                decode_batching: Some(batching),
                ..EngineConfig::default()
            },
        )
        .expect("loads");
        let report = bench::run_sessions(&engine, &config).expect("runs");
        assert_eq!(report.batched, batching);
        assert_eq!(
            (report.prompt_tokens, report.gen_tokens, report.reps),
            (8, 12, 2)
        );
        let counts: Vec<_> = report.rows.iter().map(|r| r.sessions).collect();
        assert_eq!(counts, [1, 3]);
        for row in &report.rows {
            assert!(row.aggregate_tokens_per_s.mean > 0.0, "{row:?}");
            assert!(row.session_tokens_per_s.mean > 0.0, "{row:?}");
            assert!(row.step_ms > 0.0, "{row:?}");
            assert!(row.tokens_per_step >= 1.0 && row.tokens_per_step <= row.sessions as f64);
        }
        if !batching {
            assert!(report.rows.iter().all(|r| r.tokens_per_step == 1.0));
        }
    }
    let engine = Engine::load(&path, EngineConfig::default()).expect("loads");
    for sessions in [
        vec![],
        vec![0],
        vec![2, 0],
        vec![bench::MAX_BENCH_SESSIONS + 1],
    ] {
        let bad = bench::SessionsConfig {
            sessions,
            ..config.clone()
        };
        let err = bench::run_sessions(&engine, &bad).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    }
}

#[test]
fn bitnet_bench_sessions_prints_a_row_per_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(dir.path());
    let model = model.to_str().expect("UTF-8 path");
    let args = [
        "bench",
        model,
        "--sessions",
        "1,2",
        "-p",
        "8",
        "-n",
        "8",
        "-r",
        "1",
        "--decode-batching",
        "true",
        "--json",
    ];
    let v: serde_json::Value =
        serde_json::from_str(&stdout_of(&run_cli(&args, None))).expect("JSON");
    assert_eq!(v["decode_batching"], true);
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["sessions"], 2);
    assert_eq!(rows[0]["gain"], 1.0);
    assert!(rows[1]["aggregate_tokens_per_s"]["mean"]
        .as_f64()
        .is_some_and(|t| t > 0.0));
    let text = stdout_of(&run_cli(&args[..args.len() - 1], None));
    assert!(text.contains("decode batching on"), "{text}");
    assert!(text.contains("aggregate tok/s"), "{text}");
}
