//! Memory accounting: what a model needs, read from its header before anything is allocated,
//! and the budget checks of loading and session creation.
//!
//! The estimate is of peak resident memory, parts:
//! - **mapped**: the whole file (header and tensors). Generation reads every weight for every
//!   token, so all of it becomes resident (file-backed, clean pages);
//! - **tokenizer**: the file's vocabulary and merges (string arrays kept with its metadata)
//!   and the tokenizer's tables built from them, at their peak while building, from per-token,
//!   per-merge and per-text-byte costs checked against a counting allocator (see the
//!   constants);
//! - **runtime**: the engine's code, worker stacks and allocator slack (measured);
//! - per session: **scratch** (the forward buffers of one prefill batch and its logits, as
//!   [`ScratchLayout`](crate::model::ScratchLayout) allocates them, and the sampler's
//!   candidates) and, per token of context, the **KV cache** plus a little bookkeeping.
//!
//! The parts are the byte sums of a [`Plan`](super::Plan), which also drives loading.
//!
//! Sessions reserve their whole context up front: a session's reservation stays counted while
//! it lives, even after [`Engine::trim`](super::Engine::trim) gave its buffers back, so a
//! trimmed session can always re-allocate them.

use crate::gguf::{ArrayValue, GgufFile, Value};
use crate::model::KvPrecision;
use crate::runtime::Profile;
use crate::tokenizer::TokenType;
use crate::{Error, Result};

/// The smallest useful context, in tokens: loading fails when the model plus one session of
/// this many tokens (or of the model's whole training context, if shorter) exceed the budget,
/// and a session is refused rather than given less. 256 tokens hold a short system prompt, a
/// question and an answer.
pub const MIN_CONTEXT_TOKENS: usize = 256;

/// Tokenizer bytes per token besides its text: its offset in the file's string array (8),
/// its type (4 in the file's array, 1 while building), its text's and its rendered bytes'
/// offsets (4 + 4), with 3 bytes of allocator slack.
const TOKENIZER_BYTES_PER_TOKEN: u64 = 24;
/// Tokenizer bytes per byte of token text: the file's string array, the tokenizer's copy of
/// the texts and the bytes each token renders as (at most its text's).
const TOKENIZER_BYTES_PER_TOKEN_TEXT_BYTE: u64 = 3;
/// Tokenizer bytes per slot of the text → id index (a `u32`; the slots are the vocabulary
/// size doubled, rounded up to a power of two).
const TOKENIZER_BYTES_PER_INDEX_SLOT: u64 = 4;
/// Tokenizer bytes per merge besides its text: its offset in the file's string array (8) and
/// its rule (pair, rank, result: 16).
const TOKENIZER_BYTES_PER_MERGE: u64 = 24;
/// Tokenizer bytes per special (control / user-defined / unknown) token: its entry in the
/// longest-first list (8) and its position in the by-text index (4).
const TOKENIZER_BYTES_PER_SPECIAL: u64 = 12;
/// Transient and fixed tokenizer bytes: the pre-tokenizer's compiled regexes and the
/// allocator's rounding (measured: 1 MB or less).
const TOKENIZER_FIXED_BYTES: u64 = 2 << 20;
/// The engine's share of a process that is not model-dependent: code of the engine and its
/// libraries (tokenizer regexes included), worker thread stacks, allocator slack (measured:
/// the CLI peaks at 9–10 MB beyond its model parts generating with the tiny model).
pub(super) const RUNTIME_BYTES: u64 = 12 << 20;
/// Per token of context besides the KV cache: its attention score (f32) and its id in the
/// cache, the prompt and the penalty window (3 × u32).
const BOOKKEEPING_BYTES_PER_TOKEN: u64 = 16;

