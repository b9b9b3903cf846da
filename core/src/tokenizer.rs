//! Byte-level BPE tokenizer (GPT-2 / Llama-3 family), built from the data a GGUF file's
//! `tokenizer.ggml.*` keys hold ([`Tokenizer::from_gguf`], or a [`TokenizerSpec`]). The
//! `tokenizers` crate's pre-tokenizers split the text; the merges run over compact tables of
//! this module's own (see [`Tokenizer`]).
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

use std::borrow::Cow;
use std::collections::BinaryHeap;
use std::ops::Range;

use crate::gguf::{GgufFile, StringArray};

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{
    OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, SplitDelimiterBehavior,
};

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
    /// The tokens' texts together reach this many bytes, more than a `u32` offset addresses.
    #[error("the vocabulary's token texts reach {0} bytes: at most 2^32 - 1 are supported")]
    VocabularyBytes(usize),
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
    /// The `tokenizers` crate rejected a pre-tokenizer regex or failed to split a text.
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
        let keys = FileKeys::read(file)?;
        Ok(TokenizerSpec {
            model: keys.model.to_owned(),
            pre: keys.pre.map(str::to_owned),
            tokens: keys.tokens.to_vec(),
            token_types: keys.token_types.into_owned(),
            merges: keys.merges.map_or_else(Vec::new, StringArray::to_vec),
            bos: keys.bos,
            eos: keys.eos,
            eot: keys.eot,
            add_bos: keys.add_bos,
        })
    }
}

/// A file's `tokenizer.ggml.*` keys, borrowed from its metadata, with the defaults
/// [`TokenizerSpec::from_gguf`] documents: read once here for the spec and for
/// [`Tokenizer::from_gguf`].
struct FileKeys<'a> {
    model: &'a str,
    pre: Option<&'a str>,
    tokens: &'a StringArray,
    token_types: Cow<'a, [i32]>,
    merges: Option<&'a StringArray>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
}

