//! Memory budgets: the estimate read from the header, the typed error before anything is
//! allocated, sessions capped to fit, `trim`, and measured peak RSS under the budget (in a
//! child `bitnet` process, so this harness's own memory does not count).

use std::path::{Path, PathBuf};

use bitnet_core::engine::{
    Engine, EngineConfig, Event, Input, MemoryEstimate, SessionConfig, MIN_CONTEXT_TOKENS,
    PREFILL_BATCH,
};
use bitnet_core::model::{Arch, HeadPrecision, KvPrecision, LogitsFor};
use bitnet_core::quant::TensorType;
use bitnet_core::runtime::Profile;
use bitnet_core::sampling::Sampler;
use bitnet_core::Error;
use bitnet_tests::{generate, greedy, run_cli, stdout_of, tiny_model, user};

fn with_budget(budget: u64) -> EngineConfig {
    EngineConfig {
        memory_budget_bytes: Some(budget),
        ..EngineConfig::default()
    }
}

fn estimate(path: &Path) -> MemoryEstimate {
    Engine::estimate(path, &EngineConfig::default()).expect("estimates")
}

#[test]
fn the_estimate_reads_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let e = estimate(&path);
    let engine = bitnet_tests::load(&path);
    let cfg = engine.model().config();
    assert_eq!(
        e.mapped_bytes,
        std::fs::metadata(&path).expect("stat").len()
    );
    assert_eq!(e.kv_precision, engine.kv_precision());
    assert_eq!(
        e.kv_bytes_per_token,
        (cfg.n_layer * 2 * cfg.kv_dim() * 2) as u64
    );
    assert_eq!(e.default_context_tokens, 1024);
    assert_eq!(engine.memory_estimate(), &e);
    // Not counting the mapped weights takes exactly them out of the totals.
    let unmapped = EngineConfig {
        count_mapped_weights: false,
        ..EngineConfig::default()
    };
    let u = Engine::estimate(&path, &unmapped).expect("estimates");
    assert_eq!(e.total_bytes(100) - u.total_bytes(100), e.mapped_bytes);
}

#[test]
fn the_estimate_is_the_plan_and_the_scratch_is_what_the_plan_lays_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = [
        tiny_model(dir.path()),
        bitnet_tests::synth(dir.path(), Arch::Bitnet, TensorType::TQ2_0, 4),
        bitnet_tests::synth(dir.path(), Arch::BitnetB158, TensorType::F32, 4),
    ];
    for path in &models {
        for head in [HeadPrecision::F16, HeadPrecision::Q8_0] {
            let precisions = [
                None,
                Some(KvPrecision::F16),
                Some(KvPrecision::F32),
                Some(KvPrecision::Q8_0),
            ];
            for kv in precisions {
                let config = EngineConfig {
                    head: Some(head),
                    kv_precision: kv,
                    ..EngineConfig::default()
                };
                let plan = Engine::plan(path, &config).expect("plans");
                let what = format!("{} {head:?} {kv:?}", path.display());
                assert_eq!(
                    Engine::estimate(path, &config).expect("estimates"),
                    plan.memory,
                    "{what}"
                );
                let vocab = plan.model.vocab_size;
                assert_eq!(
                    plan.memory.scratch_bytes,
                    plan.scratch.bytes() + Sampler::buffer_bytes(vocab),
                    "{what}"
                );
                let engine = Engine::load(path, config).expect("loads");
                assert_eq!(engine.memory_estimate(), &plan.memory, "{what}");
                assert_eq!(engine.kv_precision(), plan.memory.kv_precision, "{what}");
                // Bytes per token: layers × (keys, values) × kv heads × one row's bytes.
                let cfg = &plan.model;
                let row = match plan.kv_precision {
                    KvPrecision::F16 => 2 * cfg.head_dim,
                    KvPrecision::F32 => 4 * cfg.head_dim,
                    KvPrecision::Q8_0 => 34 * cfg.head_dim.div_ceil(32),
                };
                let per_token = cfg.n_layer * 2 * cfg.n_head_kv * row;
                assert_eq!(plan.memory.kv_bytes_per_token, per_token as u64, "{what}");
                // A session's scratch holds exactly the plan's bytes before and after a full
                // prefill batch and a decoded token.
                let mut scratch = engine.scratch(PREFILL_BATCH, 1);
                assert_eq!(scratch.allocated_bytes(), plan.scratch.bytes(), "{what}");
                let mut kv = bitnet_core::model::KvCache::new(
                    engine.model().config(),
                    PREFILL_BATCH + 1,
                    engine.kv_precision(),
                );
                let tokens: Vec<u32> = (0..PREFILL_BATCH as u32).collect();
                let model = engine.model();
                let exec = engine.executor();
                model
                    .forward(exec, &tokens, &mut kv, &mut scratch, LogitsFor::Last)
                    .expect("prefill");
                model
                    .forward(exec, &[7], &mut kv, &mut scratch, LogitsFor::Last)
                    .expect("decode");
                assert_eq!(scratch.allocated_bytes(), plan.scratch.bytes(), "{what}");
            }
        }
    }
}

