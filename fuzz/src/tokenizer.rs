//! `tokenizer`: arbitrary text and token ids through the demo model's tokenizer.
//!
//! Checks the documented properties: any text encodes (with or without content ranges), and
//! decodes back to itself (BOS rendered as its text); the token count never falls below
//! `min_tokens_for_bytes` (what refuses long prompts before tokenizing); text wholly inside a
//! content range produces no control token; the streaming decoder yields exactly what
//! `decode` does, for any ids; an id outside the vocabulary is an error, never a panic.

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use bitnet_core::tokenizer::StreamDecoder;

use crate::fixtures::{demo_tokenizer, DemoTokenizer};

/// A structured input: the text is the bytes left after the other fields (lossy UTF-8).
#[derive(Arbitrary, Debug)]
struct Input {
    add_bos: bool,
    /// Content ranges, in any order, possibly reversed or outside the text.
    content: Vec<(u16, u16)>,
    /// Token ids, taken modulo the vocabulary size + 2 (so a few are invalid).
    ids: Vec<u16>,
}

/// The target.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let text = String::from_utf8_lossy(u.take_rest());
    let demo = demo_tokenizer();
    let content: Vec<Range<usize>> = input
        .content
        .iter()
        .map(|&(a, b)| usize::from(a)..usize::from(b))
        .collect();
    check_text(demo, &text, input.add_bos, &content);
    let n = demo.tokenizer.vocab_size() + 2;
    let ids: Vec<u32> = input
        .ids
        .iter()
        .map(|&id| (usize::from(id) % n) as u32)
        .collect();
    check_ids(demo, &ids);
}

/// Encoding `text`, with its content ranges: round trip, minimum length, and no control
/// token from text inside one range.
fn check_text(demo: &DemoTokenizer, text: &str, add_bos: bool, content: &[Range<usize>]) {
    let tok = &demo.tokenizer;
    let ids = tok
        .encode_with_content(text, add_bos, content)
        .expect("any text encodes");
    let expected = demo.bos_text(add_bos) + text;
    assert_eq!(tok.decode(&ids).expect("encoded ids decode"), expected);
    assert_eq!(stream(demo, &ids).expect("encoded ids decode"), expected);
    let text_tokens = ids.len() - usize::from(add_bos);
    assert!(text_tokens >= tok.min_tokens_for_bytes(text.len()));
    if content.iter().any(|r| r.start == 0 && r.end >= text.len()) {
        let controls = demo.controls(&ids[usize::from(add_bos)..]);
        assert_eq!(
            controls,
            Vec::<u32>::new(),
            "content produced a control token"
        );
    }
}

/// Decoding arbitrary ids: all at once and streamed agree; invalid ids are errors.
fn check_ids(demo: &DemoTokenizer, ids: &[u32]) {
    let tok = &demo.tokenizer;
    let valid = ids.iter().all(|&id| (id as usize) < tok.vocab_size());
    for &id in ids {
        assert_eq!(
            tok.token_bytes(id).is_ok(),
            (id as usize) < tok.vocab_size()
        );
    }
    let decoded = tok.decode(ids);
    assert_eq!(decoded.is_ok(), valid);
    assert_eq!(stream(demo, ids), decoded.ok());
}

/// `ids` through a [`StreamDecoder`], pieces joined, then `finish`.
fn stream(demo: &DemoTokenizer, ids: &[u32]) -> Option<String> {
    let mut decoder = StreamDecoder::new();
    let mut text = String::new();
    for &id in ids {
        text.extend(decoder.push(&demo.tokenizer, id).ok()?);
    }
    text.push_str(&decoder.finish());
    Some(text)
}
