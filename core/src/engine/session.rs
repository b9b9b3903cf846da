//! One conversation: its history, KV cache and the generation loop.
//!
//! Each request renders the whole history plus the new input, tokenizes it, and reuses the
//! longest prefix already in the KV cache. A turn after any earlier one (finished, stopped or
//! cancelled) therefore sees exactly the tokens a fresh session fed the same history would,
//! and — the forward pass being batch-invariant — computes the same logits.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

use super::checkpoint::Checkpoint;
use super::draft;
use super::plan::PREFILL_BATCH;
use super::stop::StopFilter;
use super::{
    CancelToken, Engine, Event, FinishReason, Generation, GenerationOptions, GenerationStats,
    Input, Sink,
};
use crate::chat::{Message, Role};
use crate::model::{KvCache, LogitsFor, Scratch};
use crate::runtime::memory;
use crate::runtime::metrics::RequestFigures;
use crate::runtime::queue::Refused;
use crate::sampling::Sampler;
use crate::tokenizer::StreamDecoder;
use crate::{Error, Result};

/// What to do when a request does not fit in the context together with the whole history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum OverflowPolicy {
    /// Fail with [`Error::ContextFull`]; the session is left unchanged.
    #[default]
    Error,
    /// Drop the oldest turns (system messages are kept) until the request fits.
    DropOldestTurns,
}

/// Per-session settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SessionConfig {
    /// Context length in tokens; 0 = the model's training context, capped at the engine's
    /// `max_input_tokens + max_output_tokens`. Either is capped to the engine's memory budget.
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub context_length: usize,
    /// What to do when the history outgrows the context; `None` = [`OverflowPolicy::Error`].
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub overflow: Option<OverflowPolicy>,
}

/// Prompts up to this many bytes are tokenized before a [`Error::PromptTooLong`], which then
/// gives their exact token count; a longer one over the limit is refused by its length alone
/// (the error's count is then the fewest tokens it could have).
pub const EXACT_COUNT_BYTES: usize = 64 << 10;

/// One piece of a session's history.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// A chat message, formatted with the chat template.
    Message(Message),
    /// Raw text, used as is.
    Text(String),
}

impl Segment {
    /// Bytes of the segment's own text (a message's content; the template adds more).
    fn text_len(&self) -> usize {
        match self {
            Segment::Message(m) => m.content.len(),
            Segment::Text(t) => t.len(),
        }
    }
}

/// A conversation: history, KV cache and buffers. Cancel a running generation through the
/// [`CancelToken`] given to [`Session::generate`], from another thread.
#[derive(Debug)]
pub struct Session {
    engine: Engine,
    overflow: OverflowPolicy,
    history: Vec<Segment>,
    /// Context length, in tokens.
    context: usize,
    /// KV cache and scratch, shared with the engine for [`Engine::trim`].
    buffers: Arc<Buffers>,
}

/// A session's caches behind a lock: the session holds it for a whole request, and
/// [`Engine::trim`] frees them only when it can take it (the session is idle).
#[derive(Debug)]
pub(super) struct Buffers {
    /// Bytes the session reserved against the engine's memory budget.
    reserved_bytes: u64,
    caches: Mutex<Caches>,
}

/// What a session keeps between requests to avoid recomputing: all of it can be dropped.
#[derive(Debug, Default)]
struct Caches {
    /// `None` after a trim: allocated again (empty) on the next request.
    kv: Option<KvCache>,
    /// Tokens whose keys and values are in `kv`, in order.
    cached: Vec<u32>,
    /// `None` after a trim: allocated again (the plan's layout) on the next request.
    scratch: Option<Scratch>,
}

impl Buffers {
    /// Bytes reserved against the memory budget.
    pub(super) fn reserved_bytes(&self) -> u64 {
        self.reserved_bytes
    }

    /// Frees the caches unless a request holds them; true when something was freed.
    pub(super) fn release_if_idle(&self) -> bool {
        let mut caches = match self.caches.try_lock() {
            Ok(caches) => caches,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let held = caches.kv.is_some() || caches.scratch.is_some();
        *caches = Caches::default();
        held
    }

    /// The caches, for a request or a query. A request that panicked may have left them
    /// half-written: they are then dropped (the next request re-evaluates the history).
    fn lock(&self) -> MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(|poisoned| {
            let mut caches = poisoned.into_inner();
            *caches = Caches::default();
            self.caches.clear_poison();
            caches
        })
    }
}

