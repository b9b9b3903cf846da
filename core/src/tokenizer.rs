//! Byte-level BPE tokenizer (GPT-2 / Llama-3 family), built with the `tokenizers` crate from
//! the data a GGUF file's `tokenizer.ggml.*` keys hold ([`TokenizerSpec`]).
//!
//! Behaviour follows llama.cpp (`src/llama-vocab.cpp`, BPE vocabularies) so that token ids
//! match it exactly:
//! - Control, user-defined and unknown tokens (GGUF token types 3, 4, 2) are matched in the
//!   input text before anything else, longest first (llama.cpp `parse_special = true`).
//! - The rest is split by the pre-tokenizer regex chosen from `tokenizer.ggml.pre`, mapped
//!   to GPT-2's byte-level alphabet and merged by BPE. For the Llama-3 pre-tokenizer a
//!   piece that is already a whole token is taken as is (`ignore_merges`).
//! - Decoding renders a normal token's byte-level text back to bytes and a control,
//!   user-defined or unknown token as its plain text; an unused token (type 5) renders as
//!   nothing. [`Tokenizer::decode`] does not apply llama.cpp's `clean_spaces` pass, so
//!   `decode(encode(s)) == s` for every string.

use std::ops::Range;

use crate::gguf::{GgufFile, StringArray};

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;

/// Llama-3's pre-tokenizer regex in llama.cpp's spelling: the contractions are written with
/// ASCII case classes instead of `(?i:...)`, which would also fold non-ASCII letters such as
/// `ſ` (U+017F) to `s`. Identical to HF's `tokenizer.json` regex on every other input.
const LLAMA3_REGEX: &str = concat!(
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
);

/// GPT-2's pre-tokenizer regex.
const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// llama.cpp's `default` BPE pre-tokenizer: these regexes split the text one after another,
/// each one splitting every piece the previous ones left.
const DEFAULT_REGEXES: [&str; 4] = [
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// Text of the Llama-3 special tokens the engine and the chat templates use.
pub mod special {
    /// Start of every sequence (BOS).
    pub const BEGIN_OF_TEXT: &str = "<|begin_of_text|>";
    /// End of a document (EOS).
    pub const END_OF_TEXT: &str = "<|end_of_text|>";
    /// End of one chat turn (EOT).
    pub const EOT_ID: &str = "<|eot_id|>";
    /// Opens a chat role header.
    pub const START_HEADER_ID: &str = "<|start_header_id|>";
    /// Closes a chat role header.
    pub const END_HEADER_ID: &str = "<|end_header_id|>";
}

/// Why a tokenizer could not be built, or could not encode or decode.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A `tokenizer.ggml.*` key is missing or mistyped.
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    /// `tokenizer.ggml.model` names a tokenizer other than byte-level BPE (`gpt2`).
    #[error("unsupported tokenizer model {0:?}: only \"gpt2\" (byte-level BPE) is supported")]
    UnsupportedModel(String),
    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not implement.
    #[error("unsupported pre-tokenizer {0:?}")]
    UnsupportedPreTokenizer(String),
    /// The vocabulary is empty or has more tokens than a `u32` id can address.
    #[error("vocabulary of {0} tokens: must hold between 1 and 2^32 - 1 tokens")]
    VocabularySize(usize),
    /// `token_types` and `tokens` differ in length.
    #[error("{tokens} tokens but {token_types} token types")]
    TokenTypeCount {
        /// Length of `tokens`.
        tokens: usize,
        /// Length of `token_types`.
        token_types: usize,
    },
    /// A token type outside GGUF's 1..=6.
    #[error("token {id} has unknown token type {token_type}")]
    UnknownTokenType {
        /// The token.
        id: u32,
        /// Its type value.
        token_type: i32,
    },
    /// A BOS, EOS or EOT id outside the vocabulary.
    #[error("{name} token id {id} is outside the vocabulary of {vocab_size} tokens")]
    SpecialIdOutOfRange {
        /// `"bos"`, `"eos"` or `"eot"`.
        name: &'static str,
        /// The id given.
        id: u32,
        /// Number of tokens in the vocabulary.
        vocab_size: usize,
    },
    /// A merge that is not two space-separated tokens of the vocabulary whose
    /// concatenation is also a token.
    #[error("merge {index} {merge:?} is not two vocabulary tokens forming a third")]
    InvalidMerge {
        /// Position of the merge (its rank).
        index: usize,
        /// The merge as stored.
        merge: String,
    },
    /// A token id outside the vocabulary was given to decode.
    #[error("token id {id} is outside the vocabulary of {vocab_size} tokens")]
    UnknownTokenId {
        /// The id given.
        id: u32,
        /// Number of tokens in the vocabulary.
        vocab_size: usize,
    },
    /// BOS was requested but the vocabulary has no BOS token.
    #[error("a BOS token was requested but the vocabulary has none")]
    NoBosToken,
    /// The `tokenizers` crate rejected the vocabulary or failed to encode.
    #[error("tokenizers: {0}")]
    Backend(String),
}

