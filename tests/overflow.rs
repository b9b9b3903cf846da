//! A history that outgrows the session's context: a typed error that leaves the session as it
//! was under the default policy, and the oldest turns dropped (system message kept) under
//! `OverflowPolicy::DropOldestTurns`.

use bitnet_core::chat::Message;
use bitnet_core::engine::{Engine, FinishReason, Input, OverflowPolicy, Segment, SessionConfig};
use bitnet_core::Error;
use bitnet_tests::{assistant, generate, greedy, system, tiny_engine, user};

/// Context length of the sessions here, in tokens.
const CONTEXT: usize = 64;

fn session(engine: &Engine, overflow: OverflowPolicy) -> bitnet_core::engine::Session {
    engine
        .session(SessionConfig {
            context_length: CONTEXT,
            overflow: Some(overflow),
        })
        .expect("a session")
}

/// Tokens of the prompt for `messages` (BOS, the messages, the reply's opening).
fn prompt_tokens(engine: &Engine, messages: &[Message]) -> usize {
    let tokenizer = engine.tokenizer();
    let text = engine.chat_template().render(messages, true);
    tokenizer.encode(&text, tokenizer.add_bos()).unwrap().len()
}

fn segments(messages: &[Message]) -> Vec<Segment> {
    messages.iter().cloned().map(Segment::Message).collect()
}

#[test]
fn an_overflowing_history_is_context_full_and_changes_nothing() {
    let (_dir, engine) = tiny_engine();
    let mut s = session(&engine, OverflowPolicy::default());
    let turn1 = vec![system("Be brief."), user("Hello")];
    let (g1, _) = generate(
        &mut s,
        Input::Chat {
            messages: turn1.clone(),
        },
        &greedy(8),
    )
    .unwrap();
    let before = s.history().to_vec();
    let cached = s.cached_tokens();

    let long = user(&"the ".repeat(40));
    let mut whole = turn1.clone();
    whole.extend([assistant(&g1.text), long.clone()]);
    let needed = prompt_tokens(&engine, &whole) + 1;
    assert!(needed > CONTEXT && prompt_tokens(&engine, std::slice::from_ref(&long)) < CONTEXT - 1);
    let err = generate(
        &mut s,
        Input::Chat {
            messages: vec![long],
        },
        &greedy(8),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::ContextFull { needed: n, context: CONTEXT } if n == needed),
        "{err:?}"
    );
    assert_eq!(s.history(), before.as_slice());
    assert_eq!(s.cached_tokens(), cached);
    // The session still works for a turn that fits.
    assert!(generate(
        &mut s,
        Input::Chat {
            messages: vec![user("Hi")]
        },
        &greedy(4)
    )
    .is_ok());
}

#[test]
fn dropping_the_oldest_turns_keeps_the_system_message() {
    let (_dir, engine) = tiny_engine();
    let mut s = session(&engine, OverflowPolicy::DropOldestTurns);
    let sys = system("Be brief.");
    let questions = [
        "Hello, who are you?",
        "What is the model?",
        "Tell me more about the text.",
        "And what about the token?",
        "What is the answer to the question?",
        "Is that all there is?",
    ];
    let mut dropped_any = false;
    for (i, question) in questions.iter().enumerate() {
        let mut input = Vec::new();
        if i == 0 {
            input.push(sys.clone());
        }
        input.push(user(question));
        let before = s.history().len();
        let (g, _) = generate(&mut s, Input::Chat { messages: input }, &greedy(12)).unwrap();
        let history = s.history().to_vec();
        dropped_any |= history.len() < before + 2;
        assert_eq!(history[0], Segment::Message(sys.clone()));
        assert_eq!(
            history[history.len() - 2..],
            segments(&[user(question), assistant(&g.text)])
        );

        // A fresh session fed the kept history replies the same.
        let kept: Vec<Message> = history[..history.len() - 1]
            .iter()
            .map(|segment| match segment {
                Segment::Message(m) => m.clone(),
                Segment::Text(t) => panic!("unexpected raw text {t:?}"),
            })
            .collect();
        assert!(prompt_tokens(&engine, &kept) < CONTEXT);
        let mut fresh = session(&engine, OverflowPolicy::DropOldestTurns);
        let (expected, _) =
            generate(&mut fresh, Input::Chat { messages: kept }, &greedy(12)).unwrap();
        assert_eq!(g.tokens, expected.tokens, "turn {i}");
        assert_ne!(g.finish_reason, FinishReason::Cancelled);
    }
    assert!(dropped_any, "the conversation never outgrew the context");
}