/// Replaces the tokenizer model name `gpt2` in the file's metadata by `gpt3` (same length):
/// building the tokenizer then fails, so an error other than `Tokenizer` shows a check ran
/// before the tokenizer (the first large allocation) was built.
fn break_tokenizer(path: &Path) -> PathBuf {
    let mut bytes = std::fs::read(path).expect("reads");
    let needle = b"\x04\0\0\0\0\0\0\0gpt2";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the tokenizer model string");
    bytes[at + needle.len() - 1] = b'3';
    let broken = path.with_extension("broken.gguf");
    std::fs::write(&broken, bytes).expect("writes");
    broken
}

#[test]
fn a_budget_below_the_need_fails_before_allocating_with_the_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let needed = estimate(&path).total_bytes(MIN_CONTEXT_TOKENS);
    let budget = needed - 1;
    let err = Engine::load(&path, with_budget(budget)).expect_err("over budget");
    assert!(
        matches!(
            err,
            Error::BudgetExceeded { needed: n, budget: b, context: MIN_CONTEXT_TOKENS, fits_profile: Some(Profile::Mobile) }
                if n == needed && b == budget
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "memory budget exceeded: {needed} bytes needed (with a 256-token context), the budget \
             is {budget} bytes; the mobile profile (512 MiB) would fit"
        )
    );
    // The check comes before the tokenizer and the model are built.
    let broken = break_tokenizer(&path);
    assert!(matches!(
        Engine::load(&broken, EngineConfig::default()),
        Err(Error::Tokenizer(_))
    ));
    assert!(matches!(
        Engine::load(&broken, with_budget(budget)),
        Err(Error::BudgetExceeded { .. })
    ));
    // Exactly the need loads.
    Engine::load(&path, with_budget(needed)).expect("fits");
}

#[test]
fn a_tight_budget_caps_the_session_context() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let e = estimate(&path);
    let budget = e.total_bytes(300);
    let engine = Engine::load(&path, with_budget(budget)).expect("loads");

    let mut session = engine.session(SessionConfig::default()).expect("capped");
    assert_eq!(session.context_length(), 300);
    let (g, _) = generate(
        &mut session,
        Input::Chat {
            messages: vec![user("hi")],
        },
        &greedy(8),
    )
    .expect("runs");
    assert!(g.stats.generated_tokens > 0);
    // A shorter context is granted as asked.
    drop(session);
    let short = SessionConfig {
        context_length: 100,
        ..SessionConfig::default()
    };
    let first = engine.session(short).expect("fits");
    assert_eq!(first.context_length(), 100);
    // What remains (200 tokens' worth, less a second session's scratch) is below the
    // minimum: refused, with the numbers.
    let err = engine
        .session(SessionConfig::default())
        .expect_err("nothing useful fits");
    let expected = e.total_bytes(100) + e.session_bytes(MIN_CONTEXT_TOKENS);
    assert!(
        matches!(err, Error::BudgetExceeded { needed, budget: b, context: MIN_CONTEXT_TOKENS, .. } if needed == expected && b == budget),
        "{err:?}"
    );
    // Dropping a session gives its reservation back.
    drop(first);
    let again = engine
        .session(SessionConfig::default())
        .expect("fits again");
    assert_eq!(again.context_length(), 300);
}

#[test]
fn without_a_budget_sessions_get_what_they_ask() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = bitnet_tests::load(&tiny_model(dir.path()));
    assert_eq!(engine.config().memory_budget_bytes, None);
    let s = engine.session(SessionConfig::default()).expect("session");
    assert_eq!(s.context_length(), 1024);
}

#[test]
fn trim_frees_idle_sessions_which_then_continue_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = bitnet_tests::load(&tiny_model(dir.path()));
    let mut trimmed = engine.session(SessionConfig::default()).expect("session");
    let mut twin = engine.session(SessionConfig::default()).expect("session");
    let turn1 = Input::Chat {
        messages: vec![user("Tell me about memory.")],
    };
    let turn2 = Input::Chat {
        messages: vec![user("And again?")],
    };
    for s in [&mut trimmed, &mut twin] {
        generate(s, turn1.clone(), &greedy(12)).expect("turn 1");
    }
    drop(twin);
    // Only the live session (the twin is gone) is trimmed.
    assert_eq!(engine.trim().sessions, 1);
    assert_eq!(trimmed.cached_tokens(), 0);
    assert_eq!(engine.trim().sessions, 0, "nothing left to free");

    let mut twin = engine.session(SessionConfig::default()).expect("session");
    generate(&mut twin, turn1, &greedy(12)).expect("turn 1");
    let (after_trim, _) = generate(&mut trimmed, turn2.clone(), &greedy(12)).expect("turn 2");
    let (kept, _) = generate(&mut twin, turn2, &greedy(12)).expect("turn 2");
    assert_eq!(after_trim.tokens, kept.tokens);
    assert_eq!(after_trim.stats.cached_tokens, 0, "history re-evaluated");
    assert!(kept.stats.cached_tokens > 0);
    assert!(trimmed.cached_tokens() > 0);
}