/// A GGUF token type (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// An ordinary vocabulary entry, stored in GPT-2's byte-level alphabet.
    Normal = 1,
    /// The unknown-token placeholder.
    Unknown = 2,
    /// A control token such as `<|eot_id|>`: matched in text, rendered as its text.
    Control = 3,
    /// A user-defined token: matched in text, rendered as its text.
    UserDefined = 4,
    /// A reserved slot: never produced, rendered as nothing.
    Unused = 5,
    /// A single-byte token, stored like a normal one.
    Byte = 6,
}

impl TokenType {
    /// The type for a GGUF token type value, `None` outside 1..=6.
    pub fn from_gguf(value: i32) -> Option<Self> {
        Some(match value {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }

    /// Whether the token is matched in input text as a whole and rendered as its plain text
    /// (llama.cpp's special-token cache: control, user-defined and unknown tokens).
    pub(crate) fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }
}

/// A byte-level BPE vocabulary as GGUF's `tokenizer.ggml.*` keys hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizerSpec {
    /// `tokenizer.ggml.model`: must be `"gpt2"` (byte-level BPE).
    pub model: String,
    /// `tokenizer.ggml.pre`: `None`, `"llama-bpe"` / `"llama3"` / `"llama-v3"` (Llama-3 regex,
    /// whole-token pieces skip merges), `"gpt-2"` (GPT-2 regex) or `"default"` (llama.cpp's
    /// default regex cascade). `None` is treated as Llama-3, whatever the vocabulary: every
    /// BitNet model uses the Llama-3 vocabulary. (llama.cpp instead falls back to `"default"`
    /// and warns that quality will degrade.)
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: token text by id, normal tokens in GPT-2's byte-to-unicode
    /// alphabet (`Ġ` for a space), special tokens as plain text.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`: one [`TokenType`] value per token.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"left right"` pairs, highest priority first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.eot_token_id`.
    pub eot: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`: whether prompts start with BOS.
    pub add_bos: bool,
}

impl TokenizerSpec {
    /// Reads the `tokenizer.ggml.*` keys of a GGUF file. `token_type` defaults to all normal,
    /// `add_bos_token` to whether a BOS id exists, and the EOT id, when the key is absent, to
    /// the id of the `<|eot_id|>` token if the vocabulary has one.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let tokens = file.get_str_array("tokenizer.ggml.tokens")?.to_vec();
        let token_types = match file.get_i32_array_opt("tokenizer.ggml.token_type")? {
            Some(types) => types.to_vec(),
            None => vec![TokenType::Normal as i32; tokens.len()],
        };
        let bos = file.get_u32_opt("tokenizer.ggml.bos_token_id")?;
        let eot = match file.get_u32_opt("tokenizer.ggml.eot_token_id")? {
            Some(id) => Some(id),
            None => tokens
                .iter()
                .position(|t| t == special::EOT_ID)
                .and_then(|i| u32::try_from(i).ok()),
        };
        Ok(TokenizerSpec {
            model: file.get_str("tokenizer.ggml.model")?.to_owned(),
            pre: file.get_str_opt("tokenizer.ggml.pre")?.map(str::to_owned),
            tokens,
            token_types,
            merges: file
                .get_str_array_opt("tokenizer.ggml.merges")?
                .map_or_else(Vec::new, StringArray::to_vec),
            bos,
            eos: file.get_u32_opt("tokenizer.ggml.eos_token_id")?,
            eot,
            add_bos: file
                .get_bool_opt("tokenizer.ggml.add_bos_token")?
                .unwrap_or(bos.is_some()),
        })
    }
}

/// GPT-2's byte-to-unicode alphabet: printable Latin-1 bytes (`!`..=`~`, `¡`..=`¬`,
/// `®`..=`ÿ`) stand for themselves; the other 68 bytes, in increasing order, map to
/// U+0100, U+0101, ... (so a space is `Ġ`, U+0120).
const fn is_printable_byte(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// Number of bytes that are not printable and so map to U+0100 onwards.
const SHIFTED_COUNT: usize = 68;

/// The non-printable bytes in increasing order: byte `SHIFTED_BYTES[i]` is written U+0100 + i.
const SHIFTED_BYTES: [u8; SHIFTED_COUNT] = {
    let mut table = [0u8; SHIFTED_COUNT];
    let (mut b, mut n) = (0usize, 0usize);
    while b < 256 {
        if !is_printable_byte(b as u8) {
            table[n] = b as u8;
            n += 1;
        }
        b += 1;
    }
    assert!(n == SHIFTED_COUNT);
    table
};

/// The character GPT-2's byte-level alphabet writes byte `b` as, in the text of normal tokens
/// (`Ġ` for a space; printable ASCII stands for itself).
pub fn byte_level_char(b: u8) -> char {
    if is_printable_byte(b) {
        char::from(b)
    } else {
        let rank = SHIFTED_BYTES.iter().position(|&x| x == b).unwrap_or(0);
        char::from_u32(0x100 + rank as u32).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// The byte a byte-level character stands for, `None` outside the alphabet.
fn char_byte(c: char) -> Option<u8> {
    let cp = u32::from(c);
    match u8::try_from(cp) {
        Ok(b) if is_printable_byte(b) => Some(b),
        _ => SHIFTED_BYTES.get(cp.checked_sub(0x100)? as usize).copied(),
    }
}

/// A byte-level BPE tokenizer. Cheap to share between threads (`Send + Sync`).
pub struct Tokenizer {
    /// Byte-level BPE over text without special tokens (they are matched by [`Self::specials`]).
    inner: tokenizers::Tokenizer,
    /// Control, unknown and user-defined tokens by their text, longest first (llama.cpp's
    /// order), each with its id and whether it is a control (or unknown) token.
    specials: Vec<Special>,
    /// The most bytes of text one token stands for: a text of `n` bytes has at least
    /// `n / max_token_bytes` tokens.
    max_token_bytes: usize,
    /// The bytes every token renders as, token `i` at `piece_bytes[piece_ends[i-1]..piece_ends[i]]`.
    piece_bytes: Vec<u8>,
    /// End offset (bytes) of each token's piece in `piece_bytes`.
    piece_ends: Vec<usize>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
}

/// A token matched in input text as a whole.
#[derive(Debug)]
struct Special {
    text: String,
    id: u32,
    /// Control and unknown tokens, which message content never produces; user-defined tokens
    /// are matched everywhere (as llama.cpp does without `parse_special`).
    control: bool,
}

/// A piece of input text being split at special tokens: text still to encode, or a token.
enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("eot", &self.eot)
            .field("add_bos", &self.add_bos)
            .finish_non_exhaustive()
    }
}

/// The pre-tokenizer for `tokenizer.ggml.pre`, and whether whole-token pieces skip merges.
fn pre_tokenizer(pre: Option<&str>) -> Result<(PreTokenizerWrapper, bool), TokenizerError> {
    let split = |regex: &str| -> Result<PreTokenizerWrapper, TokenizerError> {
        Split::new(
            SplitPattern::Regex(regex.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map(PreTokenizerWrapper::from)
        .map_err(|e| TokenizerError::Backend(e.to_string()))
    };
    let (splits, ignore_merges) = match pre {
        None | Some("llama-bpe" | "llama3" | "llama-v3") => (vec![split(LLAMA3_REGEX)?], true),
        Some("gpt-2") => (vec![split(GPT2_REGEX)?], false),
        Some("default") => (
            DEFAULT_REGEXES
                .iter()
                .map(|r| split(r))
                .collect::<Result<_, _>>()?,
            false,
        ),
        Some(other) => return Err(TokenizerError::UnsupportedPreTokenizer(other.to_owned())),
    };
    // Splitting is done by the regexes above; ByteLevel only maps bytes to its alphabet.
    let mut steps = splits;
    steps.push(ByteLevel::new(false, false, false).into());
    Ok((Sequence::new(steps).into(), ignore_merges))
}

impl Tokenizer {
    /// Builds the tokenizer, checking the spec: model `gpt2`, a known pre-tokenizer, one
    /// known type per token, BOS / EOS / EOT inside the vocabulary, and every merge made of
    /// two tokens whose concatenation is a token. Where two tokens share a text, text → id
    /// lookups see the later id (as llama.cpp); both still decode.
    pub fn new(spec: &TokenizerSpec) -> Result<Self, TokenizerError> {
        if spec.model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel(spec.model.clone()));
        }
        let vocab_size = spec.tokens.len();
        if vocab_size == 0 || u32::try_from(vocab_size).is_err() {
            return Err(TokenizerError::VocabularySize(vocab_size));
        }
        if spec.token_types.len() != vocab_size {
            return Err(TokenizerError::TokenTypeCount {
                tokens: vocab_size,
                token_types: spec.token_types.len(),
            });
        }
        let types = spec
            .token_types
            .iter()
            .enumerate()
            .map(|(id, &t)| {
                TokenType::from_gguf(t).ok_or(TokenizerError::UnknownTokenType {
                    id: id as u32,
                    token_type: t,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (name, id) in [("bos", spec.bos), ("eos", spec.eos), ("eot", spec.eot)] {
            if let Some(id) = id.filter(|&id| id as usize >= vocab_size) {
                return Err(TokenizerError::SpecialIdOutOfRange {
                    name,
                    id,
                    vocab_size,
                });
            }
        }

        let vocab: Vocab = (0u32..)
            .zip(&spec.tokens)
            .map(|(id, text)| (text.clone(), id))
            .collect();
        let merges = spec
            .merges
            .iter()
            .enumerate()
            .map(|(index, merge)| {
                split_merge(merge, &vocab).ok_or_else(|| TokenizerError::InvalidMerge {
                    index,
                    merge: merge.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let (pre_tokenizer, ignore_merges) = pre_tokenizer(spec.pre.as_deref())?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| TokenizerError::Backend(e.to_string()))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        let mut specials: Vec<Special> = (0u32..)
            .zip(spec.tokens.iter().zip(&types))
            .filter(|(_, (text, t))| t.is_special() && !text.is_empty())
            .map(|(id, (text, &t))| Special {
                text: text.clone(),
                id,
                control: t != TokenType::UserDefined,
            })
            .collect();
        specials.sort_by_key(|s| std::cmp::Reverse(s.text.len()));

        let mut piece_bytes = Vec::new();
        let mut piece_ends = Vec::with_capacity(vocab_size);
        for (text, &token_type) in spec.tokens.iter().zip(&types) {
            match token_type {
                TokenType::Normal | TokenType::Byte => {
                    // A character outside the byte-level alphabet stands for itself.
                    for c in text.chars() {
                        match char_byte(c) {
                            Some(b) => piece_bytes.push(b),
                            None => {
                                piece_bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                            }
                        }
                    }
                }
                TokenType::Control | TokenType::UserDefined | TokenType::Unknown => {
                    piece_bytes.extend_from_slice(text.as_bytes())
                }
                TokenType::Unused => {}
            }
            piece_ends.push(piece_bytes.len());
        }

        let max_token_bytes = piece_ends
            .iter()
            .scan(0, |start, &end| {
                let len = end - *start;
                *start = end;
                Some(len)
            })
            .max()
            .unwrap_or(1)
            .max(1);
        Ok(Self {
            inner,
            specials,
            max_token_bytes,
            piece_bytes,
            piece_ends,
            bos: spec.bos,
            eos: spec.eos,
            eot: spec.eot,
            add_bos: spec.add_bos,
        })
    }

    /// Token ids for `text`, preceded by BOS when `add_bos`. Special tokens written in the
    /// text (`<|eot_id|>`) become their ids, like llama.cpp with `parse_special = true`: for
    /// raw prompts, which are trusted to mean their control tokens.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, TokenizerError> {
        self.encode_with_content(text, add_bos, &[])
    }

    /// [`encode`](Self::encode), except that inside the `content` byte ranges of `text` (the
    /// messages' own text in a rendered chat) control-token texts are ordinary text, as with
    /// llama.cpp's `parse_special = false`: a user who types `<|eot_id|>` cannot end a turn or
    /// forge one. Text on both sides of a range boundary is encoded together, so a prompt
    /// without such strings gets exactly [`encode`](Self::encode)'s tokens.
    pub fn encode_with_content(
        &self,
        text: &str,
        add_bos: bool,
        content: &[Range<usize>],
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        if add_bos {
            ids.push(self.bos.ok_or(TokenizerError::NoBosToken)?);
        }
        for fragment in self.split_specials(text, content) {
            match fragment {
                Fragment::Token(id) => ids.push(id),
                Fragment::Text(range) => {
                    let encoding = self
                        .inner
                        .encode_fast(&text[range], false)
                        .map_err(|e| TokenizerError::Backend(e.to_string()))?;
                    ids.extend_from_slice(encoding.get_ids());
                }
            }
        }
        Ok(ids)
    }

    /// `text` split at special tokens as llama.cpp splits it: each special, longest first,
    /// cuts every text fragment at each of its occurrences, left to right. Control tokens are
    /// not matched where they overlap a `content` range.
    fn split_specials(&self, text: &str, content: &[Range<usize>]) -> Vec<Fragment> {
        let in_content =
            |at: usize, end: usize| content.iter().any(|c| c.start < end && at < c.end);
        let mut fragments = vec![Fragment::Text(0..text.len())];
        for special in &self.specials {
            if !text.contains(special.text.as_str()) {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(range) = fragment else {
                    next.push(fragment);
                    continue;
                };
                let mut start = range.start;
                for (offset, _) in text[range.clone()].match_indices(special.text.as_str()) {
                    let at = range.start + offset;
                    let end = at + special.text.len();
                    if special.control && in_content(at, end) {
                        continue;
                    }
                    if at > start {
                        next.push(Fragment::Text(start..at));
                    }
                    next.push(Fragment::Token(special.id));
                    start = end;
                }
                if start < range.end {
                    next.push(Fragment::Text(start..range.end));
                }
            }
            fragments = next;
        }
        fragments
    }

    /// The fewest tokens any text of `bytes` bytes encodes to (each token stands for at most
    /// the longest token's bytes): a prompt can be refused by its length before it is
    /// tokenized.
    pub fn min_tokens_for_bytes(&self, bytes: usize) -> usize {
        bytes.div_ceil(self.max_token_bytes)
    }

    /// The text of `ids`: the concatenation of their [`token_bytes`](Self::token_bytes),
    /// with any invalid UTF-8 (possible only for sequences `encode` never produces) shown as
    /// U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The raw bytes token `id` renders as; may be part of a UTF-8 character.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        let i = id as usize;
        let end = *self
            .piece_ends
            .get(i)
            .ok_or(TokenizerError::UnknownTokenId {
                id,
                vocab_size: self.vocab_size(),
            })?;
        let start = if i == 0 { 0 } else { self.piece_ends[i - 1] };
        Ok(&self.piece_bytes[start..end])
    }

    /// Number of tokens (ids are `0..vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.piece_ends.len()
    }

    /// Beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// End-of-turn token (`<|eot_id|>`).
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    /// Whether the model expects prompts to start with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether generation stops at `id` (EOS or EOT).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        Some(id) == self.eos || Some(id) == self.eot
    }

    /// The id of the token whose stored text is `text` (byte-level form for normal tokens,
    /// e.g. `"Ġthe"`; plain text for specials, e.g. `"<|eot_id|>"`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }
}

