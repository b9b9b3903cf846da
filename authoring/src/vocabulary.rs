//! Vocabularies for the files this crate writes: the built-in byte-level vocabulary of
//! synthetic models, an HF `tokenizer.json` (Llama-3's) read as a [`TokenizerSpec`], and a spec
//! written as the `tokenizer.ggml.*` keys the engine's tokenizer reads back.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bitnet_core::gguf::{ArrayValue, Value};
use bitnet_core::tokenizer::{byte_level_char, special, TokenType, TokenizerSpec};

use crate::{GgufWriter, WriteError};

/// The regex of HF's Llama-3 `tokenizer.json`, recognised by [`from_tokenizer_json`].
const LLAMA3_HF_REGEX: &str = concat!(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
);

/// Adds `spec` as `tokenizer.ggml.*` keys; `llama_bpe_pre` also writes
/// `tokenizer.ggml.pre = llama-bpe` (llama.cpp needs it to pick the Llama-3 regex; the
/// official 2B4T file has no such key).
pub fn add_to(w: &mut GgufWriter, spec: &TokenizerSpec, llama_bpe_pre: bool) {
    w.add("tokenizer.ggml.model", Value::String(spec.model.clone()));
    if llama_bpe_pre {
        w.add("tokenizer.ggml.pre", Value::String("llama-bpe".into()));
    }
    let strings = |v: &[String]| Value::Array(ArrayValue::String(v.into()));
    w.add("tokenizer.ggml.tokens", strings(&spec.tokens));
    w.add(
        "tokenizer.ggml.token_type",
        Value::Array(ArrayValue::I32(spec.token_types.clone())),
    );
    w.add("tokenizer.ggml.merges", strings(&spec.merges));
    for (k, id) in [
        ("tokenizer.ggml.bos_token_id", spec.bos),
        ("tokenizer.ggml.eos_token_id", spec.eos),
        ("tokenizer.ggml.eot_token_id", spec.eot),
    ] {
        if let Some(id) = id {
            w.add(k, Value::U32(id));
        }
    }
    w.add("tokenizer.ggml.add_bos_token", Value::Bool(spec.add_bos));
}

/// A small byte-level vocabulary for synthetic models, any text round-trips.
///
/// Built by a fixed rule, so it is identical on every run:
/// - ids 0..=255: one token per byte, byte `b` at id `b`, in GPT-2's byte-level alphabet;
/// - then, for each word of `BUILTIN_WORDS` in order, first with a leading space and
///   then bare, the merges that build it left to right (`"Ġ t"`, `"Ġt h"`, `"Ġth e"`),
///   skipping merges already made; each merge's result is the next token id;
/// - last, the Llama-3 specials `<|begin_of_text|>` (BOS), `<|end_of_text|>` (EOS),
///   `<|eot_id|>` (EOT), `<|start_header_id|>`, `<|end_header_id|>` as control tokens.
///
/// Pre-tokenizer `llama-bpe`, `add_bos` true.
pub fn builtin() -> TokenizerSpec {
    let mut tokens: Vec<String> = (0..=u8::MAX)
        .map(|b| byte_level_char(b).to_string())
        .collect();
    let mut known: HashSet<String> = tokens.iter().cloned().collect();
    let mut merges = Vec::new();
    for word in BUILTIN_WORDS {
        for text in [format!(" {word}"), (*word).to_owned()] {
            let chars: Vec<char> = text.bytes().map(byte_level_char).collect();
            let mut left = chars[0].to_string();
            for &c in &chars[1..] {
                let merged = format!("{left}{c}");
                if known.insert(merged.clone()) {
                    merges.push(format!("{left} {c}"));
                    tokens.push(merged.clone());
                }
                left = merged;
            }
        }
    }
    let mut token_types = vec![TokenType::Normal as i32; tokens.len()];
    let first_special = tokens.len() as u32;
    for name in [
        special::BEGIN_OF_TEXT,
        special::END_OF_TEXT,
        special::EOT_ID,
        special::START_HEADER_ID,
        special::END_HEADER_ID,
    ] {
        tokens.push(name.to_owned());
        token_types.push(TokenType::Control as i32);
    }
    TokenizerSpec {
        model: "gpt2".to_owned(),
        pre: Some("llama-bpe".to_owned()),
        tokens,
        token_types,
        merges,
        bos: Some(first_special),
        eos: Some(first_special + 1),
        eot: Some(first_special + 2),
        add_bos: true,
    }
}

