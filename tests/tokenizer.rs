//! The engine's tokenizer on the built-in vocabulary of synthetic models: merges, any Unicode
//! round trip, special tokens, invalid ids, the streaming decoder, typed errors for bad
//! vocabularies, llama.cpp's pre-tokenizer choices, and the chat templates' control tokens.

use std::path::Path;

use bitnet_authoring::vocabulary;
use bitnet_core::chat::{ChatTemplate, Message, Role};
use bitnet_core::tokenizer::{
    special, StreamDecoder, TokenType, Tokenizer, TokenizerError, TokenizerSpec,
};
use rand::{Rng, SeedableRng};

/// Strings shared with the llama.cpp comparison (`tests/data/tokenizer_cases.json`).
fn shared_cases() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tokenizer_cases.json");
    let text = std::fs::read_to_string(path).expect("read tokenizer_cases.json");
    serde_json::from_str(&text).expect("tokenizer_cases.json is a list of strings")
}

fn builtin() -> Tokenizer {
    Tokenizer::new(&vocabulary::builtin()).expect("builtin vocabulary builds")
}

#[test]
fn builtin_spec_is_deterministic_and_well_formed() {
    let spec = vocabulary::builtin();
    assert_eq!(spec, vocabulary::builtin());
    assert!(spec.merges.len() >= 300, "{} merges", spec.merges.len());
    assert_eq!(spec.tokens.len(), 256 + spec.merges.len() + 5);
    let tok = Tokenizer::new(&spec).expect("builds");
    assert_eq!(tok.vocab_size(), spec.tokens.len());
    assert_eq!(tok.token_id(special::BEGIN_OF_TEXT), tok.bos());
    assert_eq!(tok.token_id(special::END_OF_TEXT), tok.eos());
    assert_eq!(tok.token_id(special::EOT_ID), tok.eot());
    assert_eq!(
        tok.token_id("Ġthe"),
        spec.tokens
            .iter()
            .position(|t| t == "Ġthe")
            .map(|i| i as u32)
    );
    assert!(tok.add_bos());
}

#[test]
fn builtin_merges_common_english() {
    let tok = builtin();
    let text = "The model said that the answer to the question was in the text.";
    let ids = tok.encode(text, false).expect("encode");
    assert!(
        ids.len() * 3 < text.len(),
        "{} tokens for {} bytes",
        ids.len(),
        text.len()
    );
    assert_eq!(tok.decode(&ids).expect("decode"), text);
    let the = tok.token_id("Ġthe").expect("Ġthe is a token");
    assert_eq!(tok.encode(" the", false).expect("encode"), [the]);
}

#[test]
fn builtin_round_trips_arbitrary_unicode() {
    let tok = builtin();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    // Code point ranges: ASCII incl. controls, Latin-1, CJK, Hangul, emoji, all of Unicode.
    let ranges = [
        (0u32, 0x80u32),
        (0x80, 0x250),
        (0x4E00, 0x9FFF),
        (0xAC00, 0xD7A3),
        (0x1F300, 0x1FAFF),
        (0, 0x110000),
    ];
    for _ in 0..200 {
        let len = rng.random_range(0..40);
        let text: String = (0..len)
            .filter_map(|_| {
                let (lo, hi) = ranges[rng.random_range(0..ranges.len())];
                char::from_u32(rng.random_range(lo..hi))
            })
            .collect();
        let ids = tok.encode(&text, false).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), text);
    }
}

