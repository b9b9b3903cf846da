//! Engine and session behaviour on the tiny synthetic model: cancellation, multi-turn KV reuse,
//! stop strings, limits, determinism, typed errors and sharing the engine across threads.
//!
//! The synthetic model's logits are very peaked (a token tends to repeat itself with a margin of
//! ~20 logits), so greedy output is repetitive and sampling needs a high temperature to vary.

use std::sync::{mpsc, Barrier};
use std::thread;

use bitnet_authoring::GgufWriter;
use bitnet_core::engine::{
    CancelToken, Engine, EngineConfig, Event, FinishReason, Generation, GenerationOptions, Input,
    Session, SessionConfig,
};
use bitnet_core::gguf::{GgufError, GgufFile, Value};
use bitnet_core::model::{Arch, KvCache, KvPrecision, LogitsFor, ModelError};
use bitnet_core::sampling::{SamplingError, SamplingParams};
use bitnet_core::tokenizer::special;
use bitnet_core::Error;
use bitnet_tests::{
    assistant, generate, generate_cancellable, greedy, load, sampled, stream_pieces, system,
    tiny_engine, tiny_model, user,
};

/// A raw-text prompt whose continuation streams one piece per token.
const PROMPT: &str = "The answer is";

fn session(engine: &Engine) -> Session {
    engine.session(SessionConfig::default()).expect("a session")
}

/// Runs `input` and cancels the request from the sink, on the `k`-th text event.
fn cancel_on_event(
    session: &mut Session,
    input: Input,
    options: GenerationOptions,
    k: usize,
) -> (Generation, Vec<String>) {
    let cancel = CancelToken::new();
    let mut pieces = Vec::new();
    let mut sink = |event: Event<'_>| {
        if let Event::Text(piece) = event {
            pieces.push(piece.to_owned());
            if pieces.len() == k {
                cancel.cancel();
            }
        }
    };
    let generation = session
        .generate(input, &options, Some(&cancel), &mut sink)
        .expect("generates");
    (generation, pieces)
}

/// The smallest `k ≥ min_events` such that the token producing the `k`-th streamed piece of
/// `tokens` leaves no partial UTF-8 character pending (so a generation cancelled right there
/// streams nothing more), with that token's index.
fn clean_cancel_point(engine: &Engine, tokens: &[u32], min_events: usize) -> (usize, usize) {
    let tokenizer = engine.tokenizer();
    let mut streamed = String::new();
    let mut events = 0;
    stream_pieces(tokenizer, tokens)
        .iter()
        .enumerate()
        .find_map(|(i, piece)| {
            if piece.is_empty() {
                return None;
            }
            streamed.push_str(piece);
            events += 1;
            let decoded = tokenizer.decode(&tokens[..=i]).expect("decodes");
            (events >= min_events && decoded == streamed).then_some((events, i))
        })
        .expect("the reference generation has a clean cancel point")
}

/// Cancelling from another thread on the k-th text event stops before the next token; the
/// result holds exactly the tokens and text produced so far. Run greedy and with a high
/// temperature, where some tokens end inside a UTF-8 character and stream nothing.
#[test]
fn cancel_from_another_thread_stops_within_one_token() {
    let (_dir, engine) = tiny_engine();
    for (options, min_events) in [(greedy(64), 3), (sampled(8.0, 3, 64), 20)] {
        let (full, _) = generate(
            &mut session(&engine),
            Input::Text {
                text: PROMPT.into(),
            },
            &options,
        )
        .unwrap();
        assert_eq!(full.finish_reason, FinishReason::MaxTokens);
        let (k, last) = clean_cancel_point(&engine, &full.tokens, min_events);

        let cancel = CancelToken::new();
        let (signal, signalled) = mpsc::channel::<()>();
        let (ack, acked) = mpsc::channel::<()>();
        let canceller = {
            let cancel = cancel.clone();
            thread::spawn(move || {
                signalled.recv().expect("the sink signals");
                cancel.cancel();
                ack.send(()).expect("the sink waits for the ack");
            })
        };
        let mut events = Vec::new();
        let mut sink = |event: Event<'_>| {
            if let Event::Text(piece) = event {
                events.push(piece.to_owned());
                if events.len() == k {
                    signal.send(()).expect("the canceller listens");
                    acked.recv().expect("the canceller acks");
                }
            }
        };
        let generation = session(&engine)
            .generate(
                Input::Text {
                    text: PROMPT.into(),
                },
                &options,
                Some(&cancel),
                &mut sink,
            )
            .expect("generates");
        canceller.join().expect("the canceller finishes");

        assert_eq!(generation.finish_reason, FinishReason::Cancelled);
        assert_eq!(events.len(), k, "text streamed after the cancel");
        assert_eq!(generation.tokens, full.tokens[..=last]);
        assert_eq!(generation.stats.generated_tokens, last + 1);
        assert!(generation.stats.generated_tokens < options.max_tokens);
        assert_eq!(generation.text, events.concat());
        assert_eq!(
            generation.text,
            engine.tokenizer().decode(&generation.tokens).unwrap()
        );
        if options.sampling.temperature > 0.0 {
            assert!(
                k < last + 1,
                "some token before the cancel streamed nothing"
            );
        }
    }
}

