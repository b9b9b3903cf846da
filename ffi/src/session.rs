//! `ChatSession`: one conversation, its generations and their cancellation.

use std::sync::{Arc, Mutex, MutexGuard};

use bitnet_core::engine::{CancelToken, Event, Generation, GenerationOptions, Input, Session};

use crate::blocking;
use crate::cancel::{lock, InFlight};
use crate::error::BitNetError;
use crate::events::{GenerationEvent, GenerationListener};

/// One conversation (history + KV cache). Generations on one session run one at a time, in
/// call order; different sessions generate in parallel.
#[derive(uniffi::Object)]
pub struct ChatSession {
    /// The core session; `None` once released. Held for the whole of a generation.
    session: Mutex<Option<Session>>,
    /// Generations started and not yet finished; `cancel` cancels them all.
    running: InFlight,
    /// The summary of the latest finished generation.
    last: Mutex<Option<Generation>>,
}

impl ChatSession {
    pub(crate) fn new(session: Session) -> Self {
        ChatSession {
            session: Mutex::new(Some(session)),
            running: InFlight::default(),
            last: Mutex::new(None),
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ChatSession {
    /// Adds `prompt` to the conversation and generates a reply on a background thread,
    /// streaming `Text` events and then `Finished` to `listener`; returns the same summary.
    ///
    /// Dropping the returned future (a cancelled coroutine or task) does NOT stop the
    /// generation: call [`cancel`](Self::cancel), which stops it before its next token. On
    /// success the input and the (possibly partial) reply join the history; on error the
    /// session is unchanged. Errors: `InvalidOption`, `Sampling`, `EmptyInput`,
    /// `PromptTooLong`, `ContextFull`, `Tokenizer`, `Closed`, `Internal`.
    pub async fn generate(
        self: Arc<Self>,
        prompt: Input,
        options: GenerationOptions,
        listener: Arc<dyn GenerationListener>,
    ) -> Result<Generation, BitNetError> {
        // Registered when the future first runs, before the work starts; unregistered when the
        // work ends (also by a panic), even if the foreign caller stopped waiting.
        let registration = self.running.register();
        let this = Arc::clone(&self);
        blocking::run(move || {
            let registration = registration;
            this.generate_blocking(prompt, &options, registration.token.clone(), &*listener)
        })
        .await
    }

    /// Stops the running generation (and any queued on this session) before its next token;
    /// each ends with `FinishReason::Cancelled` and keeps its partial reply. No-op when idle.
    pub fn cancel(&self) {
        self.running.cancel_all();
    }

    /// Forgets the history and the KV cache. Waits for a running generation to finish (call
    /// [`cancel`](Self::cancel) first to make that quick). Error `Closed` after `release`.
    pub fn reset(&self) -> Result<(), BitNetError> {
        let mut session = self.lock_session()?;
        session
            .as_mut()
            .ok_or_else(|| BitNetError::closed("session"))?
            .reset();
        Ok(())
    }

    /// The summary of the latest generation that finished on this session, including one whose
    /// caller stopped waiting (a cancelled `Flow` or task). `None` before the first.
    pub fn last_generation(&self) -> Option<Generation> {
        lock(&self.last).clone()
    }

    /// Cancels any running generation, waits for it to stop (at most one token) and frees the
    /// KV cache now. Later calls fail with `Closed`. Idempotent.
    pub fn release(&self) {
        self.cancel();
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        *session = None;
    }
}

impl ChatSession {
    /// The body of [`generate`](Self::generate), on a blocking thread.
    fn generate_blocking(
        &self,
        prompt: Input,
        options: &GenerationOptions,
        cancel: CancelToken,
        listener: &dyn GenerationListener,
    ) -> Result<Generation, BitNetError> {
        let mut guard = self.lock_session()?;
        let session = guard
            .as_mut()
            .ok_or_else(|| BitNetError::closed("session"))?;
        let mut sink = |event: Event<'_>| match event {
            Event::Text(text) => listener.on_event(GenerationEvent::Text { text: text.into() }),
            Event::Thermal {
                state,
                threads,
                pause_ms,
            } => listener.on_event(GenerationEvent::Thermal {
                state,
                threads,
                pause_ms,
            }),
            // The core's `Event` is `#[non_exhaustive]`; a kind added later is logged until
            // it is mapped here.
            _ => log::debug!("event not forwarded: {event:?}"),
        };
        let summary = session.generate(prompt, options, Some(&cancel), &mut sink)?;
        drop(guard);
        *lock(&self.last) = Some(summary.clone());
        listener.on_event(GenerationEvent::Finished {
            summary: summary.clone(),
        });
        Ok(summary)
    }

    /// The session slot; a lock poisoned by a panic mid-generation means the KV cache may not
    /// match the history, so the session reports `Internal` from then on.
    fn lock_session(&self) -> Result<MutexGuard<'_, Option<Session>>, BitNetError> {
        self.session.lock().map_err(|_| BitNetError::Internal {
            detail: "the session is unusable after an earlier internal error".into(),
        })
    }
}
