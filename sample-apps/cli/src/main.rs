//! `bitnet`: the command-line sample app over `bitnet-core`.
//!
//! `synth` writes a synthetic BitNet model, `inspect` describes a file, `generate` continues a
//! prompt, `chat` holds an interactive multi-turn conversation, and `logits` / `tokenize` print
//! JSON for reference comparisons.

mod inspect;
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
    /// Print a model file's metadata, tensors, bytes per group and memory estimate.
    Inspect(inspect::InspectArgs),
    /// Continue a prompt (raw text, no chat template) and stream the result.
    Generate(run::GenerateArgs),
    /// Chat interactively: one user turn per line of standard input.
    Chat(run::ChatArgs),
    /// Print the prompt's token ids and the model's logits as JSON.
    Logits(reference::LogitsArgs),
    /// Print the token ids of a text (and the text decoded back) as JSON.
    Tokenize(reference::TokenizeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => synth::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Generate(args) => run::generate(args),
        Command::Chat(args) => run::chat(args),
        Command::Logits(args) => reference::logits(args),
        Command::Tokenize(args) => reference::tokenize(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
