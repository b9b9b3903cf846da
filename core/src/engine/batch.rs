//! Continuous batching of concurrent decodes: the sessions of one engine that are decoding at
//! the same moment share one forward pass over the weights.
//!
//! Decoding is bound by memory bandwidth: a token of a 2B4T model reads ~1.2 GB of weights
//! and does little arithmetic on each byte. A pass over several sessions' tokens reads the
//! weights once for all of them ([`Model::forward_sequences`]: the matmuls run the batch's
//! token tiles, attention runs per token against its own session's cache), and since the
//! forward pass is batch-invariant each session gets bit for bit the logits it would get
//! alone, so its tokens are the same.
//!
//! How a step forms: a session entering its decode loop joins the batcher ([`Member`]); for
//! each pass it hands in its tokens and its KV cache ([`DecodeBatcher::step`]) and waits.
//! Whichever waiting session finds no step running leads the next one, once every member has
//! handed in its tokens or the gather time has passed since the previous step ended (a quarter
//! of that step's duration, between [`GATHER_MIN`] and [`GATHER_MAX`]): it takes the waiting
//! entries in arrival order up to the batch's size, runs the pass on the engine's pool with
//! the batcher's own buffers, and hands each entry back its cache and logits. Sessions join
//! and leave between steps; sampling, stop rules, cancellation, deadlines, thermal checks and
//! statistics stay with each session, which only waits while a step it is part of runs (or
//! the one before it finishes).
//!
//! A failed or panicking step gives every entry back its cache as it was, marked to run its
//! pass alone: each session then meets its own error (a model file changed on disk, ...)
//! exactly as it would have alone, and no waiting session is left hanging.

use std::collections::VecDeque;
use std::mem;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::model::{KvCache, LogitsFor, Model, ModelError, Scratch, ScratchLayout, Sequence};
use crate::runtime::Executor;

/// The shortest a step waits for members still sampling, after the previous step ended.
pub(crate) const GATHER_MIN: Duration = Duration::from_millis(1);
/// The longest a step waits for members still sampling (a slow listener, a thermal pause),
/// after the previous step ended: the others then go ahead without them.
pub(crate) const GATHER_MAX: Duration = Duration::from_millis(10);
/// How often a waiting session looks at the batcher again when nothing wakes it.
const POLL: Duration = Duration::from_millis(50);

/// One engine's decode batcher.
#[derive(Debug)]
pub(crate) struct DecodeBatcher {
    /// Most tokens of one step, and most of them with logits (the buffers' sizes).
    layout: ScratchLayout,
    state: Mutex<State>,
    /// Signalled when an entry arrives, a step ends or a member leaves.
    changed: Condvar,
    /// The steps' forward buffers (allocated at the first step; freed by a trim between
    /// steps).
    scratch: Mutex<Option<Scratch>>,
}

#[derive(Debug)]
struct State {
    /// Sessions in their decode loop.
    members: usize,
    /// Entries handed in and not yet taken by a step, oldest first.
    pending: VecDeque<Entry>,
    /// Whether a step is running.
    stepping: bool,
    /// When the last step ended (or the batcher was made).
    idle_since: Instant,
    /// How long the last step took.
    last_step: Duration,
    /// Finished entries, waiting for their sessions to pick them up.
    done: Vec<(u64, Outcome)>,
    /// The id of the next entry.
    next_id: u64,
    /// Steps run since the engine loaded.
    steps: u64,
    /// Tokens those steps evaluated.
    tokens: u64,
}

/// One session's part of a step: its tokens, and its cache and logits buffer, moved in for
/// the step and back out after it.
#[derive(Debug)]
struct Entry {
    id: u64,
    tokens: Vec<u32>,
    which: LogitsFor,
    kv: KvCache,
    /// The cache's length when handed in (restored if the step fails).
    len: usize,
    logits: Vec<f32>,
    /// When it was handed in.
    arrived: Instant,
}

impl Entry {
    /// Logit rows it asks for.
    fn logit_rows(&self) -> usize {
        rows_for(self.which, self.tokens.len())
    }
}

/// Logit rows of `tokens` tokens with `which`.
fn rows_for(which: LogitsFor, tokens: usize) -> usize {
    match which {
        LogitsFor::Last => tokens.min(1),
        LogitsFor::All => tokens,
    }
}