impl Session {
    /// A session of `context` tokens (decided by the engine) holding `reserved_bytes` of the
    /// memory budget. The KV cache is allocated zeroed: pages are committed as it fills.
    pub(super) fn new(
        engine: Engine,
        config: SessionConfig,
        context: usize,
        reserved_bytes: u64,
    ) -> Result<Session> {
        if context < 2 {
            return Err(Error::InvalidOption {
                name: "context_length",
                reason: format!("{context} tokens cannot hold a prompt and a reply"),
            });
        }
        let kv = KvCache::new(engine.model().config(), context, engine.kv_precision());
        let scratch = Scratch::new(&engine.loaded_plan().scratch);
        Ok(Session {
            engine,
            overflow: config.overflow.unwrap_or_default(),
            history: Vec::new(),
            context,
            buffers: Arc::new(Buffers {
                reserved_bytes,
                caches: Mutex::new(Caches {
                    kv: Some(kv),
                    cached: Vec::new(),
                    scratch: Some(scratch),
                }),
            }),
        })
    }

    /// The handle the engine keeps to account for and trim this session.
    pub(super) fn buffers_handle(&self) -> Weak<Buffers> {
        Arc::downgrade(&self.buffers)
    }

    /// The conversation so far.
    pub fn history(&self) -> &[Segment] {
        &self.history
    }

    /// Context length in tokens (after any cap by the memory budget).
    pub fn context_length(&self) -> usize {
        self.context
    }

    /// Tokens currently held in the KV cache (0 after [`Engine::trim`]).
    pub fn cached_tokens(&self) -> usize {
        self.buffers.lock().kv.as_ref().map_or(0, KvCache::len)
    }

    /// Forgets the history and the cache.
    pub fn reset(&mut self) {
        self.history.clear();
        let mut caches = self.buffers.lock();
        caches.cached.clear();
        if let Some(kv) = caches.kv.as_mut() {
            kv.truncate(0);
        }
    }

    /// Adds `input` to the conversation and generates a reply, streaming its text to `sink`.
    /// Cancelling `cancel` (from any thread) stops the generation before its next token,
    /// with [`FinishReason::Cancelled`].
    ///
    /// When the engine already runs its `max_concurrent_generations`, the request first waits
    /// for a slot, in arrival order; a cancel while it waits ends it at once as cancelled, and
    /// its `request_timeout_ms` counts the wait. When `max_queued_generations` requests already
    /// wait, it fails at once with [`Error::Busy`]. With decode batching on, its decode passes
    /// are shared with the other sessions decoding at the same moment; its tokens are the
    /// same.
    ///
    /// On success the input and the reply (possibly partial: cancelled, stopped, limited,
    /// stopped by the thermal governor) are part of the history. On error (rate limited, timed
    /// out, invalid, ...) the history is unchanged. Every call counts in the engine's metrics.
    pub fn generate(
        &mut self,
        input: Input,
        options: &GenerationOptions,
        cancel: Option<&CancelToken>,
        sink: &mut dyn Sink,
    ) -> Result<Generation> {
        let arrived = Instant::now();
        let engine = self.engine.clone();
        let result = self.admit().and_then(|()| {
            let timeout_ms = engine.config().request_timeout_ms;
            let deadline = timeout_ms.and_then(|ms| arrived.checked_add(Duration::from_millis(ms)));
            let cancelled = || cancel.is_some_and(CancelToken::is_cancelled);
            // Held until the generation ends; without one (cancelled while waiting) the run
            // below stops before its first forward pass.
            let _slot = match engine.inner.queue.enter(deadline, &cancelled) {
                Ok(slot) => {
                    engine
                        .inner
                        .metrics
                        .record_wait(slot.waited.as_secs_f64() * 1e3);
                    Some(slot)
                }
                Err(Refused::Cancelled) => None,
                Err(Refused::TimedOut) => {
                    return Err(Error::Timeout {
                        limit_ms: timeout_ms.unwrap_or_default(),
                    })
                }
                Err(Refused::Full { running, queued }) => {
                    return Err(Error::Busy {
                        generating: running,
                        queued,
                    })
                }
            };
            let queued_ms = arrived.elapsed().as_secs_f64() * 1e3;
            self.run(input, options, cancel, sink, arrived, queued_ms)
        });
        let metrics = &self.engine.inner.metrics;
        match &result {
            Ok(g) => metrics.record_success(RequestFigures {
                prompt_tokens: g.stats.prompt_tokens,
                generated_tokens: g.stats.generated_tokens,
                latency_ms: g.stats.total_ms,
                decode_tokens_per_s: g.stats.decode_tokens_per_s,
            }),
            Err(Error::Busy { .. }) => metrics.record_busy(),
            Err(_) => metrics.record_error(),
        }
        result
    }