/// Splits a GGUF merge `"left right"` at its first space after the first character (a
/// `left` of one space is allowed, as in llama.cpp) and checks that `left`, `right` and
/// `left + right` are tokens.
fn split_merge(merge: &str, vocab: &Vocab) -> Option<(String, String)> {
    let first = merge.chars().next()?.len_utf8();
    let space = merge[first..].find(' ')? + first;
    let (left, right) = (&merge[..space], &merge[space + 1..]);
    let known = |t: &str| vocab.contains_key(t);
    (known(left) && known(right) && known(&format!("{left}{right}")))
        .then(|| (left.to_owned(), right.to_owned()))
}

/// Incremental detokenisation for streaming: push ids one at a time and get text pieces
/// that never split a UTF-8 character.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Bytes of a UTF-8 character whose remaining bytes have not arrived yet (< 4 bytes).
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds token `id`; returns the text completed by it, `None` when it only extends an
    /// unfinished character. Bytes that can never form a character become U+FFFD.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<Option<String>, TokenizerError> {
        self.pending.extend_from_slice(tok.token_bytes(id)?);
        let mut text = String::new();
        let mut rest = self.pending.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid` is the prefix `from_utf8` accepted: the lossy conversion copies it.
                    text.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let kept = rest.len();
        self.pending.drain(..self.pending.len() - kept);
        Ok((!text.is_empty()).then_some(text))
    }

    /// Ends the stream: returns any unfinished character as U+FFFD (empty if none).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn byte_level_alphabet_is_a_bijection() {
        let chars: HashSet<char> = (0..=u8::MAX).map(byte_level_char).collect();
        assert_eq!(chars.len(), 256);
        for b in 0..=u8::MAX {
            assert_eq!(char_byte(byte_level_char(b)), Some(b));
        }
        assert_eq!(byte_level_char(b' '), 'Ġ');
        assert_eq!(byte_level_char(b'\n'), 'Ċ');
        assert_eq!(byte_level_char(b'A'), 'A');
        assert_eq!(char_byte('中'), None);
    }
}