/// What a step gives back to a session.
#[derive(Debug)]
enum Outcome {
    /// The pass ran: the cache holds the tokens and `logits` their logits.
    Done {
        kv: KvCache,
        logits: Vec<f32>,
        /// Distinct threads that ran the step, and the most at once.
        threads: (usize, usize),
    },
    /// The step failed: the cache is as it was handed in; the session runs its pass alone.
    Alone { kv: KvCache, logits: Vec<f32> },
}

/// A session's membership while it decodes: steps wait (up to the gather time) for every
/// member's tokens. Leaving is dropping it.
#[derive(Debug)]
pub(crate) struct Member<'b> {
    batcher: &'b DecodeBatcher,
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        let mut state = self.batcher.lock();
        state.members = state.members.saturating_sub(1);
        drop(state);
        self.batcher.changed.notify_all();
    }
}

impl DecodeBatcher {
    /// A batcher whose steps evaluate at most `layout.tokens` tokens, `layout.logit_rows` of
    /// them with logits.
    pub(crate) fn new(layout: ScratchLayout) -> Self {
        DecodeBatcher {
            layout,
            state: Mutex::new(State {
                members: 0,
                pending: VecDeque::new(),
                stepping: false,
                idle_since: Instant::now(),
                last_step: Duration::ZERO,
                done: Vec::new(),
                next_id: 0,
                steps: 0,
                tokens: 0,
            }),
            changed: Condvar::new(),
            scratch: Mutex::new(None),
        }
    }

