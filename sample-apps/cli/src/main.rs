//! `bitnet`: the command-line sample app over `bitnet-core`.
//!
//! `synth` writes a synthetic BitNet model, `convert` re-encodes one's projections, `inspect`
//! describes a file, `estimate` sizes its memory needs, `generate` continues a prompt, `chat`
//! holds an interactive multi-turn conversation, `eval` scores answers to a file of questions,
//! `bench` measures speed, and `logits` / `tokenize` print JSON for reference comparisons.

mod bench;
mod convert;
mod estimate;
mod eval;
mod inspect;
mod models;
mod options;
mod reference;
mod run;
mod synth;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run BitNet b1.58 ternary language models on the CPU.
#[derive(Parser, Debug)]
#[command(name = "bitnet", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a synthetic BitNet GGUF model (random ternary weights, a byte-level vocabulary).
    Synth(synth::SynthArgs),
    /// Re-encode a BitNet model's ternary projections as I2_S, TQ2_0, TQ1_0 or F32.
    Convert(convert::ConvertArgs),
    /// Print a model file's metadata, tensors, bytes per group and memory estimate.
    Inspect(inspect::InspectArgs),
    /// Print what a model needs in memory (from its header) and whether it fits a budget.
    Estimate(estimate::EstimateArgs),
    /// Continue a prompt (raw text, no chat template) and stream the result.
    Generate(run::GenerateArgs),
    /// Chat interactively: one user turn per line of standard input.
    Chat(run::ChatArgs),
    /// Ask every question of a file as a one-turn chat (greedy) and score the replies.
    Eval(eval::EvalArgs),
    /// Measure prefill and decode speed, memory and the bandwidth roofline.
    Bench(bench::BenchArgs),
    /// Print the prompt's token ids and the model's logits as JSON.
    Logits(reference::LogitsArgs),
    /// Print the token ids of a text (and the text decoded back) as JSON.
    Tokenize(reference::TokenizeArgs),
    /// The model store: list, pull (resumable, verified), rm, import, verify.
    Models(models::ModelsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => synth::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Estimate(args) => estimate::run(args),
        Command::Generate(args) => run::generate(args),
        Command::Chat(args) => run::chat(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Logits(args) => reference::logits(args),
        Command::Tokenize(args) => reference::tokenize(args),
        Command::Models(args) => models::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
fn print_line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