/// Common English words the [`builtin`] vocabulary has whole-word tokens for.
const BUILTIN_WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "what",
    "out",
    "up",
    "said",
    "about",
    "than",
    "its",
    "into",
    "them",
    "only",
    "just",
    "like",
    "time",
    "some",
    "could",
    "these",
    "two",
    "may",
    "then",
    "do",
    "first",
    "any",
    "my",
    "now",
    "such",
    "new",
    "also",
    "other",
    "how",
    "our",
    "me",
    "make",
    "very",
    "after",
    "over",
    "well",
    "where",
    "most",
    "know",
    "should",
    "each",
    "people",
    "how",
    "hello",
    "world",
    "model",
    "token",
    "text",
    "user",
    "assistant",
    "system",
    "answer",
    "question",
    "Hello",
    "The",
    "I",
    "It",
    "What",
    "This",
    "ing",
    "ed",
    "ion",
    "er",
    "ly",
];

/// Reads an HF `tokenizer.json` of the Llama-3 kind (byte-level BPE with Llama-3's
/// pre-tokenizer regex): vocabulary in id order, merges, added tokens as control tokens
/// (type 3; user-defined, type 4, when not marked special), BOS / EOS / EOT found by
/// their names `<|begin_of_text|>`, `<|end_of_text|>`, `<|eot_id|>`; `add_bos` is set
/// when BOS exists, as llama.cpp does for `llama-bpe`.
pub fn from_tokenizer_json(path: &Path) -> Result<TokenizerSpec, WriteError> {
    let invalid = |reason: String| WriteError::InvalidVocabulary {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| WriteError::VocabularyIo {
        path: path.to_path_buf(),
        error,
    })?;
    let json: HfTokenizerJson = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if json.model.kind != "BPE" {
        return Err(invalid(format!("model {} is not BPE", json.model.kind)));
    }
    let regexes = regexes_in(&json.pre_tokenizer);
    if regexes != [LLAMA3_HF_REGEX] {
        return Err(invalid(format!(
            "pre-tokenizer regexes {regexes:?} are not Llama-3's"
        )));
    }

    let added: HashMap<u32, &HfAddedToken> = json.added_tokens.iter().map(|t| (t.id, t)).collect();
    let vocab_size = json
        .model
        .vocab
        .values()
        .chain(added.keys())
        .max()
        .map_or(0, |&max| max as usize + 1);
    // More ids than entries means gaps; refuse before allocating for them.
    if vocab_size > json.model.vocab.len() + added.len() {
        return Err(invalid(format!("token ids up to {vocab_size} leave gaps")));
    }
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    let mut token_types = vec![TokenType::Normal as i32; vocab_size];
    for (text, &id) in &json.model.vocab {
        tokens[id as usize] = Some(text.clone());
    }
    for token in added.values() {
        tokens[token.id as usize] = Some(token.content.clone());
        token_types[token.id as usize] = if token.special {
            TokenType::Control
        } else {
            TokenType::UserDefined
        } as i32;
    }
    let tokens = tokens
        .into_iter()
        .enumerate()
        .map(|(id, t)| t.ok_or_else(|| invalid(format!("no token has id {id}"))))
        .collect::<Result<Vec<_>, _>>()?;

    let merges = json
        .model
        .merges
        .into_iter()
        .map(|m| match m {
            HfMerge::Joined(s) => s,
            HfMerge::Pair(a, b) => format!("{a} {b}"),
        })
        .collect();
    let id_of = |name: &str| tokens.iter().position(|t| t == name).map(|i| i as u32);
    let bos = id_of(special::BEGIN_OF_TEXT);
    Ok(TokenizerSpec {
        model: "gpt2".to_owned(),
        pre: Some("llama-bpe".to_owned()),
        bos,
        eos: id_of(special::END_OF_TEXT),
        eot: id_of(special::EOT_ID),
        add_bos: bos.is_some(),
        tokens,
        token_types,
        merges,
    })
}