#[test]
fn a_request_cancelled_before_it_starts_generates_nothing() {
    let (_dir, engine) = tiny_engine();
    let cancel = CancelToken::new();
    cancel.cancel();
    let mut s = session(&engine);
    let (generation, events) = generate_cancellable(
        &mut s,
        Input::Chat {
            messages: vec![user("Hello")],
        },
        &greedy(8),
        &cancel,
    )
    .unwrap();
    assert_eq!(generation.finish_reason, FinishReason::Cancelled);
    assert!(generation.tokens.is_empty() && generation.text.is_empty() && events.is_empty());
    assert_eq!(generation.stats.generated_tokens, 0);
    // The turn is recorded with its (empty) reply, like any cancelled turn.
    let mut fresh = session(&engine);
    let history = vec![user("Hello"), assistant(""), user("Again")];
    let (expected, _) =
        generate(&mut fresh, Input::Chat { messages: history }, &greedy(8)).unwrap();
    let (next, _) = generate(
        &mut s,
        Input::Chat {
            messages: vec![user("Again")],
        },
        &greedy(8),
    )
    .unwrap();
    assert_eq!(next.tokens, expected.tokens);
}

/// A turn after a cancelled one sees the same history, and gives the same tokens, as a fresh
/// session fed that history (the cancelled reply recorded as it was streamed).
#[test]
fn a_turn_after_a_cancelled_one_matches_a_fresh_session() {
    let (_dir, engine) = tiny_engine();
    let (first, second) = ("Hello there, who are you?", "What is the answer?");
    for options in [greedy(32), sampled(0.8, 42, 32), sampled(5.0, 42, 32)] {
        let mut a = session(&engine);
        let (cancelled, _) = cancel_on_event(
            &mut a,
            Input::Chat {
                messages: vec![user(first)],
            },
            greedy(64),
            3,
        );
        assert_eq!(cancelled.finish_reason, FinishReason::Cancelled);
        assert!(!cancelled.text.is_empty());
        let (turn2, pieces) = generate(
            &mut a,
            Input::Chat {
                messages: vec![user(second)],
            },
            &options,
        )
        .unwrap();

        let mut b = session(&engine);
        let history = vec![user(first), assistant(&cancelled.text), user(second)];
        let (fresh, _) = generate(&mut b, Input::Chat { messages: history }, &options).unwrap();
        assert_eq!(turn2.tokens, fresh.tokens, "{options:?}");
        assert_eq!(turn2.text, fresh.text);
        assert_eq!(turn2.finish_reason, fresh.finish_reason);
        assert_eq!(pieces.concat(), turn2.text);
        assert_eq!(a.history(), b.history());
        assert!(turn2.stats.cached_tokens > 0);
        assert_eq!(fresh.stats.cached_tokens, 0);
    }
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The second turn reuses the KV cache for exactly the prefix its prompt shares with what the
/// first turn evaluated, and replies as a fresh session fed the whole history does.
#[test]
fn a_second_turn_reuses_the_kv_cache() {
    let (_dir, engine) = tiny_engine();
    let tokenizer = engine.tokenizer();
    let template = engine.chat_template();
    let encode = |text: &str| tokenizer.encode(text, tokenizer.add_bos()).unwrap();
    let turn1 = vec![system("You are terse."), user("Hello there!")];
    let turn2 = user("Tell me more about the model.");

    let mut s = session(&engine);
    let (g1, _) = generate(
        &mut s,
        Input::Chat {
            messages: turn1.clone(),
        },
        &greedy(16),
    )
    .unwrap();
    let prompt1 = encode(&template.render(&turn1, true));
    assert_eq!(g1.stats.prompt_tokens, prompt1.len());
    assert_eq!(g1.stats.cached_tokens, 0);
    // The last generated token is sampled but never evaluated.
    let mut evaluated = prompt1;
    evaluated.extend_from_slice(&g1.tokens[..g1.tokens.len() - 1]);
    assert_eq!(s.cached_tokens(), evaluated.len());

    let (g2, _) = generate(
        &mut s,
        Input::Chat {
            messages: vec![turn2.clone()],
        },
        &greedy(16),
    )
    .unwrap();
    let mut history = turn1;
    history.extend([assistant(&g1.text), turn2]);
    let prompt2 = encode(&template.render(&history, true));
    assert_eq!(g2.stats.prompt_tokens, prompt2.len());
    let reusable = common_prefix(&evaluated, &prompt2).min(prompt2.len() - 1);
    assert!(reusable > 0);
    assert_eq!(g2.stats.cached_tokens, reusable);

    let (fresh, _) = generate(
        &mut session(&engine),
        Input::Chat { messages: history },
        &greedy(16),
    )
    .unwrap();
    assert_eq!(fresh.stats.cached_tokens, 0);
    assert_eq!(fresh.stats.prompt_tokens, prompt2.len());
    assert_eq!(g2.tokens, fresh.tokens);
    assert_eq!(g2.text, fresh.text);
}

/// A raw-text continuation is cached too: the next request's prompt extends the text.
#[test]
fn raw_text_continuations_reuse_the_kv_cache() {
    let (_dir, engine) = tiny_engine();
    let mut s = session(&engine);
    let (g1, _) = generate(
        &mut s,
        Input::Text {
            text: PROMPT.into(),
        },
        &greedy(8),
    )
    .unwrap();
    let (g2, _) = generate(
        &mut s,
        Input::Text {
            text: " and then".into(),
        },
        &greedy(8),
    )
    .unwrap();
    let whole = format!("{PROMPT}{} and then", g1.text);
    let (fresh, _) = generate(
        &mut session(&engine),
        Input::Text { text: whole },
        &greedy(8),
    )
    .unwrap();
    assert!(g2.stats.cached_tokens > 0);
    assert_eq!(g2.stats.prompt_tokens, fresh.stats.prompt_tokens);
    assert_eq!(g2.tokens, fresh.tokens);
}

/// A stop string that spans two tokens' text ends the generation at the token completing it;
/// neither the result nor any streamed piece holds any of it.
#[test]
fn a_stop_string_split_across_tokens_is_caught() {
    let (_dir, engine) = tiny_engine();
    let (full, _) = generate(
        &mut session(&engine),
        Input::Text {
            text: PROMPT.into(),
        },
        &greedy(64),
    )
    .unwrap();
    let pieces = stream_pieces(engine.tokenizer(), &full.tokens);
    // The last two characters of one piece and the first two of the next.
    let stop = pieces
        .windows(2)
        .find_map(|w| {
            let tail: Vec<char> = w[0].chars().rev().take(2).collect();
            let head: String = w[1].chars().take(2).collect();
            (tail.len() == 2 && !head.is_empty())
                .then(|| tail.iter().rev().collect::<String>() + &head)
        })
        .expect("two consecutive non-empty pieces");
    assert!(
        pieces.iter().all(|p| !p.contains(&stop)),
        "{stop:?} lies inside one token's text"
    );
    let at = full.text.find(&stop).expect("the stop string occurs");
    let completing = (0..pieces.len())
        .find(|&i| pieces[..=i].concat().contains(&stop))
        .expect("some token completes it");

    let options = GenerationOptions {
        stop: vec![stop.clone()],
        ..greedy(64)
    };
    let (g, events) = generate(
        &mut session(&engine),
        Input::Text {
            text: PROMPT.into(),
        },
        &options,
    )
    .unwrap();
    assert_eq!(g.finish_reason, FinishReason::StopString);
    assert_eq!(g.text, full.text[..at]);
    assert_eq!(events.concat(), g.text);
    assert!(events.iter().all(|e| !e.contains(&stop)));
    assert_eq!(g.tokens, full.tokens[..=completing]);
}

/// Text held back because it might start a stop string is released when the stop string never
/// completes.
#[test]
fn a_stop_string_that_never_completes_holds_nothing_back() {
    let (_dir, engine) = tiny_engine();
    let run = |stop: Vec<String>| {
        let options = GenerationOptions { stop, ..greedy(24) };
        generate(
            &mut session(&engine),
            Input::Text {
                text: PROMPT.into(),
            },
            &options,
        )
        .unwrap()
    };
    let (full, _) = run(Vec::new());
    let last = full.text.chars().last().expect("some text");
    let stop = format!("{last}☃☃");
    assert!(!full.text.contains(&stop));
    let (g, events) = run(vec![stop]);
    assert_eq!(g.finish_reason, FinishReason::MaxTokens);
    assert_eq!(g.text, full.text);
    assert_eq!(events.concat(), full.text);
}

#[test]
fn max_tokens_is_honoured() {
    let (_dir, engine) = tiny_engine();
    for n in [1, 5, 17] {
        let (g, _) = generate(
            &mut session(&engine),
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(n),
        )
        .unwrap();
        assert_eq!(g.finish_reason, FinishReason::MaxTokens);
        assert_eq!((g.tokens.len(), g.stats.generated_tokens), (n, n));
    }
}

/// The synthetic model repeats its last token, so a prompt ending in `<|eot_id|>` makes it emit
/// end-of-turn: the generation ends there and the token's text is not part of the reply.
#[test]
fn an_end_of_turn_token_ends_the_generation() {
    let (_dir, engine) = tiny_engine();
    let tokenizer = engine.tokenizer();
    let prompt = format!("Hello world{}", special::EOT_ID);
    let (g, events) = generate(
        &mut session(&engine),
        Input::Text { text: prompt },
        &greedy(16),
    )
    .unwrap();
    assert_eq!(g.finish_reason, FinishReason::EndOfText);
    let (&end, reply) = g.tokens.split_last().expect("at least the end token");
    assert!(tokenizer.is_end_of_generation(end));
    assert_eq!(g.text, tokenizer.decode(reply).unwrap());
    assert!(!g.text.contains(special::EOT_ID) && !g.text.contains(special::END_OF_TEXT));
    assert_eq!(events.concat(), g.text);
}

#[test]
fn sampling_is_deterministic_per_seed() {
    let (_dir, engine) = tiny_engine();
    let run = |temperature, seed| {
        let options = sampled(temperature, seed, 64);
        generate(
            &mut session(&engine),
            Input::Text {
                text: PROMPT.into(),
            },
            &options,
        )
        .unwrap()
        .0
    };
    for temperature in [1.0, 3.0] {
        let (a, b) = (run(temperature, 7), run(temperature, 7));
        assert_eq!((a.tokens, a.text), (b.tokens, b.text));
    }
    // At temperature 1 the peaked synthetic model draws the same tokens for any seed; at 3
    // different seeds diverge.
    let texts: Vec<String> = (1..=4).map(|seed| run(3.0, seed).text).collect();
    assert!(
        texts[1..].iter().any(|t| *t != texts[0]),
        "four seeds gave the same text: {texts:?}"
    );
}

#[test]
fn a_prompt_longer_than_the_context_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_model(dir.path());
    let engine = load(&path);
    let long = "the model ".repeat(50);
    let tokens = engine.tokenizer().encode(&long, false).unwrap().len();
    let mut s = engine
        .session(SessionConfig {
            context_length: 64,
            ..SessionConfig::default()
        })
        .unwrap();
    let err = generate(&mut s, Input::Text { text: long.clone() }, &greedy(8)).unwrap_err();
    assert!(
        matches!(err, Error::PromptTooLong { tokens: t, limit: 63 } if t == tokens),
        "{err:?}"
    );
    assert!(s.history().is_empty() && s.cached_tokens() == 0);

    // The engine's input limit applies whatever the context.
    let config = EngineConfig {
        max_input_tokens: 10,
        ..EngineConfig::default()
    };
    let limited = Engine::load(&path, config).unwrap();
    let err = generate(
        &mut session(&limited),
        Input::Text { text: long },
        &greedy(8),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::PromptTooLong { tokens: t, limit: 10 } if t == tokens),
        "{err:?}"
    );
}

