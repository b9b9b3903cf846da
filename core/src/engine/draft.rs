//! Prompt-lookup drafting for speculative decoding: the tokens that followed the most recent
//! earlier occurrence of the conversation's last few tokens, guessed to come next.
//!
//! A session evaluates its next token together with such a draft in one forward pass (reading
//! the weights once), then samples each position as plain decoding would and keeps the drafted
//! tokens for as long as they equal what it sampled. A token's logits do not depend on how
//! tokens are batched (see `model::forward`), so the output is exactly plain decoding's, token
//! for token and for any seed; only the number of passes over the weights changes.

/// Longest n-gram looked up, in tokens.
const MAX_NGRAM: usize = 3;

/// Shortest n-gram looked up, in tokens: a single repeated token predicts too little.
const MIN_NGRAM: usize = 2;

/// Most tokens a draft may hold ([`EngineConfig::draft_tokens`](super::EngineConfig)).
pub const MAX_DRAFT_TOKENS: usize = 15;

/// Up to `max` tokens that followed an earlier occurrence of `history`'s last [`MAX_NGRAM`]
/// tokens (else its last `MAX_NGRAM - 1`, down to [`MIN_NGRAM`]): the most recent occurrence
/// followed by at least `max` tokens, else the earliest (followed by the most). Empty when
/// none occurred before.
pub(super) fn lookup(history: &[u32], max: usize) -> &[u32] {
    if max == 0 {
        return &[];
    }
    for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
        let Some(tail_at) = history.len().checked_sub(n) else {
            continue;
        };
        let tail = &history[tail_at..];
        // Most recent first; the tail itself (at `tail_at`) is not an earlier occurrence.
        let mut earliest = None;
        for start in (0..tail_at).rev().filter(|&i| &history[i..i + n] == tail) {
            let from = start + n;
            if history.len() - from >= max {
                return &history[from..from + max];
            }
            earliest = Some(from);
        }
        if let Some(from) = earliest {
            return &history[from..];
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_recent_match_gives_what_followed_it() {
        // "1 2 3 4 5 ... 1 2 3" → "4 5" (up to max); the trigram beats the later bigram "2 3".
        let h = [1, 2, 3, 4, 5, 9, 2, 3, 7, 1, 2, 3];
        assert_eq!(lookup(&h, 2), &[4, 5]);
        assert_eq!(lookup(&h, 10), &[4, 5, 9, 2, 3, 7, 1, 2, 3]);
        // Only a bigram matches: its most recent occurrence followed by enough tokens wins,
        // else the earliest.
        let h = [5, 6, 8, 0, 5, 6, 9, 4, 5, 6];
        assert_eq!(lookup(&h, 3), &[9, 4, 5]);
        assert_eq!(lookup(&h, 6), &[8, 0, 5, 6, 9, 4]);
        assert_eq!(lookup(&h, 9), &[8, 0, 5, 6, 9, 4, 5, 6]);
        // A run of one token drafts more of it.
        assert_eq!(lookup(&[4, 7, 7, 7, 7, 7, 7], 3), &[7, 7, 7]);
    }

    #[test]
    fn no_earlier_occurrence_or_no_room_is_no_draft() {
        assert!(lookup(&[1, 2, 3, 4], 4).is_empty());
        assert!(lookup(&[7], 4).is_empty());
        assert!(lookup(&[], 4).is_empty());
        assert!(lookup(&[1, 2, 1, 2], 0).is_empty());
        // A single repeated token is not enough.
        assert!(lookup(&[3, 9, 8, 3], 4).is_empty());
        // A match at the very end of the history continues with the overlap.
        assert_eq!(lookup(&[1, 2, 1, 2], 4), &[1, 2]);
    }
}