#[test]
fn special_tokens_in_text_are_parsed() {
    let tok = builtin();
    let eot = tok.eot().expect("eot");
    let bos = tok.bos().expect("bos");
    let ids = tok.encode("Hello<|eot_id|>world", true).expect("encode");
    assert_eq!(ids[0], bos);
    assert_eq!(ids.iter().filter(|&&id| id == eot).count(), 1);
    assert_eq!(
        tok.decode(&ids).expect("decode"),
        "<|begin_of_text|>Hello<|eot_id|>world"
    );
    // A broken special is plain text.
    let ids = tok.encode("<|eot_id", false).expect("encode");
    assert!(!ids.contains(&eot));
    assert_eq!(tok.decode(&ids).expect("decode"), "<|eot_id");
    assert!(tok.is_end_of_generation(eot));
    assert!(tok.is_end_of_generation(tok.eos().expect("eos")));
    assert!(!tok.is_end_of_generation(bos));
}

#[test]
fn invalid_ids_are_errors() {
    let tok = builtin();
    let n = tok.vocab_size() as u32;
    assert!(
        matches!(tok.decode(&[0, n]), Err(TokenizerError::UnknownTokenId { id, .. }) if id == n)
    );
    assert!(matches!(
        tok.token_bytes(u32::MAX),
        Err(TokenizerError::UnknownTokenId { .. })
    ));
    let mut stream = StreamDecoder::new();
    assert!(stream.push(&tok, n).is_err());
}

#[test]
fn stream_decoder_never_splits_a_character() {
    let tok = builtin();
    let text = "a😀b é中 👨‍👩‍👧 end";
    let ids = tok.encode(text, false).expect("encode");
    // The builtin vocabulary has no multi-byte merges: the emoji is four byte tokens.
    let grin = tok.encode("😀", false).expect("encode");
    assert_eq!(grin.len(), 4);
    let mut stream = StreamDecoder::new();
    let pieces: Vec<Option<String>> = ids
        .iter()
        .map(|&id| stream.push(&tok, id).expect("push"))
        .collect();
    assert!(
        pieces.iter().any(Option::is_none),
        "some tokens end mid-character"
    );
    let joined: String = pieces.into_iter().flatten().collect();
    assert_eq!(joined + &stream.finish(), text);
}

#[test]
fn stream_decoder_replaces_bytes_that_cannot_form_text() {
    let tok = builtin();
    let mut stream = StreamDecoder::new();
    // Byte tokens: id b is byte b. 0xFF is never valid; 0xE4 0xB8 starts '中' (E4 B8 AD).
    assert_eq!(
        stream.push(&tok, 0xFF).expect("push").as_deref(),
        Some("\u{FFFD}")
    );
    assert_eq!(stream.push(&tok, 0xE4).expect("push"), None);
    assert_eq!(stream.push(&tok, 0xB8).expect("push"), None);
    assert_eq!(stream.finish(), "\u{FFFD}");
    assert_eq!(stream.finish(), "");
    assert_eq!(
        stream.push(&tok, u32::from(b'x')).expect("push").as_deref(),
        Some("x")
    );
    // An incomplete character followed by ASCII: the stale bytes become U+FFFD.
    assert_eq!(stream.push(&tok, 0xE4).expect("push"), None);
    assert_eq!(
        stream.push(&tok, u32::from(b'y')).expect("push").as_deref(),
        Some("\u{FFFD}y")
    );
}

