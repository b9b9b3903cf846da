//! Speculative decoding by prompt lookup (`EngineConfig::draft_tokens`): the same tokens as
//! plain decoding, greedy and sampled with the same seed, turn after turn, up to a full
//! context; with drafts actually drafted and accepted on repetitive text.

use std::path::PathBuf;

use bitnet_core::engine::{
    Engine, EngineConfig, Event, FinishReason, Generation, Input, SessionConfig, MAX_DRAFT_TOKENS,
};
use bitnet_core::model::KvPrecision;
use bitnet_tests::{assert_invalid_option, greedy, sampled, tiny_model, user};

fn engine(path: &std::path::Path, draft_tokens: usize) -> Engine {
    let config = EngineConfig {
        draft_tokens,
        ..EngineConfig::default()
    };
    Engine::load(path, config).expect("loads")
}

/// Raw-text prompts: repetitive ones (which the drafts copy from) and plain ones.
const PROMPTS: [&str; 4] = [
    "one two three four one two three four one two three four one two",
    "the cat sat on the mat and the cat sat on the mat and the cat",
    "Once upon a time",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f",
];

/// The generations of `options` over [`PROMPTS`] on fresh sessions, with the tokens each
/// session holds in its cache afterwards.
fn run_all(
    engine: &Engine,
    options: &bitnet_core::engine::GenerationOptions,
) -> Vec<(Generation, usize)> {
    PROMPTS
        .iter()
        .map(|p| {
            let mut session = engine.session(SessionConfig::default()).expect("session");
            let generation = session
                .generate(
                    Input::Text { text: (*p).into() },
                    options,
                    None,
                    &mut |_: Event<'_>| {},
                )
                .expect("generates");
            (generation, session.cached_tokens())
        })
        .collect()
}

/// `turns` as user messages on one session, each generation with the tokens the session holds
/// in its cache after it.
fn conversation(
    engine: &Engine,
    turns: &[&str],
    options: &bitnet_core::engine::GenerationOptions,
) -> Vec<(Generation, usize)> {
    let mut session = engine.session(SessionConfig::default()).expect("session");
    turns
        .iter()
        .map(|turn| {
            let g = session
                .generate(
                    Input::Chat {
                        messages: vec![user(turn)],
                    },
                    options,
                    None,
                    &mut |_: Event<'_>| {},
                )
                .expect("generates");
            (g, session.cached_tokens())
        })
        .collect()
}

/// The same tokens, text and finish, and the same cache left behind.
fn same(a: &[(Generation, usize)], b: &[(Generation, usize)]) {
    for ((x, x_cached), (y, y_cached)) in a.iter().zip(b) {
        assert_eq!(x.tokens, y.tokens);
        assert_eq!(x.text, y.text);
        assert_eq!(x.finish_reason, y.finish_reason);
        assert_eq!(x_cached, y_cached);
    }
}

#[test]
fn greedy_and_sampled_output_is_plain_decodings_token_for_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let plain = engine(&path, 0);
    let mut rejected = 0;
    for options in [greedy(48), sampled(0.8, 7, 48), sampled(1.5, 11, 48)] {
        let reference = run_all(&plain, &options);
        assert!(reference.iter().all(|(g, _)| g.stats.drafted_tokens == 0));
        for draft in [1, 4, MAX_DRAFT_TOKENS] {
            let fast = run_all(&engine(&path, draft), &options);
            same(&reference, &fast);
            rejected += fast
                .iter()
                .map(|(g, _)| g.stats.drafted_tokens - g.stats.accepted_tokens)
                .sum::<usize>();
        }
    }
    assert_eq!(rejected, 0, "this model repeats itself, drafts always hold");

    // The drafts are used: on this text most drafted tokens are accepted.
    let fast = run_all(&engine(&path, 4), &greedy(48));
    let drafted: usize = fast.iter().map(|(g, _)| g.stats.drafted_tokens).sum();
    let accepted: usize = fast.iter().map(|(g, _)| g.stats.accepted_tokens).sum();
    eprintln!("greedy, 4 drafted per pass: {accepted} of {drafted} accepted");
    assert!(accepted > 0 && accepted <= drafted);
}

