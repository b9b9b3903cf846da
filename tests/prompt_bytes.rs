//! A prompt far over the input limit is refused by its length in bytes, before it is
//! tokenized: no memory grows with it. (Its own test binary, so the process's peak resident
//! memory measures this test alone.)

use bitnet_core::engine::{Input, SessionConfig};
use bitnet_core::runtime::memory::peak_resident_bytes;
use bitnet_core::Error;
use bitnet_tests::{generate, greedy, tiny_engine, user};

#[test]
fn a_10_mb_prompt_is_refused_before_tokenizing() {
    let (_dir, engine) = tiny_engine();
    let mut session = engine.session(SessionConfig::default()).unwrap();
    let prompt = "tokens ".repeat(10 << 20 >> 3);
    let before = peak_resident_bytes().expect("peak RSS is readable here");
    for input in [
        Input::Text {
            text: prompt.clone(),
        },
        Input::Chat {
            messages: vec![user(&prompt)],
        },
    ] {
        let err = generate(&mut session, input, &greedy(4)).expect_err("too long");
        let Error::PromptTooLong { tokens, limit } = err else {
            panic!("unexpected {err:?}");
        };
        assert!(tokens > limit, "{tokens} tokens, limit {limit}");
    }
    let grown = peak_resident_bytes().unwrap().saturating_sub(before);
    // The prompt itself is 10 MiB and one rendered copy of it another 10 MiB.
    assert!(grown < 64 << 20, "peak RSS grew by {} MiB", grown >> 20);
}