impl<'a> FileKeys<'a> {
    fn read(file: &'a GgufFile) -> Result<Self, TokenizerError> {
        let tokens = file.get_str_array("tokenizer.ggml.tokens")?;
        let token_types = match file.get_i32_array_opt("tokenizer.ggml.token_type")? {
            Some(types) => Cow::Borrowed(types),
            None => Cow::Owned(vec![TokenType::Normal as i32; tokens.len()]),
        };
        let bos = file.get_u32_opt("tokenizer.ggml.bos_token_id")?;
        let eot = match file.get_u32_opt("tokenizer.ggml.eot_token_id")? {
            Some(id) => Some(id),
            None => find_eot(tokens.iter()),
        };
        Ok(FileKeys {
            model: file.get_str("tokenizer.ggml.model")?,
            pre: file.get_str_opt("tokenizer.ggml.pre")?,
            tokens,
            token_types,
            merges: file.get_str_array_opt("tokenizer.ggml.merges")?,
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
///
/// The text is split into pieces and mapped to the byte-level alphabet by the `tokenizers`
/// crate's pre-tokenizers; the merges run over compact tables of our own (the token texts in
/// one buffer, a text → id hash index of `u32`s, the merge rules in one sorted `Vec`): for
/// Llama-3's 128 256 tokens and 280 147 merges about 9 MB, where the `tokenizers` crate's BPE
/// model (two hash maps of one `String` per token and a merge hash map) holds about 35 MB.
pub struct Tokenizer {
    /// Splits text into pieces and maps each piece's bytes to the byte-level alphabet.
    pre_tokenizer: PreTokenizerWrapper,
    /// Whether a piece that is already a whole token is taken as is, before any merge.
    ignore_merges: bool,
    /// Every token's stored text, concatenated: token `i` at `texts[text_ends[i-1]..text_ends[i]]`.
    texts: String,
    /// End offset (bytes) of each token's text in `texts`.
    text_ends: Vec<u32>,
    /// Text → id: open addressing with linear probing over `id + 1` (0: an empty slot); its
    /// length is a power of two at least twice the vocabulary's.
    index: Vec<u32>,
    /// The merge rules, sorted by their pair; where a pair is listed twice, the later rule.
    merges: Vec<MergeRule>,
    /// The token of each byte's byte-level character ([`NO_TOKEN`] when there is none).
    byte_ids: [u32; 256],
    /// Control, unknown and user-defined tokens, longest text first (llama.cpp's order).
    specials: Vec<Special>,
    /// Positions in `specials`, sorted by their tokens' texts (bytes), then by position: the
    /// specials a text holds are found by walking the text once with binary searches here,
    /// instead of searching the text once per special (a padded vocabulary has 127 k).
    specials_by_text: Vec<u32>,
    /// Bit `b` (of word `b / 64`) is set when some special's text starts with byte `b`: at
    /// any other byte of a text no special starts, and the search there is skipped.
    special_first_bytes: [u64; 4],
    /// The most bytes of text one token stands for: a text of `n` bytes has at least
    /// `n / max_token_bytes` tokens.
    max_token_bytes: usize,
    /// The bytes every token renders as, token `i` at `piece_bytes[piece_ends[i-1]..piece_ends[i]]`.
    piece_bytes: Vec<u8>,
    /// End offset (bytes) of each token's piece in `piece_bytes`.
    piece_ends: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
}

/// A byte whose byte-level character is not a token.
const NO_TOKEN: u32 = u32::MAX;

/// One merge rule: the pair `left << 32 | right` becomes `new` at priority `rank` (lower
/// first).
#[derive(Clone, Copy, Debug)]
struct MergeRule {
    pair: u64,
    rank: u32,
    new: u32,
}

fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// A token matched in input text as a whole.
#[derive(Clone, Copy, Debug)]
struct Special {
    id: u32,
    /// Control and unknown tokens, which message content never produces; user-defined tokens
    /// are matched everywhere (as llama.cpp does without `parse_special`).
    control: bool,
}

/// A piece of input text being split at special tokens: text still to encode, or a token.
#[derive(Debug, PartialEq, Eq)]
enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

/// One symbol of a piece being merged: a token, linked to its live neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    /// Index of the previous live symbol (`usize::MAX`: none).
    prev: usize,
    /// Index of the next live symbol (`usize::MAX`: none).
    next: usize,
    /// False once merged into the symbol on its left.
    live: bool,
}

/// The vocabulary a tokenizer is built from, borrowed from a [`TokenizerSpec`] or a file.
struct Parts<'a, T, M> {
    model: &'a str,
    pre: Option<&'a str>,
    tokens: T,
    token_types: &'a [i32],
    merges: M,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
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

/// FNV-1a, 64 bits: the text index's hash.
fn text_hash(text: &[u8]) -> u64 {
    text.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The id of the `<|eot_id|>` token, if the vocabulary has one (the first such id).
fn find_eot<'a>(mut tokens: impl Iterator<Item = &'a str>) -> Option<u32> {
    tokens
        .position(|t| t == special::EOT_ID)
        .and_then(|i| u32::try_from(i).ok())
}

impl Tokenizer {
    /// Builds the tokenizer, checking the spec: model `gpt2`, a known pre-tokenizer, one
    /// known type per token, BOS / EOS / EOT inside the vocabulary, and every merge made of
    /// two tokens whose concatenation is a token. Where two tokens share a text, text → id
    /// lookups see the later id (as llama.cpp); both still decode. Where two merges join the
    /// same pair, the later one applies.
    pub fn new(spec: &TokenizerSpec) -> Result<Self, TokenizerError> {
        Self::build(Parts {
            model: &spec.model,
            pre: spec.pre.as_deref(),
            tokens: spec.tokens.iter().map(String::as_str),
            token_types: &spec.token_types,
            merges: spec.merges.iter().map(String::as_str),
            bos: spec.bos,
            eos: spec.eos,
            eot: spec.eot,
            add_bos: spec.add_bos,
        })
    }

    /// [`new`](Self::new) of [`TokenizerSpec::from_gguf`]`(file)`, built from the file's
    /// metadata without the spec's copy of every token and merge.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let keys = FileKeys::read(file)?;
        let no_merges = StringArray::new();
        Self::build(Parts {
            model: keys.model,
            pre: keys.pre,
            tokens: keys.tokens.iter(),
            token_types: &keys.token_types,
            merges: keys.merges.unwrap_or(&no_merges).iter(),
            bos: keys.bos,
            eos: keys.eos,
            eot: keys.eot,
            add_bos: keys.add_bos,
        })
    }

    fn build<'a, T, M>(parts: Parts<'a, T, M>) -> Result<Self, TokenizerError>
    where
        T: ExactSizeIterator<Item = &'a str> + Clone,
        M: Iterator<Item = &'a str>,
    {
        if parts.model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel(parts.model.to_owned()));
        }
        let vocab_size = parts.tokens.len();
        if vocab_size == 0 || u32::try_from(vocab_size).is_err() {
            return Err(TokenizerError::VocabularySize(vocab_size));
        }
        if parts.token_types.len() != vocab_size {
            return Err(TokenizerError::TokenTypeCount {
                tokens: vocab_size,
                token_types: parts.token_types.len(),
            });
        }
        let types = parts
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
        for (name, id) in [("bos", parts.bos), ("eos", parts.eos), ("eot", parts.eot)] {
            if let Some(id) = id.filter(|&id| id as usize >= vocab_size) {
                return Err(TokenizerError::SpecialIdOutOfRange {
                    name,
                    id,
                    vocab_size,
                });
            }
        }
        let (pre_tokenizer, ignore_merges) = pre_tokenizer(parts.pre)?;