#[test]
fn with_a_q8_0_cache_drafts_give_plain_decodings_tokens() {
    // Rows are quantised one by one, so rolled-back drafts leave nothing behind.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let q8 = |draft_tokens| {
        let config = EngineConfig {
            draft_tokens,
            kv_precision: Some(KvPrecision::Q8_0),
            ..EngineConfig::default()
        };
        Engine::load(&path, config).expect("loads")
    };
    for options in [greedy(48), sampled(0.8, 7, 48)] {
        let reference = run_all(&q8(0), &options);
        for draft in [1, 4, MAX_DRAFT_TOKENS] {
            same(&reference, &run_all(&q8(draft), &options));
        }
    }
}

#[test]
fn on_the_trained_demo_model_rejected_drafts_change_nothing() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-apps/demo-model/bitnet-demo-i2_s.gguf");
    let turns = [
        "Reverse the list: red, green, blue, yellow, orange, purple, black, white",
        "What is the spelling of strawberry?",
        "Define cynic.",
    ];
    let (mut drafted, mut accepted) = (0, 0);
    for options in [greedy(64), sampled(0.8, 7, 64), sampled(1.2, 3, 64)] {
        let replies = [0, 4].map(|draft| {
            conversation(&engine(&path, draft), &turns, &options)
                .into_iter()
                .map(|(g, cached)| {
                    drafted += g.stats.drafted_tokens;
                    accepted += g.stats.accepted_tokens;
                    (g.tokens, g.finish_reason, cached)
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(replies[0], replies[1]);
    }
    eprintln!("demo model, 4 drafted per pass: {accepted} of {drafted} accepted");
    assert!(accepted < drafted, "some drafts were rejected");
}

#[test]
fn a_stop_string_met_inside_a_draft_ends_as_plain_decoding_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let plain = engine(&path, 0);
    let fast = engine(&path, 8);
    let reference = run_all(&plain, &greedy(48));
    let mut stopped = 0;
    for (i, (g, _)) in reference.iter().enumerate() {
        // A stop string met midway (the reply's first half): the token completing it is
        // usually one a draft evaluated ahead.
        let chars: Vec<char> = g.text.chars().collect();
        if chars.len() < 8 {
            continue;
        }
        let stop: String = chars[..chars.len() / 2].iter().collect();
        let options = bitnet_core::engine::GenerationOptions {
            stop: vec![stop],
            ..greedy(48)
        };
        let one = |engine: &Engine| {
            let mut session = engine.session(SessionConfig::default()).expect("session");
            let g = session
                .generate(
                    Input::Text {
                        text: PROMPTS[i].into(),
                    },
                    &options,
                    None,
                    &mut |_: Event<'_>| {},
                )
                .expect("generates");
            (g, session.cached_tokens())
        };
        let (a, b) = (one(&plain), one(&fast));
        same(&[a], &[b]);
        stopped += 1;
    }
    assert!(stopped > 0);
}

#[test]
fn a_conversation_continues_identically_after_speculative_turns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let turns = [
        "repeat: red green blue red green blue red",
        "again, and again",
        "one more",
    ];
    let replies = [0, 4].map(|draft| {
        conversation(&engine(&path, draft), &turns, &greedy(40))
            .into_iter()
            .map(|(g, cached)| (g.tokens, g.stats.cached_tokens, cached))
            .collect::<Vec<_>>()
    });
    // Same replies, the same cache reuse and the same cache after each turn: the drafts left
    // the cache as plain decoding does.
    assert_eq!(replies[0], replies[1]);
}

#[test]
fn a_context_filling_up_ends_where_plain_decoding_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_model(dir.path());
    let mut ends = Vec::new();
    for draft in [0, 8] {
        let engine = engine(&path, draft);
        let mut session = engine
            .session(SessionConfig {
                context_length: 40,
                ..SessionConfig::default()
            })
            .expect("session");
        let g = session
            .generate(
                Input::Text {
                    text: PROMPTS[0].into(),
                },
                &greedy(200),
                None,
                &mut |_: Event<'_>| {},
            )
            .expect("generates");
        ends.push((g.tokens, g.finish_reason, session.cached_tokens()));
    }
    assert_eq!(ends[0].1, FinishReason::ContextFull);
    assert_eq!(ends[0], ends[1]);
}

#[test]
fn more_than_the_most_draft_tokens_is_an_invalid_option() {
    let config = EngineConfig {
        draft_tokens: MAX_DRAFT_TOKENS + 1,
        ..EngineConfig::default()
    };
    assert_invalid_option(config, "draft_tokens");
}
