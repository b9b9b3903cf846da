//! `bitnet estimate`: the plan for a model — kernels, threads, head, KV precision — and what it
//! needs in memory, from its header alone, and whether it fits the memory budget
//! (`--memory-budget`, `--profile`).

use anyhow::Context;
use bitnet_core::engine::Engine;
use bitnet_core::runtime::Profile;
use clap::Args;
use serde_json::{json, Value as Json};

use crate::options::EngineArgs;

/// Arguments of `bitnet estimate`.
#[derive(Args, Debug)]
pub struct EstimateArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Context length to total for, in tokens (default: a default session's).
    #[arg(long = "ctx")]
    context_length: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints the plan and its estimate (all sizes in bytes).
pub fn run(args: EstimateArgs) -> anyhow::Result<()> {
    let config = args.engine.config();
    let path = &args.engine.model;
    let plan =
        Engine::plan(path, &config).with_context(|| format!("estimating {}", path.display()))?;
    let e = &plan.memory;
    let context = args.context_length.unwrap_or(e.default_context_tokens);
    let total = e.total_bytes(context);
    let mut report = json!({
        "kernels": plan.kernels.name(),
        "threads": plan.threads,
        "pinned_cpus": plan.pinned_cpus,
        "head_tensor": plan.head.tensor,
        "head_type": plan.head.multiplied().name(),
        "head_requantized": plan.head.requantized.is_some(),
        "head_cache": plan.head.cache.as_ref().map(|c| json!({
            "path": c.path.display().to_string(),
            "present": c.present,
        })),
        "mapped_bytes": e.mapped_bytes,
        "head_bytes": e.head_bytes,
        "mapped_counted": e.mapped_counted,
        "tokenizer_bytes": e.tokenizer_bytes,
        "runtime_bytes": e.runtime_bytes,
        "kv_precision": format!("{:?}", e.kv_precision),
        "kv_bytes_per_token": e.kv_bytes_per_token,
        "scratch_bytes": e.scratch_bytes,
        "decode_batch_bytes": e.decode_batch_bytes,
        "min_context_tokens": e.min_context_tokens,
        "context_tokens": context,
        "total_bytes": total,
        "smallest_profile": Profile::smallest_holding(total).map(Profile::name),
    });
    if let Some(budget) = config.memory_budget_bytes {
        let max_context = e.max_context_tokens(budget);
        report["budget_bytes"] = json!(budget);
        report["fits"] = json!(total <= budget);
        report["max_context_tokens"] = json!(max_context);
        report["loads"] = json!(max_context >= e.min_context_tokens);
    }
    if args.json {
        crate::print_line(&report)?;
    } else {
        print_text(&report);
    }
    Ok(())
}

fn print_text(r: &Json) {
    let Some(fields) = r.as_object() else {
        return;
    };
    for (k, v) in fields {
        match v.as_u64().filter(|_| k.ends_with("_bytes")) {
            Some(b) => println!("{k:<20} {b:>14} ({:.1} MiB)", b as f64 / 1048576.0),
            None => println!("{k:<20} {v:>14}"),
        }
    }
}