/// The parts of an HF `tokenizer.json` that [`from_tokenizer_json`] reads.
#[derive(serde::Deserialize)]
struct HfTokenizerJson {
    model: HfModel,
    #[serde(default)]
    added_tokens: Vec<HfAddedToken>,
    #[serde(default)]
    pre_tokenizer: serde_json::Value,
}

#[derive(serde::Deserialize)]
struct HfModel {
    #[serde(rename = "type")]
    kind: String,
    vocab: HashMap<String, u32>,
    merges: Vec<HfMerge>,
}

/// Older files store a merge as `"a b"`, newer ones as `["a", "b"]`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum HfMerge {
    Joined(String),
    Pair(String, String),
}

#[derive(serde::Deserialize)]
struct HfAddedToken {
    id: u32,
    content: String,
    #[serde(default)]
    special: bool,
}

/// All `"Regex"` patterns in a `tokenizer.json` pre-tokenizer, in order.
fn regexes_in(value: &serde_json::Value) -> Vec<&str> {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(key, v)| match (key.as_str(), v) {
                ("Regex", serde_json::Value::String(s)) => vec![s.as_str()],
                _ => regexes_in(v),
            })
            .collect(),
        serde_json::Value::Array(items) => items.iter().flat_map(regexes_in).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitnet_core::tokenizer::Tokenizer;

    #[test]
    fn reads_a_tokenizer_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokenizer.json");
        let json = serde_json::json!({
            "added_tokens": [
                {"id": 5, "content": "<|begin_of_text|>", "special": true},
                {"id": 6, "content": "<|eot_id|>", "special": true},
                {"id": 7, "content": "<extra>", "special": false},
            ],
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_HF_REGEX}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
            ]},
            "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
                      "merges": ["a b", ["Ġ", "ab"]]},
        });
        std::fs::write(&path, json.to_string()).expect("write");
        let spec = from_tokenizer_json(&path).expect("reads");
        assert_eq!(
            spec.tokens,
            [
                "a",
                "b",
                "ab",
                "Ġ",
                "Ġab",
                "<|begin_of_text|>",
                "<|eot_id|>",
                "<extra>"
            ]
        );
        assert_eq!(spec.token_types, [1, 1, 1, 1, 1, 3, 3, 4]);
        assert_eq!(spec.merges, ["a b", "Ġ ab"]);
        assert_eq!(
            (spec.bos, spec.eos, spec.eot, spec.add_bos),
            (Some(5), None, Some(6), true)
        );
        let tok = Tokenizer::new(&spec).expect("builds");
        assert_eq!(
            tok.encode("ab ab<extra>", true).expect("encode"),
            [5, 2, 4, 7]
        );

        std::fs::write(&path, json.to_string().replace("\"BPE\"", "\"WordPiece\"")).expect("write");
        assert!(matches!(
            from_tokenizer_json(&path),
            Err(WriteError::InvalidVocabulary { reason, .. }) if reason.contains("WordPiece")
        ));
        std::fs::write(&path, json.to_string().replace("\"b\":1", "\"b\":99")).expect("write");
        assert!(matches!(
            from_tokenizer_json(&path),
            Err(WriteError::InvalidVocabulary { .. })
        ));
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(
            from_tokenizer_json(&path),
            Err(WriteError::InvalidVocabulary { .. })
        ));
        assert!(matches!(
            from_tokenizer_json(&dir.path().join("missing.json")),
            Err(WriteError::VocabularyIo { .. })
        ));
    }

    /// Strings shared with the llama.cpp comparison (`tests/data/tokenizer_cases.json`).
    fn shared_cases() -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tokenizer_cases.json");
        let text = std::fs::read_to_string(path).expect("read tokenizer_cases.json");
        serde_json::from_str(&text).expect("tokenizer_cases.json is a list of strings")
    }

    /// The real Llama-3 vocabulary (`BITNET_LLAMA3_TOKENIZER`, from
    /// `scripts/fetch-llama3-tokenizer.sh`) gives llama.cpp's ids: a few pinned here, all
    /// shared cases when `BITNET_LLAMA3_EXPECTED_IDS` names a JSON list of llama.cpp's id
    /// lists (one per case, `llama_tokenize(add_special=false, parse_special=true)`); and
    /// the ids of the vocabulary's own HF pipeline.
    #[test]
    fn llama3_vocabulary_matches_llama_cpp() {
        let Ok(path) = std::env::var("BITNET_LLAMA3_TOKENIZER") else {
            eprintln!(
                "BITNET_LLAMA3_TOKENIZER unset: skipping (see scripts/fetch-llama3-tokenizer.sh)"
            );
            return;
        };
        let spec = from_tokenizer_json(Path::new(&path)).expect("spec");
        assert_eq!(spec.tokens.len(), 128_256);
        let tok = Tokenizer::new(&spec).expect("tokenizer");
        assert_eq!(
            (tok.bos(), tok.eos(), tok.eot()),
            (Some(128_000), Some(128_001), Some(128_009))
        );

        let pinned: [(&str, &[u32]); 8] = [
            ("Hello world", &[9906, 1917]),
            ("  leading two", &[220, 6522, 1403]),
            (
                "windows\r\nline\r\nendings\r\n",
                &[28176, 319, 1074, 319, 408, 826, 319],
            ),
            ("1234567890", &[4513, 10961, 16474, 15]),
            (
                "don't won't can't shouldn't",
                &[15357, 956, 2834, 956, 649, 956, 13434, 956],
            ),
            (
                "你好，世界！这是一个测试。",
                &[57668, 53901, 3922, 102616, 6447, 114880, 48044, 82805, 1811],
            ),
            ("before <|eot_id|> after", &[15145, 220, 128009, 1306]),
            (
                "family 👨\u{200d}👩\u{200d}👧\u{200d}👦 and 🏳️\u{200d}🌈",
                &[
                    19521, 62904, 101, 102470, 9468, 239, 102, 102470, 9468, 239, 100, 102470,
                    9468, 239, 99, 323, 11410, 237, 111, 31643, 102470, 9468, 234, 230,
                ],
            ),
        ];
        for (text, ids) in pinned {
            assert_eq!(tok.encode(text, false).expect("encode"), ids, "{text:?}");
        }

        let cases = shared_cases();
        let expected: Option<Vec<Vec<u32>>> =
            std::env::var("BITNET_LLAMA3_EXPECTED_IDS").ok().map(|p| {
                let text = std::fs::read_to_string(p).expect("read BITNET_LLAMA3_EXPECTED_IDS");
                serde_json::from_str(&text).expect("a JSON list of id lists")
            });
        if let Some(expected) = &expected {
            assert_eq!(expected.len(), cases.len());
        }
        let hf = tokenizers::Tokenizer::from_file(&path).expect("HF pipeline");
        for (i, text) in cases.iter().enumerate() {
            let ids = tok.encode(text, false).expect("encode");
            assert_eq!(tok.decode(&ids).expect("decode"), *text);
            let hf_ids = hf.encode_fast(text.as_str(), false).expect("HF encode");
            assert_eq!(ids, hf_ids.get_ids(), "HF pipeline, {text:?}");
            if let Some(expected) = &expected {
                assert_eq!(ids, expected[i], "llama.cpp, {text:?}");
            }
        }
    }
}
