//! `bitnet bench`: prefill and decode speed, memory and bandwidth roofline of a model; with
//! `--sustained`, decode speed, threads and thermal state over time (CSV or JSON); with
//! `--workload`, chat turns on a committed prompt and the tokens per pass over the weights;
//! with `--sessions`, aggregate and per-session decode speed of concurrent sessions.

use bitnet_core::bench::{
    self, BenchConfig, BenchReport, SessionsConfig, SessionsReport, Stat, SustainedConfig,
    SustainedReport, Workload, WorkloadReport,
};
use bitnet_core::model::KvPrecision;
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
    /// Print one JSON object instead of text (or CSV with --sustained).
    #[arg(long)]
    json: bool,
    /// Decode continuously for this many seconds and print a sample per interval (t_s,
    /// tokens/s, threads, thermal state, pause) as CSV; the thermal governor applies (see
    /// --thermal-schedule) and a stop ends the run.
    #[arg(long, value_name = "SECONDS")]
    sustained: Option<f64>,
    /// Interval between sustained samples, in ms.
    #[arg(long, default_value_t = 1000)]
    sample_ms: u64,
    /// Time one-turn chats on a committed prompt (chat, summarise, code) instead: -n tokens
    /// each, -r times; reports decode speed and the tokens each pass produced (with
    /// --draft-tokens, more than one).
    #[arg(long, value_parser = parse_workload)]
    workload: Option<Workload>,
    /// Decode in this many concurrent sessions at once, each count in turn (e.g. 1,4,8; the
    /// counts' repetitions interleaved): -p prompt tokens prefilled per session, then -n
    /// tokens decoded per session, -r times; reports aggregate and per-session decode speed
    /// and each count's gain over the first. With --decode-batching true (or the server /
    /// cloud profile) their passes share the weights.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    sessions: Vec<usize>,
}

fn parse_workload(name: &str) -> Result<Workload, String> {
    Workload::by_name(name).ok_or_else(|| {
        let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
        format!("unknown workload {name:?} (one of {})", names.join(", "))
    })
}

/// Runs the benchmark and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let engine = args.engine.load()?;
    if let Some(seconds) = args.sustained {
        let report = bench::run_sustained(
            &engine,
            &SustainedConfig {
                seconds,
                sample_ms: args.sample_ms,
                ..SustainedConfig::default()
            },
        )?;
        return if args.json {
            crate::print_line(sustained_json(&report))
        } else {
            print_csv(&report)
        };
    }
    if !args.sessions.is_empty() {
        let report = bench::run_sessions(
            &engine,
            &SessionsConfig {
                prompt_tokens: args.prompt_tokens,
                gen_tokens: args.gen_tokens,
                reps: args.reps,
                sessions: args.sessions.clone(),
            },
        )?;
        return if args.json {
            crate::print_line(sessions_json(&report))
        } else {
            print_sessions(&report);
            Ok(())
        };
    }
    if let Some(workload) = args.workload {
        let report = bench::run_workload(&engine, workload, args.gen_tokens, args.reps)?;
        return if args.json {
            crate::print_line(workload_json(&report))
        } else {
            print_workload(&report);
            Ok(())
        };
    }
    let report = bench::run(
        &engine,
        &BenchConfig {
            prompt_tokens: args.prompt_tokens,
            gen_tokens: args.gen_tokens,
            reps: args.reps,
            ..BenchConfig::default()
        },
        None,
    )?;
    let kv = KvSummary {
        precision: engine.kv_precision(),
        bytes_per_token: engine.memory_estimate().kv_bytes_per_token,
        context: args.prompt_tokens + args.gen_tokens,
    };
    if args.json {
        let mut json = to_json(&report);
        json["kv_precision"] = json!(format!("{:?}", kv.precision));
        json["kv_bytes_per_token"] = json!(kv.bytes_per_token);
        crate::print_line(json)?;
    } else {
        print_text(&report);
        println!(
            "kv cache     {:?}, {} bytes per token of context ({:.1} MB at {} tokens)",
            kv.precision,
            kv.bytes_per_token,
            (kv.bytes_per_token * kv.context as u64) as f64 / 1e6,
            kv.context
        );
    }
    Ok(())
}

/// The KV cache a benchmark ran with.
struct KvSummary {
    /// Its precision.
    precision: KvPrecision,
    /// Bytes per token of context (all layers, keys and values).
    bytes_per_token: u64,
    /// Tokens in the context at the end of a repetition (prompt + generated).
    context: usize,
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
        "peak_rss_bytes": r.peak_resident_bytes,
        "footprint_bytes": r.footprint_bytes,
        "head_type": r.head_type,
        "head_resident_bytes": r.head_resident_bytes,
    })
}

fn workload_json(r: &WorkloadReport) -> serde_json::Value {
    json!({
        "workload": r.workload.name(),
        "kernels": r.kernels,
        "threads": r.threads,
        "reps": r.reps,
        "prompt_tokens": r.prompt_tokens,
        "generated_tokens": r.generated_tokens,
        "time_to_first_token_ms": stat(r.time_to_first_token_ms),
        "decode_tokens_per_s": stat(r.decode_tokens_per_s),
        "drafted_tokens": r.drafted_tokens,
        "accepted_tokens": r.accepted_tokens,
        "tokens_per_pass": r.tokens_per_pass,
    })
}