/// What running a model takes, in bytes, computed from its header and metadata alone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MemoryEstimate {
    /// The mapped file (header and weights), in bytes; all of it is resident while generating.
    pub mapped_bytes: u64,
    /// Whether [`mapped_bytes`](Self::mapped_bytes) count in the totals
    /// (`EngineConfig::count_mapped_weights`).
    pub mapped_counted: bool,
    /// The output head re-quantised at load (`EngineConfig::head` = Q8_0 on a float head),
    /// held outside the mapping, in bytes; 0 when the head is read in place.
    pub head_bytes: u64,
    /// Vocabulary, merges and tokenizer structures, in bytes.
    pub tokenizer_bytes: u64,
    /// Engine code, worker stacks and allocator slack, in bytes.
    pub runtime_bytes: u64,
    /// KV cache per token of context, in bytes.
    pub kv_bytes_per_token: u64,
    /// The precision the KV cache would use.
    pub kv_precision: KvPrecision,
    /// One session's forward, logits and sampling buffers, in bytes.
    pub scratch_bytes: u64,
    /// The engine's shared decode steps' forward and logits buffers when concurrent decodes
    /// are batched (`EngineConfig::decode_batching`), in bytes; 0 when they are not.
    pub decode_batch_bytes: u64,
    /// Context of a session created with the defaults (before any budget cap), in tokens.
    pub default_context_tokens: usize,
    /// The smallest context loading requires to fit, in tokens: [`MIN_CONTEXT_TOKENS`], or
    /// the model's training context if shorter.
    pub min_context_tokens: usize,
}

#[cfg_attr(feature = "uniffi", uniffi::export)]
impl MemoryEstimate {
    /// Bytes the engine holds whatever its sessions: mapped weights (when counted), a
    /// re-quantised head, tokenizer, runtime and the shared decode steps' buffers.
    pub fn engine_bytes(&self) -> u64 {
        let mapped = if self.mapped_counted {
            self.mapped_bytes
        } else {
            0
        };
        mapped
            .saturating_add(self.head_bytes)
            .saturating_add(self.tokenizer_bytes)
            .saturating_add(self.runtime_bytes)
            .saturating_add(self.decode_batch_bytes)
    }

    /// Bytes one session with a `context_tokens`-token context adds: scratch, KV cache,
    /// bookkeeping (`u64::MAX` when that overflows).
    pub fn session_bytes(&self, context_tokens: usize) -> u64 {
        let context = u64::try_from(context_tokens).unwrap_or(u64::MAX);
        self.scratch_bytes
            .saturating_add(context.saturating_mul(self.per_token_bytes()))
    }

    /// The engine plus one session of `context_tokens` tokens, in bytes (`u64::MAX` when that
    /// overflows).
    pub fn total_bytes(&self, context_tokens: usize) -> u64 {
        self.engine_bytes()
            .saturating_add(self.session_bytes(context_tokens))
    }

    /// The longest context (tokens) whose session fits in `available_bytes` (what a budget
    /// leaves after `engine_bytes()` and other sessions); 0 when not even the scratch does.
    pub fn context_fitting(&self, available_bytes: u64) -> usize {
        let left = available_bytes.saturating_sub(self.scratch_bytes);
        usize::try_from(left / self.per_token_bytes()).unwrap_or(usize::MAX)
    }

    /// The longest context (tokens) of the engine's only session under a `budget_bytes` budget
    /// (`bitnet estimate`'s `max_context_tokens`); 0 when the engine alone does not fit.
    /// Loading succeeds when this is at least [`min_context_tokens`](Self::min_context_tokens).
    pub fn max_context_tokens(&self, budget_bytes: u64) -> usize {
        self.context_fitting(budget_bytes.saturating_sub(self.engine_bytes()))
    }
}

impl MemoryEstimate {
    /// The context (tokens) of a new session asking for `requested` tokens under `budget`
    /// bytes when other live sessions reserve `others` bytes: `requested`, capped to what
    /// fits (logged); [`Error::BudgetExceeded`] when that is less than `requested` or
    /// [`min_context_tokens`](Self::min_context_tokens), whichever is smaller.
    pub(super) fn fit_session(&self, requested: usize, budget: u64, others: u64) -> Result<usize> {
        let taken = self.engine_bytes() + others;
        let fits = self
            .context_fitting(budget.saturating_sub(taken))
            .min(requested);
        let least = requested.min(self.min_context_tokens);
        if fits < least {
            let needed = taken + self.session_bytes(least);
            return Err(Self::exceeded(needed, budget, least));
        }
        if fits < requested {
            log::info!(
                "session context capped at {fits} tokens (asked {requested}) by the {budget}-byte memory budget"
            );
        }
        Ok(fits)
    }