#[test]
fn bad_specs_are_typed_errors() {
    let good = vocabulary::builtin();
    let check = |edit: &dyn Fn(&mut TokenizerSpec), want: &dyn Fn(&TokenizerError) -> bool| {
        let mut spec = good.clone();
        edit(&mut spec);
        let err = Tokenizer::new(&spec).expect_err("must fail");
        assert!(want(&err), "unexpected error {err:?}");
    };
    check(
        &|s| s.model = "llama".into(),
        &|e| matches!(e, TokenizerError::UnsupportedModel(m) if m == "llama"),
    );
    check(&|s| s.pre = Some("qwen2".into()), &|e| {
        matches!(e, TokenizerError::UnsupportedPreTokenizer(_))
    });
    check(
        &|s| {
            s.tokens.clear();
            s.token_types.clear();
            s.merges.clear();
            s.bos = None;
            s.eos = None;
            s.eot = None;
        },
        &|e| matches!(e, TokenizerError::VocabularySize(0)),
    );
    check(
        &|s| {
            s.token_types.pop();
        },
        &|e| matches!(e, TokenizerError::TokenTypeCount { .. }),
    );
    check(&|s| s.token_types[3] = 9, &|e| {
        matches!(
            e,
            TokenizerError::UnknownTokenType {
                id: 3,
                token_type: 9
            }
        )
    });
    check(&|s| s.eot = Some(1 << 20), &|e| {
        matches!(e, TokenizerError::SpecialIdOutOfRange { name: "eot", .. })
    });
    check(&|s| s.merges[2] = "Ġ".into(), &|e| {
        matches!(e, TokenizerError::InvalidMerge { index: 2, .. })
    });
    check(&|s| s.merges.push("Ġ zzzq".into()), &|e| {
        matches!(e, TokenizerError::InvalidMerge { .. })
    });
    // Both halves are tokens but their concatenation is not.
    check(&|s| s.merges.push("q q".into()), &|e| {
        matches!(e, TokenizerError::InvalidMerge { .. })
    });

    let mut spec = good.clone();
    spec.bos = None;
    let tok = Tokenizer::new(&spec).expect("builds without BOS");
    assert!(matches!(
        tok.encode("x", true),
        Err(TokenizerError::NoBosToken)
    ));
}

#[test]
fn pre_tokenizer_choices_follow_llama_cpp() {
    let mut spec = vocabulary::builtin();
    for pre in [
        None,
        Some("llama3"),
        Some("llama-v3"),
        Some("gpt-2"),
        Some("default"),
    ] {
        spec.pre = pre.map(str::to_owned);
        let tok = Tokenizer::new(&spec).expect("builds");
        let text = "Hello,  world! 12345 it's <|eot_id|>\n\n";
        let ids = tok.encode(text, false).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), text, "pre {pre:?}");
    }
    // Llama-3 splits digits in groups of three; GPT-2 keeps the run whole (then BPE,
    // without digit merges here, gives one token per digit either way), so compare splits
    // through a vocabulary that has "123" and "12345" as tokens.
    let mut spec = vocabulary::builtin();
    for merge in ["1 2", "12 3", "123 4", "1234 5"] {
        spec.merges.push(merge.to_owned());
        spec.tokens.push(merge.replace(' ', ""));
        spec.token_types.push(TokenType::Normal as i32);
    }
    let id = |tok: &Tokenizer, t: &str| tok.token_id(t).expect("token");
    spec.pre = Some("llama-bpe".into());
    let llama = Tokenizer::new(&spec).expect("builds");
    assert_eq!(
        llama.encode("12345", false).expect("encode"),
        [id(&llama, "123"), u32::from(b'4'), u32::from(b'5')]
    );
    spec.pre = Some("gpt-2".into());
    let gpt2 = Tokenizer::new(&spec).expect("builds");
    assert_eq!(
        gpt2.encode("12345", false).expect("encode"),
        [id(&gpt2, "12345")]
    );
}

#[test]
fn builtin_round_trips_shared_cases() {
    let tok = builtin();
    for text in shared_cases() {
        let ids = tok.encode(&text, false).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), text);
    }
}

#[test]
fn rendered_specials_tokenize_as_special_tokens() {
    let tok = builtin();
    let eot = tok.eot().expect("eot");
    let conversation = [
        Message::new(Role::System, "You are terse."),
        Message::new(Role::User, "Hi!"),
        Message::new(Role::Assistant, "Hello."),
        Message::new(Role::User, " Two\nlines \n"),
    ];
    for template in [ChatTemplate::BitNet, ChatTemplate::Llama3] {
        let ids = tok
            .encode(&template.render(&conversation, true), true)
            .expect("encode");
        assert_eq!(
            ids.iter().filter(|&&id| id == eot).count(),
            4,
            "{template:?}"
        );
    }
}