    /// Joins the decoding sessions (until the membership is dropped).
    pub(crate) fn join(&self) -> Member<'_> {
        self.lock().members += 1;
        Member { batcher: self }
    }

    /// Steps run and tokens they evaluated, since the batcher was made.
    pub(crate) fn figures(&self) -> (u64, u64) {
        let state = self.lock();
        (state.steps, state.tokens)
    }

    /// Frees the steps' buffers unless a step is using them; true when something was freed.
    pub(crate) fn release_if_idle(&self) -> bool {
        match self.scratch.try_lock() {
            Ok(mut scratch) => scratch.take().is_some(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().take().is_some(),
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    /// Evaluates `tokens` after `kv` with the logits `which` selects left in `scratch`, as
    /// [`Model::forward`] does, in a step shared with the other members decoding now. A pass
    /// larger than a step (a long draft) runs alone.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &self,
        model: &Model,
        exec: &Executor,
        _member: &Member<'_>,
        tokens: &[u32],
        kv: &mut KvCache,
        scratch: &mut Scratch,
        which: LogitsFor,
    ) -> Result<(), ModelError> {
        let fits = tokens.len() <= self.layout.tokens
            && rows_for(which, tokens.len()) <= self.layout.logit_rows;
        if tokens.is_empty() || !fits {
            return model.forward(exec, tokens, kv, scratch, which);
        }
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let len = kv.len();
        state.pending.push_back(Entry {
            id,
            tokens: tokens.to_vec(),
            which,
            kv: mem::take(kv),
            len,
            logits: scratch.take_logits(),
            arrived: Instant::now(),
        });
        self.changed.notify_all();
        let outcome = loop {
            if let Some(i) = state.done.iter().position(|(done, _)| *done == id) {
                break state.done.swap_remove(i).1;
            }
            let wait = match state.pending.front() {
                Some(first) if !state.stepping => {
                    let gather = (state.last_step / 4).clamp(GATHER_MIN, GATHER_MAX);
                    let deadline = first.arrived.max(state.idle_since) + gather;
                    let now = Instant::now();
                    if state.pending.len() >= state.members || self.full(&state) || now >= deadline
                    {
                        state = self.lead(state, model, exec);
                        continue;
                    }
                    deadline - now
                }
                _ => POLL,
            };
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(state);
        match outcome {
            Outcome::Done {
                kv: back,
                logits,
                threads: (threads, peak),
            } => {
                *kv = back;
                scratch.put_logits(logits);
                scratch.record_shared_pass(threads, peak);
                Ok(())
            }
            Outcome::Alone { kv: back, logits } => {
                *kv = back;
                scratch.put_logits(logits);
                model.forward(exec, tokens, kv, scratch, which)
            }
        }
    }

    /// Whether the waiting entries fill a step.
    fn full(&self, state: &State) -> bool {
        let tokens: usize = state.pending.iter().map(|e| e.tokens.len()).sum();
        let rows: usize = state.pending.iter().map(Entry::logit_rows).sum();
        tokens >= self.layout.tokens || rows >= self.layout.logit_rows
    }

    /// Runs one step over the waiting entries, oldest first, as many as fit; returns the
    /// state locked again with their outcomes in `done`.
    fn lead<'s>(
        &'s self,
        mut state: MutexGuard<'s, State>,
        model: &Model,
        exec: &Executor,
    ) -> MutexGuard<'s, State> {
        let (mut tokens, mut rows) = (0, 0);
        let mut entries = Vec::new();
        while let Some(next) = state.pending.front() {
            let (t, r) = (next.tokens.len(), next.logit_rows());
            if tokens + t > self.layout.tokens || rows + r > self.layout.logit_rows {
                break;
            }
            (tokens, rows) = (tokens + t, rows + r);
            entries.extend(state.pending.pop_front());
        }
        state.stepping = true;
        drop(state);
        let started = Instant::now();
        let mut step = Step {
            batcher: self,
            entries,
        };
        let outcomes = match self.run(model, exec, &mut step.entries) {
            Ok(threads) => mem::take(&mut step.entries)
                .into_iter()
                .map(|e| {
                    let outcome = Outcome::Done {
                        kv: e.kv,
                        logits: e.logits,
                        threads,
                    };
                    (e.id, outcome)
                })
                .collect(),
            Err(e) => {
                log::warn!("a shared decode step failed ({e}); its sessions run their pass alone");
                step.give_back()
            }
        };
        drop(step);
        let mut state = self.lock();
        state.done.extend(outcomes);
        state.stepping = false;
        state.idle_since = Instant::now();
        state.last_step = started.elapsed();
        state.steps += 1;
        state.tokens += tokens as u64;
        self.changed.notify_all();
        state
    }

    /// The forward pass of one step; each entry's logits are copied into its own buffer.
    /// Returns the distinct threads that ran it and the most at once.
    fn run(
        &self,
        model: &Model,
        exec: &Executor,
        entries: &mut [Entry],
    ) -> Result<(usize, usize), ModelError> {
        // Only a leader takes the buffers, one at a time; a panic in an earlier step left
        // nothing in them that matters.
        let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        let scratch = scratch.get_or_insert_with(|| Scratch::new(&self.layout));
        let mut seqs: Vec<_> = entries
            .iter_mut()
            .map(|e| Sequence {
                tokens: &e.tokens,
                kv: &mut e.kv,
                logits: e.which,
            })
            .collect();
        model.forward_sequences(exec, &mut seqs, scratch)?;
        drop(seqs);
        let vocab = model.config().vocab_size;
        let mut logits = scratch.logits().chunks_exact(vocab);
        for e in entries.iter_mut() {
            e.logits.clear();
            for row in logits.by_ref().take(e.logit_rows()) {
                e.logits.extend_from_slice(row);
            }
        }
        Ok((
            scratch.take_kernel_threads(),
            scratch.take_peak_kernel_threads(),
        ))
    }

    /// The state; every update is complete under the lock (entries move whole), so a
    /// poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The entries of a running step. Dropped with entries still in it (the step panicked), it
/// gives them back to their sessions to run alone, so none waits forever.
struct Step<'b> {
    batcher: &'b DecodeBatcher,
    entries: Vec<Entry>,
}

impl Step<'_> {
    /// Every entry's cache as it was handed in, marked to run alone.
    fn give_back(&mut self) -> Vec<(u64, Outcome)> {
        mem::take(&mut self.entries)
            .into_iter()
            .map(|mut e| {
                e.kv.truncate(e.len);
                let outcome = Outcome::Alone {
                    kv: e.kv,
                    logits: e.logits,
                };
                (e.id, outcome)
            })
            .collect()
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        if self.entries.is_empty() {
            return;
        }
        let outcomes = self.give_back();
        let mut state = self.batcher.lock();
        state.done.extend(outcomes);
        state.stepping = false;
        state.idle_since = Instant::now();
        drop(state);
        self.batcher.changed.notify_all();
    }
}