#[test]
fn invalid_options_are_typed_errors_and_leave_the_session_unchanged() {
    let (_dir, engine) = tiny_engine();
    let mut s = session(&engine);
    let input = || Input::Text {
        text: PROMPT.into(),
    };
    for max_tokens in [0, 1025] {
        let err = generate(&mut s, input(), &greedy(max_tokens)).unwrap_err();
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
    }
    // The largest allowed value passes validation (cancelled up front to keep the test short).
    let cancel = CancelToken::new();
    cancel.cancel();
    let (g, _) = generate_cancellable(&mut s, input(), &greedy(1024), &cancel).unwrap();
    assert_eq!(g.finish_reason, FinishReason::Cancelled);
    s.reset();

    for empty in [
        Input::Text {
            text: String::new(),
        },
        Input::Chat {
            messages: Vec::new(),
        },
    ] {
        let err = generate(&mut s, empty, &greedy(8)).unwrap_err();
        assert!(matches!(err, Error::EmptyInput), "{err:?}");
    }
    let params = |edit: fn(&mut SamplingParams)| {
        let mut p = SamplingParams::default();
        edit(&mut p);
        p
    };
    let bad = [
        (
            params(|p| p.temperature = -1.0),
            SamplingError::Temperature(-1.0),
        ),
        (params(|p| p.top_p = 2.0), SamplingError::TopP(2.0)),
        (params(|p| p.top_p = 0.0), SamplingError::TopP(0.0)),
        (params(|p| p.min_p = 1.5), SamplingError::MinP(1.5)),
        (
            params(|p| p.repetition_penalty = 0.0),
            SamplingError::RepetitionPenalty(0.0),
        ),
    ];
    for (sampling, expected) in bad {
        let options = GenerationOptions {
            sampling,
            ..greedy(8)
        };
        let err = generate(&mut s, input(), &options).unwrap_err();
        assert!(
            matches!(&err, Error::Sampling(e) if *e == expected),
            "{err:?}"
        );
    }
    let nan = GenerationOptions {
        sampling: params(|p| p.temperature = f32::NAN),
        ..greedy(8)
    };
    let err = generate(&mut s, input(), &nan).unwrap_err();
    assert!(matches!(err, Error::Sampling(SamplingError::Temperature(t)) if t.is_nan()));
    assert!(s.history().is_empty() && s.cached_tokens() == 0);

    let err = engine
        .session(SessionConfig {
            context_length: 1,
            ..SessionConfig::default()
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                name: "context_length",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn engine_limits_of_zero_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_model(dir.path());
    for config in [
        EngineConfig {
            max_input_tokens: 0,
            ..EngineConfig::default()
        },
        EngineConfig {
            max_output_tokens: 0,
            ..EngineConfig::default()
        },
    ] {
        let err = Engine::load(&path, config).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    }
}

/// `file` rewritten with `general.architecture` = `arch` and its `<arch>.*` keys renamed.
fn with_arch(file: &GgufFile, arch: &str) -> Vec<u8> {
    let prefix = format!("{}.", file.get_str("general.architecture").unwrap());
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        let value = match key.as_str() {
            "general.architecture" => Value::String(arch.into()),
            _ => value.clone(),
        };
        match key.strip_prefix(&prefix) {
            Some(rest) => w.add(format!("{arch}.{rest}"), value),
            None => w.add(key.clone(), value),
        };
    }
    for t in file.tensors() {
        w.add_tensor(t.name.clone(), &t.dims, t.ty, file.tensor_data(t).to_vec())
            .unwrap();
    }
    w.to_bytes().unwrap()
}

#[test]
fn bad_model_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = tiny_model(dir.path());
    let load_err = |path: &std::path::Path| {
        Engine::load(path, EngineConfig::default()).expect_err("loading must fail")
    };

    let err = load_err(&dir.path().join("missing.gguf"));
    assert!(matches!(err, Error::Gguf(GgufError::Io { .. })), "{err:?}");

    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(
        &garbage,
        b"this is not a model file, just some text".repeat(100),
    )
    .unwrap();
    let err = load_err(&garbage);
    assert!(
        matches!(err, Error::Gguf(GgufError::BadMagic { .. })),
        "{err:?}"
    );

    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&truncated);
    assert!(matches!(err, Error::Gguf(_)), "{err:?}");

    let file = GgufFile::open(&good).unwrap();
    let llama = dir.path().join("llama.gguf");
    std::fs::write(&llama, with_arch(&file, "llama")).unwrap();
    let err = load_err(&llama);
    assert!(
        matches!(&err, Error::Model(ModelError::UnsupportedArch(a)) if a == "llama"),
        "{err:?}"
    );
    // The rewrite itself is sound: the same file under its own architecture loads.
    let same = dir.path().join("same.gguf");
    std::fs::write(&same, with_arch(&file, Arch::BitnetB158.name())).unwrap();
    load(&same);
}