    /// Passes the engine's rate limit, or fails with [`Error::RateLimited`].
    fn admit(&self) -> Result<()> {
        match &self.engine.inner.rate_limit {
            Some(limit) => limit
                .admit(Instant::now())
                .map_err(|retry_after_ms| Error::RateLimited { retry_after_ms }),
            None => Ok(()),
        }
    }

    /// [`generate`](Self::generate) without the rate limit, the queue and the metrics, for a
    /// request that arrived at `started` and waited `queued_ms` for its slot.
    fn run(
        &mut self,
        input: Input,
        options: &GenerationOptions,
        cancel: Option<&CancelToken>,
        sink: &mut dyn Sink,
        started: Instant,
        queued_ms: f64,
    ) -> Result<Generation> {
        let buffers = Arc::clone(&self.buffers);
        let mut caches = buffers.lock();
        let engine = self.engine.clone();
        let Caches {
            kv,
            cached,
            scratch,
        } = &mut *caches;
        let scratch = scratch.get_or_insert_with(|| Scratch::new(&engine.loaded_plan().scratch));
        scratch.take_kernel_threads();
        scratch.take_peak_kernel_threads();
        let limits = engine.config();
        if options.max_tokens == 0 || options.max_tokens > limits.max_output_tokens {
            return Err(Error::InvalidOption {
                name: "max_tokens",
                reason: format!(
                    "{} is outside 1..={}",
                    options.max_tokens, limits.max_output_tokens
                ),
            });
        }
        let mut sampler = Sampler::new(options.sampling.clone())?;
        let (new, chat) = match input {
            Input::Chat { messages } if !messages.is_empty() => {
                (messages.into_iter().map(Segment::Message).collect(), true)
            }
            Input::Text { text } if !text.is_empty() => (vec![Segment::Text(text)], false),
            _ => return Err(Error::EmptyInput),
        };
        let ctx = self.context;
        let input_limit = limits.max_input_tokens.min(ctx - 1);
        // By length first: tokenizing a huge prompt would take seconds and gigabytes. (Up to
        // EXACT_COUNT_BYTES it is tokenized, so the error gives the exact count.)
        let bytes: usize = new.iter().map(Segment::text_len).sum();
        let at_least = engine.tokenizer().min_tokens_for_bytes(bytes);
        if bytes > EXACT_COUNT_BYTES && at_least > input_limit {
            return Err(Error::PromptTooLong {
                tokens: at_least,
                limit: input_limit,
            });
        }
        let input_tokens = self.encode(&new, false, false)?.len();
        if input_tokens > input_limit {
            return Err(Error::PromptTooLong {
                tokens: input_tokens,
                limit: input_limit,
            });
        }

        let n_new = new.len();
        let mut history = self.history.clone();
        history.extend(new);
        let mut prompt = self.tokenize(&history, chat)?;
        while prompt.len() >= ctx {
            if self.overflow == OverflowPolicy::Error || !drop_oldest_turn(&mut history, n_new) {
                return Err(Error::ContextFull {
                    needed: prompt.len() + 1,
                    context: ctx,
                });
            }
            prompt = self.tokenize(&history, chat)?;
        }

        // Reuse the cached prefix; at least the last prompt token is evaluated for its logits.
        // After a trim the cache is empty and the whole prompt is evaluated again.
        let kv = kv.get_or_insert_with(|| {
            KvCache::new(engine.model().config(), ctx, engine.kv_precision())
        });
        let reuse = common_prefix(cached, &prompt).min(prompt.len() - 1);
        kv.truncate(reuse);
        cached.truncate(reuse);
        let cancelled = || cancel.is_some_and(CancelToken::is_cancelled);

        let model = engine.model();
        let exec = engine.executor();
        let mut checkpoint = Checkpoint::for_request(&engine, started);
        let prefill_started = Instant::now();
        let mut finish = None;
        for chunk in prompt[reuse..].chunks(PREFILL_BATCH) {
            if cancelled() {
                finish = Some(FinishReason::Cancelled);
                break;
            }
            if let Some(reason) = checkpoint.check(sink, false)? {
                finish = Some(reason);
                break;
            }
            model.forward(exec, chunk, kv, scratch, LogitsFor::Last)?;
            cached.extend_from_slice(chunk);
        }
        let prefill_s = prefill_started.elapsed().as_secs_f64();

        let tokenizer = engine.tokenizer();
        let mut decoder = StreamDecoder::new();
        let mut filter = StopFilter::new(&options.stop);
        let mut text = String::new();
        let emit = |piece: &str, text: &mut String, sink: &mut dyn Sink| {
            if !piece.is_empty() {
                sink.on_event(Event::Text(piece));
                text.push_str(piece);
            }
        };
        let mut tokens = Vec::new();
        let mut recent = prompt.clone();
        let mut first_token_at = None;
        // Speculative decoding (draft.rs): the drafted tokens evaluated after the last sampled
        // one and not yet checked, oldest first, and the logits row that holds the next
        // token's distribution (row i follows the i-th of them).
        let vocab = model.config().vocab_size;
        let mut pending: VecDeque<u32> = VecDeque::new();
        let mut row = 0;
        // Whether the last sampled token is in the cache only because it was drafted (plain
        // decoding would not have evaluated it yet).
        let mut evaluated_ahead = false;
        let (mut drafted, mut accepted) = (0, 0);
        let mut batch = Vec::with_capacity(1 + limits.draft_tokens);
        // Decode passes are shared with the other sessions decoding now (when batching is on)
        // from here until the loop ends.
        let member = match finish {
            None => engine.join_decoders(),
            Some(_) => None,
        };
        let finish = match finish {
            Some(reason) => reason,
            None => loop {
                evaluated_ahead = false;
                if cancelled() {
                    break FinishReason::Cancelled;
                }
                let logits = &scratch.logits()[row * vocab..(row + 1) * vocab];
                let token = sampler.sample(logits, &recent)?;
                first_token_at.get_or_insert_with(Instant::now);
                tokens.push(token);
                recent.push(token);
                // A drafted token equal to the sampled one is already in the cache, and the
                // next row has what follows it; a different one ends the draft.
                let in_cache = pending.front() == Some(&token);
                evaluated_ahead = in_cache;
                if in_cache {
                    pending.pop_front();
                    row += 1;
                    accepted += 1;
                } else {
                    drop_drafts(kv, cached, &mut pending);
                }
                if tokenizer.is_end_of_generation(token) {
                    break FinishReason::EndOfText;
                }
                if let Some(piece) = decoder.push(tokenizer, token)? {
                    let out = filter.push(&piece);
                    emit(&out.release, &mut text, sink);
                    if out.stopped {
                        break FinishReason::StopString;
                    }
                }
                if tokens.len() == options.max_tokens {
                    break FinishReason::MaxTokens;
                }
                if cancelled() {
                    break FinishReason::Cancelled;
                }
                if !in_cache && kv.len() == ctx {
                    break FinishReason::ContextFull;
                }
                if let Some(reason) = checkpoint.check(sink, true)? {
                    break reason;
                }
                if in_cache {
                    continue;
                }
                // The token, and a draft that fits the context and the tokens still allowed.
                let room = (ctx - kv.len() - 1).min(options.max_tokens - tokens.len() - 1);
                let draft = draft::lookup(&recent, limits.draft_tokens.min(room));
                batch.clear();
                batch.push(token);
                batch.extend_from_slice(draft);
                let which = match draft.is_empty() {
                    true => LogitsFor::Last,
                    false => LogitsFor::All,
                };
                engine.decode(member.as_ref(), &batch, kv, scratch, which)?;
                cached.extend_from_slice(&batch);
                drafted += draft.len();
                pending.extend(draft);
                row = 0;
            },
        };
        drop(member);
        // The cache ends as plain decoding leaves it.
        drop_drafts(kv, cached, &mut pending);
        if evaluated_ahead {
            kv.truncate(kv.len() - 1);
            cached.pop();
        }
        if finish != FinishReason::StopString {
            let out = filter.push(&decoder.finish());
            emit(&out.release, &mut text, sink);
            if !out.stopped {
                emit(&filter.finish(), &mut text, sink);
            }
        }

        history.push(if chat {
            Segment::Message(Message {
                role: Role::Assistant,
                content: text.clone(),
            })
        } else {
            Segment::Text(text.clone())
        });
        self.history = history;

        let now = Instant::now();
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
        let decode_s = first_token_at.map_or(0.0, |t| (now - t).as_secs_f64());
        let per_s = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        let (resident_bytes, peak_resident_bytes) = memory::resident_and_peak_bytes();
        Ok(Generation {
            stats: GenerationStats {
                prompt_tokens: prompt.len(),
                cached_tokens: reuse,
                generated_tokens: tokens.len(),
                queued_ms,
                drafted_tokens: drafted,
                accepted_tokens: accepted,
                time_to_first_token_ms: first_token_at.map_or(0.0, |t| ms(started, t)),
                prefill_tokens_per_s: per_s(prompt.len() - reuse, prefill_s),
                decode_tokens_per_s: per_s(tokens.len().saturating_sub(1), decode_s),
                total_ms: ms(started, now),
                kernel_threads: scratch.take_kernel_threads(),
                peak_kernel_threads: scratch.take_peak_kernel_threads(),
                thermal_state: checkpoint.now.state,
                throttle_events: checkpoint.throttle_events,
                paused_ms: checkpoint.paused_ms,
                resident_bytes,
                peak_resident_bytes,
            },
            text,
            tokens,
            finish_reason: finish,
        })
    }