        let text_bytes = parts.tokens.clone().map(str::len).sum();
        let mut texts = String::with_capacity(text_bytes);
        let mut text_ends = Vec::with_capacity(vocab_size);
        // A normal token's byte-level text is at least as long as its bytes.
        let mut piece_bytes = Vec::with_capacity(text_bytes);
        let mut piece_ends = Vec::with_capacity(vocab_size);
        let too_large = || TokenizerError::VocabularyBytes(u32::MAX as usize + 1);
        for (text, &token_type) in parts.tokens.zip(&types) {
            texts.push_str(text);
            text_ends.push(u32::try_from(texts.len()).map_err(|_| too_large())?);
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
            piece_ends.push(u32::try_from(piece_bytes.len()).map_err(|_| too_large())?);
        }
        texts.shrink_to_fit();
        piece_bytes.shrink_to_fit();

        let slots = vocab_size
            .checked_mul(2)
            .map(usize::next_power_of_two)
            .ok_or(TokenizerError::VocabularySize(vocab_size))?;
        let mut tok = Self {
            pre_tokenizer,
            ignore_merges,
            texts,
            text_ends,
            index: vec![0; slots],
            merges: Vec::new(),
            byte_ids: [NO_TOKEN; 256],
            specials: Vec::new(),
            specials_by_text: Vec::new(),
            special_first_bytes: [0; 4],
            max_token_bytes: 1,
            piece_bytes,
            piece_ends,
            bos: parts.bos,
            eos: parts.eos,
            eot: parts.eot,
            add_bos: parts.add_bos,
        };
        for id in 0..vocab_size as u32 {
            tok.index_insert(id);
        }
        for b in 0..=u8::MAX {
            let c = byte_level_char(b);
            if let Some(id) = tok.lookup(c.encode_utf8(&mut [0; 4])) {
                tok.byte_ids[b as usize] = id;
            }
        }

        let mut merges = Vec::with_capacity(parts.merges.size_hint().0);
        let mut joined = String::new();
        for (index, merge) in parts.merges.enumerate() {
            let rule = split_merge(merge).and_then(|(left, right)| {
                joined.clear();
                joined.push_str(left);
                joined.push_str(right);
                Some(MergeRule {
                    pair: pair_key(tok.lookup(left)?, tok.lookup(right)?),
                    rank: u32::try_from(index).ok()?,
                    new: tok.lookup(&joined)?,
                })
            });
            merges.push(rule.ok_or_else(|| TokenizerError::InvalidMerge {
                index,
                merge: merge.to_owned(),
            })?);
        }
        // The later of two rules for one pair wins: sorted first, it is the one kept.
        merges.sort_unstable_by_key(|m| (m.pair, std::cmp::Reverse(m.rank)));
        merges.dedup_by_key(|m| m.pair);
        merges.shrink_to_fit();
        tok.merges = merges;