    fn per_token_bytes(&self) -> u64 {
        self.kv_bytes_per_token + BOOKKEEPING_BYTES_PER_TOKEN
    }

    /// The error for a need of `needed` bytes (a `context`-token context) over `budget`.
    pub(super) fn exceeded(needed: u64, budget: u64, context: usize) -> Error {
        Error::BudgetExceeded {
            needed,
            budget,
            context,
            fits_profile: Profile::smallest_holding(needed),
        }
    }
}

/// The tokenizer's bytes at their peak, while it is built: the file's `tokenizer.ggml.*`
/// arrays (kept with the file's metadata) and the tokenizer's tables, from the number of
/// tokens, merges and special tokens and the length of their texts (the constants above,
/// which the `tokenizer_memory` test checks against a counting allocator). Llama-3's 128 256
/// tokens and 280 147 merges: about 19 MB.
pub fn tokenizer_bytes(file: &GgufFile) -> u64 {
    let strings = |key: &str| match file.get(key) {
        Some(Value::Array(ArrayValue::String(a))) => (a.len() as u64, a.text_bytes() as u64),
        _ => (0, 0),
    };
    let special = file
        .get_i32_array_opt("tokenizer.ggml.token_type")
        .ok()
        .flatten()
        .map_or(0, |types| {
            types
                .iter()
                .filter(|&&t| TokenType::from_gguf(t).is_some_and(TokenType::is_special))
                .count() as u64
        });
    let (tokens, token_text) = strings("tokenizer.ggml.tokens");
    let (merges, merge_text) = strings("tokenizer.ggml.merges");
    let index_slots = match tokens {
        0 => 0,
        n => n
            .saturating_mul(2)
            .checked_next_power_of_two()
            .unwrap_or(u64::MAX),
    };
    (tokens.saturating_mul(TOKENIZER_BYTES_PER_TOKEN))
        .saturating_add(token_text.saturating_mul(TOKENIZER_BYTES_PER_TOKEN_TEXT_BYTE))
        .saturating_add(index_slots.saturating_mul(TOKENIZER_BYTES_PER_INDEX_SLOT))
        .saturating_add(merges.saturating_mul(TOKENIZER_BYTES_PER_MERGE))
        .saturating_add(merge_text)
        .saturating_add(special.saturating_mul(TOKENIZER_BYTES_PER_SPECIAL))
        .saturating_add(TOKENIZER_FIXED_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate() -> MemoryEstimate {
        MemoryEstimate {
            mapped_bytes: 100 << 20,
            mapped_counted: true,
            head_bytes: 0,
            tokenizer_bytes: 10 << 20,
            runtime_bytes: RUNTIME_BYTES,
            kv_bytes_per_token: 16 << 10,
            kv_precision: KvPrecision::F16,
            scratch_bytes: 4 << 20,
            decode_batch_bytes: 0,
            default_context_tokens: 2048,
            min_context_tokens: MIN_CONTEXT_TOKENS,
        }
    }

    /// A GGUF v3 file holding only these tokenizer arrays.
    fn vocabulary_file(tokens: &[&str], types: &[i32], merges: &[&str]) -> GgufFile {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        for (key, strings) in [
            ("tokenizer.ggml.tokens", tokens),
            ("tokenizer.ggml.merges", merges),
        ] {
            put_str(&mut b, key);
            b.extend(9u32.to_le_bytes());
            b.extend(8u32.to_le_bytes());
            b.extend((strings.len() as u64).to_le_bytes());
            strings.iter().for_each(|s| put_str(&mut b, s));
        }
        put_str(&mut b, "tokenizer.ggml.token_type");
        b.extend(9u32.to_le_bytes());
        b.extend(5u32.to_le_bytes());
        b.extend((types.len() as u64).to_le_bytes());
        types.iter().for_each(|t| b.extend(t.to_le_bytes()));
        GgufFile::from_bytes(b).expect("a valid file")
    }

    #[test]
    fn the_tokenizer_part_counts_tokens_merges_texts_and_specials() {
        let file = vocabulary_file(&["a", "bc", "<|x|>"], &[1, 1, 3], &["a bc"]);
        let expected = 3 * TOKENIZER_BYTES_PER_TOKEN
            + (1 + 2 + 5) * TOKENIZER_BYTES_PER_TOKEN_TEXT_BYTE
            + 8 * TOKENIZER_BYTES_PER_INDEX_SLOT
            + TOKENIZER_BYTES_PER_MERGE
            + 4
            + TOKENIZER_BYTES_PER_SPECIAL
            + TOKENIZER_FIXED_BYTES;
        assert_eq!(tokenizer_bytes(&file), expected);
        let empty = vocabulary_file(&[], &[], &[]);
        assert_eq!(tokenizer_bytes(&empty), TOKENIZER_FIXED_BYTES);
    }

    #[test]
    fn totals_add_the_parts() {
        let e = estimate();
        assert_eq!(e.engine_bytes(), (110 << 20) + RUNTIME_BYTES);
        let per_token = (16 << 10) + BOOKKEEPING_BYTES_PER_TOKEN;
        assert_eq!(e.session_bytes(1000), (4 << 20) + 1000 * per_token);
        assert_eq!(
            e.total_bytes(1000),
            e.engine_bytes() + e.session_bytes(1000)
        );
        let unmapped = MemoryEstimate {
            mapped_counted: false,
            ..estimate()
        };
        assert_eq!(unmapped.engine_bytes(), (10 << 20) + RUNTIME_BYTES);
        let requantized = MemoryEstimate {
            head_bytes: 3 << 20,
            ..unmapped
        };
        assert_eq!(requantized.engine_bytes(), (13 << 20) + RUNTIME_BYTES);
        let batching = MemoryEstimate {
            decode_batch_bytes: 2 << 20,
            ..requantized
        };
        assert_eq!(batching.engine_bytes(), (15 << 20) + RUNTIME_BYTES);
    }

    #[test]
    fn context_fitting_is_the_largest_session_that_fits() {
        let e = estimate();
        for ctx in [1, 255, 256, 1000, 4096] {
            let bytes = e.session_bytes(ctx);
            assert_eq!(e.context_fitting(bytes), ctx);
            assert_eq!(e.context_fitting(bytes - 1), ctx - 1);
        }
        assert_eq!(e.context_fitting(0), 0);
        assert_eq!(e.context_fitting(e.scratch_bytes - 1), 0);
    }

    #[test]
    fn sessions_get_what_is_left_down_to_the_minimum() {
        let e = estimate();
        let budget = e.total_bytes(2000);
        assert_eq!(e.fit_session(4096, budget, 0).ok(), Some(2000));
        assert_eq!(e.fit_session(500, budget, 0).ok(), Some(500));
        // Another session's reservation comes off the top.
        let others = e.session_bytes(500);
        let left = e.context_fitting(budget - e.engine_bytes() - others);
        assert!(left > MIN_CONTEXT_TOKENS && left < 1500, "{left}");
        assert_eq!(e.fit_session(4096, budget, others).ok(), Some(left));
        // Below the minimum: refused, unless the request itself is that small.
        let tight = e.total_bytes(MIN_CONTEXT_TOKENS) - 1;
        assert!(matches!(
            e.fit_session(4096, tight, 0),
            Err(Error::BudgetExceeded {
                context: MIN_CONTEXT_TOKENS,
                ..
            })
        ));
        assert_eq!(e.fit_session(100, tight, 0).ok(), Some(100));
    }

    #[test]
    fn exceeded_names_the_numbers_and_the_profile_that_fits() {
        let err = MemoryEstimate::exceeded(600 << 20, 512 << 20, 256);
        assert!(matches!(
            err,
            Error::BudgetExceeded {
                needed,
                budget,
                context: 256,
                fits_profile: Some(Profile::Edge),
            } if needed == 600 << 20 && budget == 512 << 20
        ));
        assert_eq!(
            err.to_string(),
            "memory budget exceeded: 629145600 bytes needed (with a 256-token context), the budget \
             is 536870912 bytes; the edge profile (1024 MiB) would fit"
        );
        let err = MemoryEstimate::exceeded(5 << 30, 4 << 30, 256);
        assert!(err
            .to_string()
            .ends_with("no deployment profile is large enough"));
    }
}
