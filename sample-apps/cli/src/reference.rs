//! `bitnet logits` and `bitnet tokenize`: JSON output for comparisons with reference
//! implementations.

use std::path::PathBuf;

use bitnet_core::model::LogitsFor;
use bitnet_core::tokenizer::Tokenizer;
use clap::Args;
use serde_json::json;

use crate::options::{open_file, EngineArgs};

/// Arguments of `bitnet logits`.
#[derive(Args, Debug)]
pub struct LogitsArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Text to tokenize (with BOS when the vocabulary asks for it).
    #[arg(
        long,
        conflicts_with = "tokens",
        required_unless_present = "tokens",
        allow_hyphen_values = true
    )]
    prompt: Option<String>,
    /// Comma-separated token ids, used as given.
    #[arg(long, value_delimiter = ',')]
    tokens: Option<Vec<u32>>,
    /// Print JSON (the only output format; accepted for explicitness).
    #[arg(long)]
    json: bool,
    /// Print logits of every position (a list of lists) instead of the last one.
    #[arg(long)]
    all_positions: bool,
}

/// Arguments of `bitnet tokenize`.
#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Path of a GGUF file with a vocabulary (tensors are not needed).
    model: PathBuf,
    /// The text to tokenize; special tokens written in it are recognised.
    #[arg(long, allow_hyphen_values = true)]
    text: String,
    /// Do not add BOS even if the vocabulary asks for it.
    #[arg(long)]
    no_bos: bool,
    /// Print JSON (the only output format; accepted for explicitness).
    #[arg(long)]
    json: bool,
}

/// Prints `{"tokens": [...], "logits": [...]}`.
pub fn logits(args: LogitsArgs) -> anyhow::Result<()> {
    let engine = args.engine.load()?;
    let tokens = match (args.tokens, args.prompt) {
        (Some(tokens), _) => tokens,
        (None, Some(prompt)) => {
            let tokenizer = engine.tokenizer();
            tokenizer.encode(&prompt, tokenizer.add_bos())?
        }
        (None, None) => anyhow::bail!("give --prompt or --tokens"),
    };
    let vocab = engine.model().config().vocab_size;
    let which = if args.all_positions {
        LogitsFor::All
    } else {
        LogitsFor::Last
    };
    let logits = engine.evaluate(&tokens, which)?;
    let logits = if args.all_positions {
        json!(logits.chunks(vocab).collect::<Vec<_>>())
    } else {
        json!(logits)
    };
    crate::print_line(json!({ "tokens": tokens, "logits": logits }))?;
    Ok(())
}

/// Prints `{"tokens": [...], "text": "decoded"}`.
pub fn tokenize(args: TokenizeArgs) -> anyhow::Result<()> {
    let file = open_file(&args.model)?;
    let tokenizer = Tokenizer::from_gguf(&file)?;
    let tokens = tokenizer.encode(&args.text, tokenizer.add_bos() && !args.no_bos)?;
    let text = tokenizer.decode(&tokens)?;
    crate::print_line(json!({ "tokens": tokens, "text": text }))?;
    Ok(())
}
