//! `bitnet generate` and `bitnet chat`: streaming generation to standard output.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use bitnet_core::chat::{Message, Role};
use bitnet_core::engine::{CancelToken, Engine, Event, Generation, Input, Session};
use clap::Args;
use serde_json::json;

use crate::options::{ModelArgs, SamplingArgs};

/// Arguments of `bitnet generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The text to continue.
    #[arg(short, long, allow_hyphen_values = true)]
    prompt: String,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Print the statistics to stderr as one JSON object instead of a summary line.
    #[arg(long)]
    stats_json: bool,
}

/// Arguments of `bitnet chat`.
#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A system prompt that opens the conversation.
    #[arg(long)]
    system: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// Continues `--prompt`, streaming the text to stdout and the statistics to stderr.
pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let mut session = engine.session(args.model.session_config())?;
    let cancel = install_interrupt();
    let options = args.sampling.options();
    let result = stream(
        &mut session,
        Input::Text { text: args.prompt },
        &options,
        &cancel.current(),
    )?;
    if args.stats_json {
        let s = &result.stats;
        eprintln!(
            "{}",
            json!({
                "finish_reason": format!("{:?}", result.finish_reason),
                "context_length": session.context_length(),
                "prompt_tokens": s.prompt_tokens,
                "cached_tokens": s.cached_tokens,
                "generated_tokens": s.generated_tokens,
                "time_to_first_token_ms": s.time_to_first_token_ms,
                "prefill_tokens_per_s": s.prefill_tokens_per_s,
                "decode_tokens_per_s": s.decode_tokens_per_s,
                "drafted_tokens": s.drafted_tokens,
                "accepted_tokens": s.accepted_tokens,
                "total_ms": s.total_ms,
                "kernel_threads": s.kernel_threads,
                "resident_bytes": s.resident_bytes,
                "peak_resident_bytes": s.peak_resident_bytes,
            })
        );
    } else {
        report(&result);
    }
    Ok(())
}

/// Reads user turns from stdin (one per line) until EOF. Commands: `/reset` clears the
/// history, `/metrics` prints the engine's metrics and health alerts, `/trim` frees idle
/// caches as on a low-memory signal. Ctrl-C stops the reply being generated; the
/// conversation continues after it.
pub fn chat(args: ChatArgs) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let mut session = engine.session(args.model.session_config())?;
    let cancel = install_interrupt();
    let mut pending_system = args.system.clone();
    let stdin = io::stdin();
    // Piped input is not echoed by a terminal: echo it so a transcript reads as a conversation.
    let echo = !stdin.is_terminal();
    eprint!("> ");
    for line in stdin.lock().split(b'\n') {
        // A line that is not UTF-8 is refused on its own; the conversation goes on.
        let Ok(line) = String::from_utf8(line?) else {
            eprint!("(that line is not valid UTF-8 text; not sent)\n> ");
            continue;
        };
        let text = line.trim_end();
        if echo {
            eprintln!("{text}");
        }
        if text == "/reset" {
            session.reset();
            pending_system = args.system.clone();
            eprint!("(history cleared)\n> ");
            continue;
        }
        if text == "/metrics" {
            print_health(&engine);
            eprint!("> ");
            continue;
        }
        if text == "/trim" {
            let trimmed = engine.trim();
            eprint!(
                "(freed the caches of {} idle sessions; resident memory {:.1} MiB lower)\n> ",
                trimmed.sessions,
                trimmed.released_bytes as f64 / f64::from(1 << 20)
            );
            continue;
        }
        if text.is_empty() {
            eprint!("> ");
            continue;
        }
        let mut messages = Vec::new();
        if let Some(system) = pending_system.take() {
            messages.push(Message {
                role: Role::System,
                content: system,
            });
        }
        messages.push(Message {
            role: Role::User,
            content: text.to_owned(),
        });
        let options = args.sampling.options();
        let result = stream(
            &mut session,
            Input::Chat { messages },
            &options,
            &cancel.renew(),
        )?;
        report(&result);
        eprint!("> ");
    }
    eprintln!();
    Ok(())
}

fn stream(
    session: &mut Session,
    input: Input,
    options: &bitnet_core::engine::GenerationOptions,
    cancel: &CancelToken,
) -> anyhow::Result<Generation> {
    let mut stdout = io::stdout().lock();
    let mut sink = |event: Event<'_>| match event {
        Event::Text(piece) => {
            // A closed stdout (e.g. `| head`) must not abort the generation.
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        }
        Event::Thermal {
            state,
            threads,
            pause_ms,
        } => eprintln!(
            "\n[thermal {}: {threads} threads, {pause_ms} ms between tokens]",
            state.name()
        ),
        _ => {}
    };
    let result = session.generate(input, options, Some(cancel), &mut sink)?;
    println!();
    Ok(result)
}

/// Prints `engine.metrics()` and the health alerts to stderr.
fn print_health(engine: &Engine) {
    let health = engine.health();
    let m = &health.metrics;
    let mib = |b: Option<u64>| b.map_or("?".into(), |b| format!("{:.1}", b as f64 / 1048576.0));
    let opt = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.1}"));
    eprintln!(
        "[metrics: {} requests, {} errors, {} prompt + {} generated tokens, latency p50 {} / p95 {} ms, decode {} tok/s, RSS {} MiB (peak {}), CPU {} %, thermal {} ({} changes)]",
        m.requests,
        m.errors,
        m.prompt_tokens,
        m.generated_tokens,
        opt(m.latency_p50_ms),
        opt(m.latency_p95_ms),
        opt(m.decode_tokens_per_s),
        mib(m.resident_bytes),
        mib(m.peak_resident_bytes),
        opt(m.cpu_percent),
        m.thermal_state.name(),
        m.throttle_events,
    );
    for alert in &health.alerts {
        eprintln!("[health alert: {alert:?}]");
    }
}

fn report(g: &Generation) {
    let s = &g.stats;
    eprintln!(
        "[{:?}: prompt {} tokens ({} cached), generated {}, first token {:.0} ms, prefill {:.1} tok/s, decode {:.1} tok/s ({}/{} drafted accepted), {} threads, thermal {} ({} changes, {} ms paused), peak RSS {:.1} MiB]",
        g.finish_reason,
        s.prompt_tokens,
        s.cached_tokens,
        s.generated_tokens,
        s.time_to_first_token_ms,
        s.prefill_tokens_per_s,
        s.decode_tokens_per_s,
        s.accepted_tokens,
        s.drafted_tokens,
        s.kernel_threads,
        s.thermal_state.name(),
        s.throttle_events,
        s.paused_ms,
        s.peak_resident_bytes.unwrap_or(0) as f64 / 1048576.0
    );
}

/// The cancel token Ctrl-C triggers: one per generation, swapped in by `renew`.
struct Interrupt(Arc<Mutex<CancelToken>>);

impl Interrupt {
    fn current(&self) -> CancelToken {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn renew(&self) -> CancelToken {
        let token = CancelToken::new();
        if let Ok(mut slot) = self.0.lock() {
            *slot = token.clone();
        }
        token
    }
}

fn install_interrupt() -> Interrupt {
    let slot = Arc::new(Mutex::new(CancelToken::new()));
    let handler_slot = Arc::clone(&slot);
    let installed = ctrlc::set_handler(move || {
        if let Ok(token) = handler_slot.lock() {
            token.cancel();
        }
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not cancel generation: {e}");
    }
    Interrupt(slot)
}
