//! `bitnet eval`: asks a model every question of a file, each as a fresh one-turn chat with
//! greedy decoding, and scores the replies by exact match.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use bitnet_core::chat::{Message, Role};
use bitnet_core::engine::{Event, GenerationOptions, Input};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use crate::options::ModelArgs;

/// Arguments of `bitnet eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// JSON file of questions: `{"questions": [{"task": ..., "question": ..., "answer": ...}]}`
    /// (the demo model's `eval.json` has this shape).
    #[arg(long)]
    questions: PathBuf,
    /// Most tokens per reply.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 64)]
    max_tokens: usize,
    /// Print JSON: accuracy per task and every reply.
    #[arg(long)]
    json: bool,
}

/// One question and the reply that scores.
#[derive(Deserialize)]
struct Question {
    task: String,
    question: String,
    answer: String,
}

#[derive(Deserialize)]
struct QuestionFile {
    questions: Vec<Question>,
}

/// Right and asked, per task.
#[derive(Default)]
struct Score {
    right: usize,
    asked: usize,
}

impl Score {
    fn percent(&self) -> f64 {
        100.0 * self.right as f64 / self.asked.max(1) as f64
    }
}

/// Answers every question and prints the accuracy per task (and overall, as `all`).
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.questions)
        .with_context(|| format!("reading {}", args.questions.display()))?;
    let file: QuestionFile = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", args.questions.display()))?;
    let engine = args.model.load()?;
    let mut session = engine.session(args.model.session_config())?;
    let options = GenerationOptions {
        max_tokens: args.max_tokens,
        ..GenerationOptions::default()
    };
    let mut scores: BTreeMap<&str, Score> = BTreeMap::new();
    let mut replies = Vec::with_capacity(file.questions.len());
    for q in &file.questions {
        session.reset();
        let input = Input::Chat {
            messages: vec![Message::new(Role::User, q.question.clone())],
        };
        let reply = session
            .generate(input, &options, None, &mut |_: Event<'_>| {})?
            .text;
        let right = reply.trim() == q.answer;
        for key in [q.task.as_str(), "all"] {
            let score = scores.entry(key).or_default();
            score.asked += 1;
            score.right += usize::from(right);
        }
        replies.push(reply);
    }
    if args.json {
        let accuracy: BTreeMap<_, _> = scores.iter().map(|(k, s)| (*k, s.percent())).collect();
        crate::print_line(json!({ "accuracy": accuracy, "replies": replies }))?;
    } else {
        for (task, s) in &scores {
            crate::print_line(format_args!(
                "{task:<10} {:>4}/{:<4} {:5.1} %",
                s.right,
                s.asked,
                s.percent()
            ))?;
        }
    }
    Ok(())
}
