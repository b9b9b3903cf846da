//! The benchmark routine shared by `bitnet bench` and the apps' benchmark screens, on the tiny
//! synthetic model: what a run reports, how it refuses an empty configuration, and what a
//! cancelled run keeps.

use bitnet_core::bench::{self, BenchConfig};
use bitnet_core::engine::CancelToken;
use bitnet_core::Error;
use bitnet_tests::tiny_engine;

fn small() -> BenchConfig {
    BenchConfig {
        prompt_tokens: 16,
        gen_tokens: 4,
        reps: 2,
        batch: 8,
        cancel: None,
    }
}

#[test]
fn a_run_reports_every_figure_of_the_engine_it_measured() {
    let (_dir, engine) = tiny_engine();
    let report = bench::run(&engine, &small()).expect("runs");
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
        let err = bench::run(&engine, &config).unwrap_err();
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
    let config = BenchConfig {
        cancel: Some(cancel),
        ..small()
    };
    let report = bench::run(&engine, &config).expect("a cancelled run is not an error");
    assert_eq!(report.reps, 0);
    assert_eq!(report.decode_tokens_per_s.mean, 0.0);
    assert_eq!(report.prefill_tokens_per_s.mean, 0.0);
    assert_eq!(report.roofline_percent, 0.0);
}
