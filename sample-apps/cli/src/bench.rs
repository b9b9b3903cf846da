//! `bitnet bench`: prefill and decode speed, memory and bandwidth roofline of a model.

use bitnet_core::bench::{self, BenchConfig, BenchReport, Stat};
use clap::Args;
use serde_json::json;

use crate::options::EngineArgs;

/// Arguments of `bitnet bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Prompt tokens (prefill, "pp").
    #[arg(short = 'p', long = "prompt-tokens", default_value_t = 512)]
    prompt_tokens: usize,
    /// Generated tokens (decode, "tg").
    #[arg(short = 'n', long = "gen-tokens", default_value_t = 128)]
    gen_tokens: usize,
    /// Repetitions.
    #[arg(short = 'r', long, default_value_t = 3)]
    reps: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let engine = args.engine.load()?;
    let report = bench::run(
        &engine,
        &BenchConfig {
            prompt_tokens: args.prompt_tokens,
            gen_tokens: args.gen_tokens,
            reps: args.reps,
            ..BenchConfig::default()
        },
    )?;
    if args.json {
        crate::print_line(to_json(&report))?;
    } else {
        print_text(&report);
    }
    Ok(())
}

fn stat(s: Stat) -> serde_json::Value {
    json!({ "mean": s.mean, "sd": s.sd })
}

fn to_json(r: &BenchReport) -> serde_json::Value {
    json!({
        "kernels": r.kernels,
        "threads": r.threads,
        "prompt_tokens": r.prompt_tokens,
        "gen_tokens": r.gen_tokens,
        "reps": r.reps,
        "prefill_tokens_per_s": stat(r.prefill_tokens_per_s),
        "decode_tokens_per_s": stat(r.decode_tokens_per_s),
        "time_to_first_token_ms": stat(r.time_to_first_token_ms),
        "bytes_per_token": r.bytes_per_token,
        "effective_gb_per_s": r.effective_gb_per_s,
        "copy_gb_per_s": r.copy_gb_per_s,
        "roofline_percent": r.roofline_percent,
        "peak_rss_bytes": r.peak_rss_bytes,
        "head_type": r.head_type,
        "head_resident_bytes": r.head_resident_bytes,
    })
}

fn print_text(r: &BenchReport) {
    println!(
        "kernels {}, {} threads, pp{} / tg{}, {} reps",
        r.kernels, r.threads, r.prompt_tokens, r.gen_tokens, r.reps
    );
    let s = |s: Stat| format!("{:.2} ± {:.2}", s.mean, s.sd);
    println!("prefill      {} tok/s", s(r.prefill_tokens_per_s));
    println!("decode       {} tok/s", s(r.decode_tokens_per_s));
    println!("first token  {} ms", s(r.time_to_first_token_ms));
    println!(
        "bytes/token  {:.1} MB → {:.2} GB/s effective; copy bandwidth {:.2} GB/s → {:.0} % of roofline",
        r.bytes_per_token as f64 / 1e6,
        r.effective_gb_per_s,
        r.copy_gb_per_s,
        r.roofline_percent
    );
    println!(
        "head         {} ({:.1} MB held outside the mapped file)",
        r.head_type,
        r.head_resident_bytes as f64 / 1e6
    );
    if let Some(rss) = r.peak_rss_bytes {
        println!("peak RSS     {:.1} MB", rss as f64 / 1e6);
    }
}