    /// The text of `segments` (with the generation prompt when `chat`).
    /// The text of `segments` (and the generation prompt when `chat`) with the byte ranges of
    /// the messages' content, which control tokens are not matched in. Raw text segments are
    /// the caller's own prompt: their control tokens count.
    fn render(&self, segments: &[Segment], chat: bool) -> (String, Vec<Range<usize>>) {
        let template = self.engine.chat_template();
        let mut text = String::new();
        let mut content = Vec::new();
        for segment in segments {
            match segment {
                Segment::Message(m) => content.push(template.push_message(m, &mut text)),
                Segment::Text(t) => text.push_str(t),
            }
        }
        if chat {
            text.push_str(template.generation_prompt());
        }
        (text, content)
    }

    /// Tokens of `segments` as the model sees them, with BOS when `add_bos`.
    fn encode(&self, segments: &[Segment], chat: bool, add_bos: bool) -> Result<Vec<u32>> {
        let (text, content) = self.render(segments, chat);
        Ok(self
            .engine
            .tokenizer()
            .encode_with_content(&text, add_bos, &content)?)
    }

    /// The whole prompt for `history`, with BOS when the vocabulary asks for it.
    fn tokenize(&self, history: &[Segment], chat: bool) -> Result<Vec<u32>> {
        self.encode(history, chat, self.engine.tokenizer().add_bos())
    }