        let mut specials: Vec<Special> = (0u32..)
            .zip(&types)
            .filter(|&(id, t)| t.is_special() && !tok.text(id).is_empty())
            .map(|(id, &t)| Special {
                id,
                control: t != TokenType::UserDefined,
            })
            .collect();
        specials.sort_by_key(|s| std::cmp::Reverse(tok.text(s.id).len()));
        tok.specials = specials;
        let mut by_text: Vec<u32> = (0u32..).zip(&tok.specials).map(|(i, _)| i).collect();
        // Texts then positions make the order total, so an unstable sort (which allocates
        // nothing) gives one result.
        by_text.sort_unstable_by(|&a, &b| {
            tok.special_text(a).cmp(tok.special_text(b)).then(a.cmp(&b))
        });
        tok.specials_by_text = by_text;
        for special in &tok.specials {
            if let Some(&b) = tok.text(special.id).as_bytes().first() {
                tok.special_first_bytes[usize::from(b >> 6)] |= 1 << (b & 63);
            }
        }

        tok.max_token_bytes = (0..vocab_size as u32)
            .map(|id| tok.token_bytes(id).map_or(0, <[u8]>::len))
            .max()
            .unwrap_or(1)
            .max(1);
        Ok(tok)
    }

    /// Token `id`'s stored text (empty outside the vocabulary).
    fn text(&self, id: u32) -> &str {
        let i = id as usize;
        let Some(&end) = self.text_ends.get(i) else {
            return "";
        };
        let start = if i == 0 { 0 } else { self.text_ends[i - 1] };
        self.texts.get(start as usize..end as usize).unwrap_or("")
    }

    /// The text of the special at position `rank` of `specials` (empty outside it).
    fn special_text(&self, rank: u32) -> &str {
        self.specials
            .get(rank as usize)
            .map_or("", |special| self.text(special.id))
    }

    /// Adds token `id` to the text index; a token of the same text already there gives way.
    fn index_insert(&mut self, id: u32) {
        let mask = self.index.len() - 1;
        let mut slot = text_hash(self.text(id).as_bytes()) as usize & mask;
        loop {
            match self.index[slot] {
                0 => break,
                other if self.text(other - 1) == self.text(id) => break,
                _ => slot = (slot + 1) & mask,
            }
        }
        self.index[slot] = id + 1;
    }

    /// The id of the token whose text is `text`.
    fn lookup(&self, text: &str) -> Option<u32> {
        let mask = self.index.len() - 1;
        let mut slot = text_hash(text.as_bytes()) as usize & mask;
        loop {
            match self.index[slot] {
                0 => return None,
                entry if self.text(entry - 1) == text => return Some(entry - 1),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// The merge of `left` then `right`: its rank and the token it makes.
    fn merge_of(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        let pair = pair_key(left, right);
        self.merges
            .binary_search_by_key(&pair, |m| m.pair)
            .ok()
            .map(|i| (self.merges[i].rank, self.merges[i].new))
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
        let mut symbols = Vec::new();
        let mut queue = BinaryHeap::new();
        for fragment in self.split_specials(text, content) {
            match fragment {
                Fragment::Token(id) => ids.push(id),
                Fragment::Text(range) => {
                    let mut pieces = PreTokenizedString::from(&text[range]);
                    self.pre_tokenizer
                        .pre_tokenize(&mut pieces)
                        .map_err(|e| TokenizerError::Backend(e.to_string()))?;
                    for (piece, _, _) in
                        pieces.get_splits(OffsetReferential::Normalized, OffsetType::None)
                    {
                        self.encode_piece(piece, &mut ids, &mut symbols, &mut queue);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Appends the tokens of one pre-tokenized piece (byte-level text): the whole piece when
    /// it is a token and merges are skipped for such pieces; else its characters' tokens,
    /// merged by BPE, lowest rank first and, among equal ranks, leftmost first. A character
    /// that is not a token is dropped (as the `tokenizers` crate's BPE without an unknown
    /// token does).
    fn encode_piece(
        &self,
        piece: &str,
        ids: &mut Vec<u32>,
        symbols: &mut Vec<Symbol>,
        queue: &mut BinaryHeap<std::cmp::Reverse<(u32, usize, u32)>>,
    ) {
        if piece.is_empty() {
            return;
        }
        if self.ignore_merges {
            if let Some(id) = self.lookup(piece) {
                ids.push(id);
                return;
            }
        }
        symbols.clear();
        for c in piece.chars() {
            let id = match char_byte(c) {
                Some(b) => self.byte_ids[b as usize],
                None => self.lookup(c.encode_utf8(&mut [0; 4])).unwrap_or(NO_TOKEN),
            };
            if id != NO_TOKEN {
                let at = symbols.len();
                symbols.push(Symbol {
                    id,
                    prev: at.wrapping_sub(1),
                    next: at + 1,
                    live: true,
                });
            }
        }
        let Some(last) = symbols.last_mut() else {
            return;
        };
        last.next = usize::MAX;

        queue.clear();
        for (pos, pair) in symbols.windows(2).enumerate() {
            if let Some((rank, new)) = self.merge_of(pair[0].id, pair[1].id) {
                queue.push(std::cmp::Reverse((rank, pos, new)));
            }
        }
        while let Some(std::cmp::Reverse((_, pos, new))) = queue.pop() {
            let left = symbols[pos];
            if !left.live || left.next == usize::MAX {
                continue;
            }
            let right = symbols[left.next];
            // An entry made stale by an earlier merge no longer names this pair's merge.
            if self.merge_of(left.id, right.id).map(|(_, id)| id) != Some(new) {
                continue;
            }
            symbols[pos].id = new;
            symbols[pos].next = right.next;
            symbols[left.next].live = false;
            if let Some(after) = symbols.get_mut(right.next) {
                after.prev = pos;
            }
            let current = symbols[pos];
            if let Some(before) = symbols.get(current.prev) {
                if let Some((rank, new)) = self.merge_of(before.id, current.id) {
                    queue.push(std::cmp::Reverse((rank, current.prev, new)));
                }
            }
            if let Some(after) = symbols.get(current.next) {
                if let Some((rank, new)) = self.merge_of(current.id, after.id) {
                    queue.push(std::cmp::Reverse((rank, pos, new)));
                }
            }
        }
        ids.extend(symbols.iter().filter(|s| s.live).map(|s| s.id));
    }

    /// `text` split at special tokens as llama.cpp splits it: each special, longest first,
    /// cuts every text fragment at each of its occurrences, left to right. Control tokens are
    /// not matched where they overlap a `content` range. Only the specials that occur in
    /// `text` are applied ([`specials_in`](Self::specials_in)): the others would cut nothing.
    fn split_specials(&self, text: &str, content: &[Range<usize>]) -> Vec<Fragment> {
        let in_content =
            |at: usize, end: usize| content.iter().any(|c| c.start < end && at < c.end);
        let mut fragments = vec![Fragment::Text(0..text.len())];
        for rank in self.specials_in(text) {
            let Some(special) = self.specials.get(rank as usize) else {
                continue;
            };
            let special_text = self.text(special.id);
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(range) = fragment else {
                    next.push(fragment);
                    continue;
                };
                let mut start = range.start;
                for (offset, _) in text[range.clone()].match_indices(special_text) {
                    let at = range.start + offset;
                    let end = at + special_text.len();
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

    /// The positions in `specials` of the specials whose text occurs somewhere in `text`,
    /// ascending (the order [`split_specials`](Self::split_specials) applies them in). Each
    /// byte where a special may start narrows `specials_by_text`, one byte of the text after
    /// another, to the texts that begin like the text from there (the entries that end at a
    /// step are the specials found there): a few binary searches per byte of text and per
    /// byte of a special matched, whatever the number of specials. Bytes, not characters:
    /// a special's text is valid UTF-8, so it only matches at character boundaries, exactly
    /// where `str::contains` finds it.
    fn specials_in(&self, text: &str) -> Vec<u32> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        for (start, &first) in bytes.iter().enumerate() {
            if self.special_first_bytes[usize::from(first >> 6)] & (1 << (first & 63)) == 0 {
                continue;
            }
            let rest = &bytes[start..];
            // The specials whose texts start with `rest[..depth]`, sorted by text.
            let mut range = self.specials_by_text.as_slice();
            let mut depth = 0;
            loop {
                // Those whose text is exactly `rest[..depth]` sort first.
                let ended = range.partition_point(|&r| self.special_text(r).len() == depth);
                found.extend_from_slice(&range[..ended]);
                range = &range[ended..];
                let Some(byte) = rest.get(depth) else {
                    break;
                };
                let at_depth = |r: u32| self.special_text(r).as_bytes().get(depth).copied();
                range = &range[range.partition_point(|&r| at_depth(r) < Some(*byte))..];
                range = &range[..range.partition_point(|&r| at_depth(r) == Some(*byte))];
                if range.is_empty() {
                    break;
                }
                depth += 1;
            }
        }
        found.sort_unstable();
        found.dedup();
        found
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
        Ok(&self.piece_bytes[start as usize..end as usize])
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
        self.lookup(text)
    }

    /// Heap bytes this tokenizer holds: its tables and the pre-tokenizer's regexes are not
    /// counted.
    pub fn table_bytes(&self) -> usize {
        self.texts.capacity()
            + self.piece_bytes.capacity()
            + 4 * (self.text_ends.capacity() + self.piece_ends.capacity() + self.index.capacity())
            + std::mem::size_of::<MergeRule>() * self.merges.capacity()
            + std::mem::size_of::<Special>() * self.specials.capacity()
            + 4 * self.specials_by_text.capacity()
    }
}

/// Splits a GGUF merge `"left right"` at its first space after the first character (a
/// `left` of one space is allowed, as in llama.cpp).
fn split_merge(merge: &str) -> Option<(&str, &str)> {
    let first = merge.chars().next()?.len_utf8();
    let space = merge[first..].find(' ')? + first;
    Some((&merge[..space], &merge[space + 1..]))
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

    /// A GPT-2-pre-tokenized vocabulary of `tokens` (all normal) and `merges`.
    fn tokenizer(tokens: &[&str], merges: &[&str]) -> Tokenizer {
        Tokenizer::new(&TokenizerSpec {
            model: "gpt2".into(),
            pre: Some("gpt-2".into()),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            token_types: vec![TokenType::Normal as i32; tokens.len()],
            merges: merges.iter().map(|m| m.to_string()).collect(),
            bos: None,
            eos: None,
            eot: None,
            add_bos: false,
        })
        .expect("builds")
    }

    #[test]
    fn lower_ranks_merge_first_and_equal_ranks_leftmost_first() {
        let tokens = ["a", "b", "c", "ab", "bc"];
        assert_eq!(
            tokenizer(&tokens, &["b c", "a b"])
                .encode("abc", false)
                .ok(),
            Some(vec![0, 4])
        );
        assert_eq!(
            tokenizer(&tokens, &["a b", "b c"])
                .encode("abc", false)
                .ok(),
            Some(vec![3, 2])
        );
        let tok = tokenizer(&["b", "bb", "bbbb"], &["b b", "bb bb"]);
        assert_eq!(tok.encode("bbb", false).ok(), Some(vec![1, 0]));
        assert_eq!(tok.encode("bbbbb", false).ok(), Some(vec![2, 0]));
    }

    #[test]
    fn later_duplicates_of_a_text_or_a_merge_win() {
        let tok = tokenizer(&["a", "b", "ab", "ab"], &["a b", "a b"]);
        assert_eq!(tok.token_id("ab"), Some(3));
        assert_eq!(tok.encode("ab", false).ok(), Some(vec![3]));
        assert_eq!(tok.decode(&[2, 3]).ok().as_deref(), Some("abab"));
        assert_eq!(tok.merges.len(), 1);
    }

    /// Normal tokens for a few characters, then specials that overlap, nest, share prefixes,
    /// tie in length, repeat one text under two types and hold multibyte characters, an
    /// unused and an empty one (neither is matched), then `reserved` padding control tokens
    /// (`<|reserved_N|>`, as a padded vocabulary has).
    fn specials_tokenizer(reserved: usize) -> Tokenizer {
        use TokenType::{Control, Normal, Unknown, Unused, UserDefined};
        let mut vocabulary: Vec<(String, TokenType)> = ["a", "b", "c", "<", "|", ">", "Ġ"]
            .iter()
            .map(|t| (t.to_string(), Normal))
            .collect();
        let specials = [
            ("<|a|>", Control),
            ("<|a|><|b|>", Control),
            ("<|b|>", UserDefined),
            ("<|", UserDefined),
            ("<|a", Control),
            ("ab", UserDefined),
            ("aba", Control),
            ("bab", UserDefined),
            ("cd", UserDefined),
            ("dc", Control),
            ("é", UserDefined),
            ("中文", Control),
            ("文<|", UserDefined),
            ("<|x|>", Control),
            ("<|x|>", UserDefined),
            ("x", Unknown),
            ("zz", Unused),
            ("", Control),
            ("😀a", UserDefined),
            ("a😀", Control),
            ("<|reserved_1", UserDefined),
        ];
        vocabulary.extend(specials.iter().map(|&(t, ty)| (t.to_string(), ty)));
        vocabulary.extend((0..reserved).map(|i| (format!("<|reserved_{i}|>"), Control)));
        Tokenizer::new(&TokenizerSpec {
            model: "gpt2".into(),
            pre: Some("gpt-2".into()),
            tokens: vocabulary.iter().map(|(t, _)| t.clone()).collect(),
            token_types: vocabulary.iter().map(|&(_, ty)| ty as i32).collect(),
            merges: Vec::new(),
            bos: None,
            eos: None,
            eot: None,
            add_bos: false,
        })
        .expect("builds")
    }

    /// The straightforward splitting `split_specials` must agree with: every special,
    /// longest first, searched for in the whole text.
    fn split_by_every_special(
        tok: &Tokenizer,
        text: &str,
        content: &[Range<usize>],
    ) -> Vec<Fragment> {
        let in_content =
            |at: usize, end: usize| content.iter().any(|c| c.start < end && at < c.end);
        let mut fragments = vec![Fragment::Text(0..text.len())];
        for special in &tok.specials {
            let special_text = tok.text(special.id);
            if !text.contains(special_text) {
                continue;
            }
            let mut next = Vec::new();
            for fragment in fragments {
                let Fragment::Text(range) = fragment else {
                    next.push(fragment);
                    continue;
                };
                let mut start = range.start;
                for (offset, _) in text[range.clone()].match_indices(special_text) {
                    let at = range.start + offset;
                    let end = at + special_text.len();
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

    /// `split_specials` and `specials_in` against the straightforward versions.
    fn check_split(tok: &Tokenizer, text: &str, content: &[Range<usize>]) {
        let present: Vec<u32> = (0u32..)
            .zip(&tok.specials)
            .filter(|&(_, s)| text.contains(tok.text(s.id)))
            .map(|(rank, _)| rank)
            .collect();
        assert_eq!(tok.specials_in(text), present, "{text:?}");
        assert_eq!(
            tok.split_specials(text, content),
            split_by_every_special(tok, text, content),
            "{text:?} with content {content:?}"
        );
    }

    #[test]
    fn splitting_at_the_specials_a_text_holds_matches_trying_every_special() {
        let tok = specials_tokenizer(40);
        let id = |t: &str| tok.token_id(t).expect("a token");
        let texts = [
            "",
            "plain text without specials",
            "<|a|>",
            "<|a|><|b|>",
            "<|a|><|a|><|b|><|b|>",
            "x<|a|>",
            "<|a|>x",
            "ababababa",
            "babab",
            "cdcdc",
            "dcdcd",
            "<|x|><|x|>",
            "<|<|<|a",
            "é<|a|>é中文<|b|>文<|a|>",
            "中文<|中文<|x|>文",
            "😀a😀😀ab😀",
            "<|reserved_1|><|reserved_12|><|reserved_123|><|reserved_1",
            "<|reserved_39|>é<|reserved_40|>",
            "zz<|zz|>",
            "Ġ<|b|>Ġ",
        ];
        // Content ranges as (start, end) pairs.
        let contents: [&[(usize, usize)]; 5] = [
            &[],
            &[(0, 1)],
            &[(2, 5)],
            &[(0, usize::MAX)],
            &[(1, 3), (6, 9)],
        ];
        for text in texts {
            for content in contents {
                let content: Vec<Range<usize>> = content.iter().map(|&(s, e)| s..e).collect();
                check_split(&tok, text, &content);
            }
        }
        // A few outcomes spelled out, so that both versions being wrong alike shows too.
        assert_eq!(
            tok.split_specials("<|a|><|b|>x", &[]),
            [Fragment::Token(id("<|a|><|b|>")), Fragment::Token(id("x"))]
        );
        // Inside content the control tokens are text, the user-defined ones still match.
        let whole = 0..10;
        assert_eq!(
            tok.split_specials("<|a|><|b|>", std::slice::from_ref(&whole)),
            [
                Fragment::Token(id("<|")),
                Fragment::Text(2..5),
                Fragment::Token(id("<|b|>"))
            ]
        );
        assert_eq!(
            tok.split_specials("é中文", &[]),
            [Fragment::Token(id("é")), Fragment::Token(id("中文"))]
        );
        assert_eq!(
            tok.split_specials("ababa", &[]),
            [Fragment::Token(id("aba")), Fragment::Text(3..5)]
        );
    }

    #[test]
    fn splitting_random_texts_matches_trying_every_special() {
        use rand::{Rng, SeedableRng};
        use rand_chacha::ChaCha8Rng;

        let snippets = [
            "a",
            "b",
            "c",
            "d",
            "x",
            "z",
            "<",
            "|",
            ">",
            "<|",
            "|>",
            "é",
            "中",
            "文",
            "😀",
            " ",
            "\n",
            "reserved_",
            "1",
            "2",
            "0",
            "Ġ",
        ];
        for (seed, reserved, cases) in [(1, 30, 3000), (2, 5000, 200)] {
            let tok = specials_tokenizer(reserved);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..cases {
                let mut text = String::new();
                for _ in 0..rng.random_range(0..24) {
                    let special = tok.special_text(rng.random_range(0..tok.specials.len() as u32));
                    match rng.random_range(0..4) {
                        0 => text.push_str(special),
                        1 => {
                            // A prefix of a special, cut at a character boundary.
                            let cut = rng.random_range(0..=special.len());
                            let cut = (0..=cut).rev().find(|&i| special.is_char_boundary(i));
                            text.push_str(&special[..cut.unwrap_or(0)]);
                        }
                        _ => text.push_str(snippets[rng.random_range(0..snippets.len())]),
                    }
                }
                let content: Vec<Range<usize>> = (0..rng.random_range(0..3))
                    .map(|_| {
                        let start = rng.random_range(0..=text.len() + 1);
                        start..rng.random_range(start..=text.len() + 2)
                    })
                    .collect();
                check_split(&tok, &text, &content);
            }
        }
    }

    #[test]
    fn the_by_text_index_of_specials_is_counted() {
        let small = specials_tokenizer(0);
        let padded = specials_tokenizer(1000);
        assert_eq!(padded.specials.len(), small.specials.len() + 1000);
        assert_eq!(padded.specials_by_text.len(), padded.specials.len());
        // Each padding token adds its texts, its offsets, index slots and its two special
        // entries; the last two at least.
        assert!(
            padded.table_bytes()
                >= small.table_bytes() + 1000 * (std::mem::size_of::<Special>() + 4)
        );
    }

    #[test]
    fn characters_without_a_token_are_dropped_and_lookups_miss_cleanly() {
        let tok = tokenizer(&["a", "c"], &[]);
        assert_eq!(tok.encode("abc", false).ok(), Some(vec![0, 1]));
        assert_eq!(tok.token_id("b"), None);
        assert_eq!(tok.token_id(""), None);
        assert!(tok.table_bytes() > 0);
    }
}
