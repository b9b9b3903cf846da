//! The trained demo model that ships in `sample-apps/demo-model` through the library: the
//! README's conversation, and the right replies the training framework recorded for its
//! held-out questions. (Where the model is unsure — a wrong reply — the two implementations'
//! float rounding may pick different wrong tokens; tests/python/test_demo_model.py reports how
//! often.)

use std::path::PathBuf;

use bitnet_core::engine::{Input, SessionConfig};
use bitnet_tests::{generate, greedy, load, user};
use serde_json::Value as Json;

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-apps/demo-model")
}

#[test]
fn holds_the_readme_conversation_on_one_kv_cache() {
    let engine = load(&demo_dir().join("bitnet-demo-i2_s.gguf"));
    let mut session = engine.session(SessionConfig::default()).unwrap();
    let (first, _) = generate(
        &mut session,
        Input::Chat {
            messages: vec![user("What is 17 + 25?")],
        },
        &greedy(32),
    )
    .unwrap();
    assert_eq!(first.text, "42");
    let (second, pieces) = generate(
        &mut session,
        Input::Chat {
            messages: vec![user("Reverse the list: red, green, blue")],
        },
        &greedy(32),
    )
    .unwrap();
    assert_eq!(second.text, "Reversed: blue, green, red");
    assert_eq!(pieces.concat(), second.text);
    assert!(second.stats.cached_tokens > 0, "{:?}", second.stats);
}

#[test]
fn gives_the_right_replies_the_training_framework_recorded() {
    let engine = load(&demo_dir().join("bitnet-demo-i2_s.gguf"));
    let text = std::fs::read_to_string(demo_dir().join("eval.json")).unwrap();
    let eval: Json = serde_json::from_str(&text).unwrap();
    let questions = eval["questions"].as_array().unwrap();
    // Every fifth question the framework answered right: every task is represented.
    let right = questions
        .iter()
        .filter(|q| q["framework"] == q["answer"])
        .step_by(5);
    for q in right {
        let mut session = engine.session(SessionConfig::default()).unwrap();
        let question = q["question"].as_str().unwrap();
        let (reply, _) = generate(
            &mut session,
            Input::Chat {
                messages: vec![user(question)],
            },
            &greedy(64),
        )
        .unwrap();
        assert_eq!(reply.text, q["framework"].as_str().unwrap(), "{question}");
    }
}