    /// The session's history as the model reads it (with BOS when the vocabulary asks for
    /// it, without a generation prompt): what the next request's tokens extend.
    pub fn history_tokens(&self) -> Result<Vec<u32>> {
        self.tokenize(&self.history, false)
    }
}

/// Forgets the drafted tokens evaluated after the last sampled one: the cache keeps exactly
/// the tokens sampled or given.
fn drop_drafts(kv: &mut KvCache, cached: &mut Vec<u32>, pending: &mut VecDeque<u32>) {
    let keep = cached.len() - pending.len();
    kv.truncate(keep);
    cached.truncate(keep);
    pending.clear();
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Removes the oldest turn before the last `keep` segments: the first non-system segment and
/// everything up to the next user message (or raw text). False when nothing can go.
fn drop_oldest_turn(history: &mut Vec<Segment>, keep: usize) -> bool {
    let droppable = history.len() - keep;
    let is_system = |s: &Segment| matches!(s, Segment::Message(m) if m.role == Role::System);
    let Some(first) = history[..droppable].iter().position(|s| !is_system(s)) else {
        return false;
    };
    let starts_turn = |s: &Segment| {
        matches!(s, Segment::Text(_)) || matches!(s, Segment::Message(m) if m.role == Role::User)
    };
    let end = history[first + 1..droppable]
        .iter()
        .position(starts_turn)
        .map_or(droppable, |i| first + 1 + i);
    history.drain(first..end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: Role, content: &str) -> Segment {
        Segment::Message(Message {
            role,
            content: content.into(),
        })
    }

    #[test]
    fn dropping_keeps_system_and_the_new_input() {
        let mut h = vec![
            msg(Role::System, "sys"),
            msg(Role::User, "u1"),
            msg(Role::Assistant, "a1"),
            msg(Role::User, "u2"),
            msg(Role::Assistant, "a2"),
            msg(Role::User, "u3"),
        ];
        assert!(drop_oldest_turn(&mut h, 1));
        assert_eq!(h[0], msg(Role::System, "sys"));
        assert_eq!(h[1], msg(Role::User, "u2"));
        assert!(drop_oldest_turn(&mut h, 1));
        assert_eq!(h, vec![msg(Role::System, "sys"), msg(Role::User, "u3")]);
        assert!(!drop_oldest_turn(&mut h, 1));
    }

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4, 5]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
    }
}