#[test]
fn invalid_token_ids_are_typed_errors() {
    let (_dir, engine) = tiny_engine();
    let vocab = engine.model().config().vocab_size as u32;
    for tokens in [vec![vocab], vec![1, 2, u32::MAX], vec![vocab + 7, 3]] {
        let err = engine.evaluate(&tokens, LogitsFor::All).unwrap_err();
        let bad = *tokens.iter().find(|&&t| t >= vocab).unwrap();
        assert!(
            matches!(err, Error::InvalidToken { token, vocab_size }
                if token == bad && vocab_size == vocab as usize),
            "{err:?}"
        );
    }
    let err = engine.evaluate(&[], LogitsFor::Last).unwrap_err();
    assert!(matches!(err, Error::EmptyInput), "{err:?}");
    let logits = engine.evaluate(&[vocab - 1], LogitsFor::Last).unwrap();
    assert_eq!(logits.len(), vocab as usize);
}

/// The engine is `Send + Sync`; sessions on two threads generate concurrently with the results
/// they give one after the other.
#[test]
fn sessions_on_two_threads_match_sequential_runs() {
    fn shareable<T: Send + Sync>() {}
    fn sendable<T: Send>() {}
    shareable::<Engine>();
    sendable::<Session>();
    sendable::<CancelToken>();

    let (_dir, engine) = tiny_engine();
    let requests = [
        (
            Input::Text {
                text: PROMPT.into(),
            },
            sampled(5.0, 1, 48),
        ),
        (
            Input::Chat {
                messages: vec![system("Be brief."), user("Hello there!")],
            },
            sampled(5.0, 2, 48),
        ),
    ];
    let run = |(input, options): &(Input, GenerationOptions)| {
        let (g, _) = generate(&mut session(&engine), input.clone(), options).unwrap();
        (g.tokens, g.text)
    };
    let sequential: Vec<_> = requests.iter().map(run).collect();
    let start = Barrier::new(requests.len());
    let concurrent: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|request| {
                let (start, engine) = (&start, engine.clone());
                scope.spawn(move || {
                    let mut s = session(&engine);
                    start.wait();
                    let (g, _) = generate(&mut s, request.0.clone(), &request.1).unwrap();
                    (g.tokens, g.text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(concurrent, sequential);
    assert_ne!(sequential[0], sequential[1]);
}

/// A reply that fills the context ends with `ContextFull` after exactly the tokens that fit
/// (the last one sampled but never evaluated).
#[test]
fn a_reply_that_fills_the_context_ends_with_context_full() {
    let (_dir, engine) = tiny_engine();
    let prompt = "the model ".repeat(20);
    let prompt_tokens = engine.tokenizer().encode(&prompt, true).unwrap().len();
    let context = 64;
    assert!(prompt_tokens + 30 > context && prompt_tokens < context);
    let mut s = engine
        .session(SessionConfig {
            context_length: context,
            ..SessionConfig::default()
        })
        .unwrap();
    let (g, events) = generate(&mut s, Input::Text { text: prompt }, &greedy(30)).unwrap();
    assert_eq!(g.finish_reason, FinishReason::ContextFull);
    assert_eq!(g.tokens.len(), context - prompt_tokens + 1);
    assert_eq!(s.cached_tokens(), context);
    assert_eq!(events.concat(), g.text);
}

#[test]
fn a_forward_pass_over_no_tokens_is_empty_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let engine = load(&tiny_model(dir.path()));
    let model = engine.model();
    let mut kv = KvCache::new(model.config(), 8, KvPrecision::F16);
    let mut scratch = engine.scratch(4, 4);
    // Logits of an earlier pass must not survive an empty one.
    model
        .forward(
            engine.executor(),
            &[1, 2],
            &mut kv,
            &mut scratch,
            LogitsFor::All,
        )
        .unwrap();
    kv.truncate(0);
    for which in [LogitsFor::Last, LogitsFor::All] {
        model
            .forward(engine.executor(), &[], &mut kv, &mut scratch, which)
            .expect("no tokens is not an error");
        assert!(scratch.logits().is_empty());
        assert_eq!(kv.len(), 0);
    }
}