fn sessions_json(r: &SessionsReport) -> serde_json::Value {
    let base = r
        .rows
        .first()
        .map_or(0.0, |row| row.aggregate_tokens_per_s.mean);
    let rows: Vec<_> = r
        .rows
        .iter()
        .map(|row| {
            json!({
                "sessions": row.sessions,
                "aggregate_tokens_per_s": stat(row.aggregate_tokens_per_s),
                "session_tokens_per_s": stat(row.session_tokens_per_s),
                "tokens_per_step": row.tokens_per_step,
                "step_ms": row.step_ms,
                "gain": gain(row.aggregate_tokens_per_s.mean, base),
            })
        })
        .collect();
    json!({
        "kernels": r.kernels,
        "threads": r.threads,
        "decode_batching": r.batched,
        "prompt_tokens": r.prompt_tokens,
        "gen_tokens": r.gen_tokens,
        "reps": r.reps,
        "rows": rows,
    })
}

/// `speed / base` (0 without a base).
fn gain(speed: f64, base: f64) -> f64 {
    if base > 0.0 {
        speed / base
    } else {
        0.0
    }
}

fn print_sessions(r: &SessionsReport) {
    println!(
        "kernels {}, {} threads, decode batching {}, pp{} / tg{} per session, {} reps",
        r.kernels,
        r.threads,
        if r.batched { "on" } else { "off" },
        r.prompt_tokens,
        r.gen_tokens,
        r.reps
    );
    println!("sessions  aggregate tok/s   per-session tok/s  tokens/step  step ms  gain");
    let base = r
        .rows
        .first()
        .map_or(0.0, |row| row.aggregate_tokens_per_s.mean);
    let s = |s: Stat| format!("{:.2} ± {:.2}", s.mean, s.sd);
    for row in &r.rows {
        println!(
            "{:>8}  {:>16}  {:>17}  {:>11.2}  {:>7.1}  {:.2}×",
            row.sessions,
            s(row.aggregate_tokens_per_s),
            s(row.session_tokens_per_s),
            row.tokens_per_step,
            row.step_ms,
            gain(row.aggregate_tokens_per_s.mean, base)
        );
    }
}

fn print_workload(r: &WorkloadReport) {
    let s = |s: Stat| format!("{:.2} ± {:.2}", s.mean, s.sd);
    println!(
        "workload {}: kernels {}, {} threads, prompt {} tokens, {:.1} generated, {} reps",
        r.workload.name(),
        r.kernels,
        r.threads,
        r.prompt_tokens,
        r.generated_tokens,
        r.reps
    );
    println!("first token     {} ms", s(r.time_to_first_token_ms));
    println!("decode          {} tok/s", s(r.decode_tokens_per_s));
    println!(
        "tokens/pass     {:.2} ({} of {} drafted tokens accepted)",
        r.tokens_per_pass, r.accepted_tokens, r.drafted_tokens
    );
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
    if let Some(rss) = r.peak_resident_bytes {
        println!("peak RSS     {:.1} MB", rss as f64 / 1e6);
    }
    if let Some(bytes) = r.footprint_bytes {
        println!(
            "footprint    {:.1} MB (not counting clean file pages)",
            bytes as f64 / 1e6
        );
    }
}

fn sustained_json(r: &SustainedReport) -> serde_json::Value {
    let samples: Vec<_> = r
        .samples
        .iter()
        .map(|s| {
            json!({
                "t_s": s.t_s,
                "tokens_per_s": s.tokens_per_s,
                "threads": s.threads,
                "thermal_state": s.state.name(),
                "pause_ms": s.pause_ms,
            })
        })
        .collect();
    let changes: Vec<_> = r
        .thermal_changes
        .iter()
        .map(|c| {
            json!({
                "t_s": c.t_s,
                "thermal_state": c.state.name(),
                "threads": c.threads,
                "pause_ms": c.pause_ms,
            })
        })
        .collect();
    json!({
        "kernels": r.kernels,
        "threads": r.threads,
        "tokens": r.tokens,
        "thermal_stop_s": r.thermal_stop_s,
        "samples": samples,
        "thermal_changes": changes,
    })
}

/// One CSV row per sample; the run's summary goes to stderr.
fn print_csv(r: &SustainedReport) -> anyhow::Result<()> {
    crate::print_line("t_s,tokens_per_s,threads,thermal_state,pause_ms")?;
    for s in &r.samples {
        crate::print_line(format_args!(
            "{:.2},{:.2},{},{},{}",
            s.t_s,
            s.tokens_per_s,
            s.threads,
            s.state.name(),
            s.pause_ms
        ))?;
    }
    eprintln!(
        "kernels {}, {} threads configured, {} tokens decoded{}",
        r.kernels,
        r.threads,
        r.tokens,
        r.thermal_stop_s.map_or(String::new(), |t| format!(
            "; stopped by the thermal governor at {t:.2} s"
        ))
    );
    Ok(())
}