#[test]
fn trim_leaves_a_generating_session_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = bitnet_tests::load(&tiny_model(dir.path()));
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let mut trims = Vec::new();
    // The sink runs on the generating thread while the request holds the session's caches.
    let g = session
        .generate(
            Input::Text {
                text: "Once upon a time".into(),
            },
            &greedy(4),
            None,
            &mut |_: Event<'_>| trims.push(engine.trim().sessions),
        )
        .expect("generates");
    assert!(
        !trims.is_empty() && trims.iter().all(|&n| n == 0),
        "{trims:?}"
    );
    assert_eq!(
        session.cached_tokens(),
        g.stats.prompt_tokens + g.tokens.len() - 1
    );
}

#[test]
fn stats_carry_resident_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = bitnet_tests::load(&tiny_model(dir.path()));
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let (g, _) = generate(
        &mut session,
        Input::Text {
            text: "Hello".into(),
        },
        &greedy(4),
    )
    .expect("runs");
    if cfg!(target_os = "linux") {
        let now = g.stats.resident_bytes.expect("resident");
        let peak = g.stats.peak_resident_bytes.expect("peak");
        assert!(now > 0 && peak >= now);
    }
}

#[test]
fn profiles_are_presets_of_the_engine_config() {
    let c = EngineConfig::from_profile(Profile::Edge);
    assert_eq!((c.threads, c.memory_budget_bytes), (4, Some(1 << 30)));
    assert_eq!(c.max_concurrent_generations, Some(2));
    assert!(c.count_mapped_weights);
    assert!(!EngineConfig::from_profile(Profile::Mobile).count_mapped_weights);
    assert_eq!(c.max_input_tokens, EngineConfig::default().max_input_tokens);
}

/// Runs `bitnet generate` on `model` with a budget of the estimate for `ctx` tokens and a
/// prompt filling most of that context; returns (budget, the run's peak RSS).
fn peak_rss_under_budget(
    model: &Path,
    ctx: usize,
    prompt_words: usize,
    max_tokens: usize,
) -> (u64, u64) {
    let model = model.to_str().expect("UTF-8 path");
    let ctx = ctx.to_string();
    let report = stdout_of(&run_cli(
        &["estimate", model, "--ctx", &ctx, "--json"],
        None,
    ));
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    let budget = report["total_bytes"].as_u64().expect("total");
    let prompt = "memory ".repeat(prompt_words);
    let out = run_cli(
        &[
            "generate",
            model,
            "--ctx",
            &ctx,
            "--memory-budget",
            &budget.to_string(),
            "-n",
            &max_tokens.to_string(),
            "-p",
            &prompt,
            "--stats-json",
        ],
        None,
    );
    stdout_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats: serde_json::Value =
        serde_json::from_str(stderr.lines().last().expect("a stats line")).expect("JSON");
    assert_eq!(stats["context_length"], ctx.parse::<u64>().expect("ctx"));
    (
        budget,
        stats["peak_resident_bytes"].as_u64().expect("peak RSS"),
    )
}

#[test]
fn peak_rss_stays_under_the_budget_tiny_model() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (budget, peak) = peak_rss_under_budget(&tiny_model(dir.path()), 1024, 200, 64);
    assert!(peak <= budget, "peak RSS {peak} > budget {budget}");
}

#[test]
fn peak_rss_stays_under_the_budget_small_model() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("small.gguf");
    let out = path.to_str().expect("UTF-8 path");
    stdout_of(&run_cli(&["synth", "--preset", "small", "-o", out], None));
    let (budget, peak) = peak_rss_under_budget(&path, 256, 40, 8);
    assert!(peak <= budget, "peak RSS {peak} > budget {budget}");
    // The mapped weights alone are most of it: the estimate is not vacuous.
    assert!(peak >= std::fs::metadata(&path).expect("stat").len());
}

#[test]
fn the_cli_takes_profiles_and_budgets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let model = path.to_str().expect("UTF-8 path");
    let report = stdout_of(&run_cli(
        &["estimate", model, "--profile", "mobile", "--json"],
        None,
    ));
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    assert_eq!(report["budget_bytes"], 512u64 << 20);
    assert_eq!(report["loads"], true);
    assert_eq!(report["smallest_profile"], "mobile");
    // An explicit budget overrides the profile's; too small a one is the typed error's text.
    let out = run_cli(
        &[
            "generate",
            model,
            "--profile",
            "mobile",
            "--memory-budget",
            "1M",
            "-p",
            "hi",
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("memory budget exceeded")
            && stderr.contains("the budget is 1048576 bytes")
            && stderr.contains("the mobile profile (512 MiB) would fit"),
        "{stderr}"
    );
    let out = run_cli(
        &["generate", model, "--memory-budget", "lots", "-p", "hi"],
        None,
    );
    assert!(!out.status.success());
}
