//! `bitnet inspect`: what a model file holds and what running it costs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bitnet_core::gguf::{GgufFile, TensorInfo, Value};
use bitnet_core::model::{KvCache, KvPrecision, ModelConfig};
use bitnet_core::quant::WeightView;
use clap::Args;
use serde_json::{json, Value as Json};

/// Arguments of `bitnet inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Path of the GGUF file.
    model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Print this tensor's values decoded to f32 (row-major, ne0 fastest) instead.
    #[arg(long, value_name = "TENSOR")]
    dequant: Option<String>,
    /// Context length for the memory estimate, in tokens.
    #[arg(long = "ctx", default_value_t = 4096)]
    context_length: usize,
}

/// Prints the file's description (or one tensor's values with `--dequant`).
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let file = crate::options::open_file(&args.model)?;
    if let Some(name) = &args.dequant {
        return dequant(&file, name);
    }
    let report = describe(&file, args.context_length);
    if args.json {
        crate::print_line(&report)?;
    } else {
        print_text(&report);
    }
    Ok(())
}

fn dequant(file: &GgufFile, name: &str) -> anyhow::Result<()> {
    let info = file
        .tensor(name)
        .ok_or_else(|| anyhow::anyhow!("no tensor named {name:?}"))?;
    let cols = usize::try_from(info.dims.first().copied().unwrap_or(1))?;
    let rows = usize::try_from(info.n_elements())? / cols.max(1);
    let view = WeightView::new(info.ty, cols, rows, file.tensor_data(info), 1.0)?;
    let mut values = vec![0.0f32; rows * cols];
    for (r, out) in values.chunks_exact_mut(cols).enumerate() {
        view.dequantize_row(r, out)?;
    }
    crate::print_line(
        json!({ "name": name, "type": info.ty.name(), "dims": info.dims, "values": values }),
    )?;
    Ok(())
}

/// The role a tensor plays, for the bytes-per-group table.
fn group(name: &str) -> &'static str {
    if name.starts_with("token_embd") || name.starts_with("output.") {
        "embedding / output head"
    } else if name.contains("norm") {
        "norms"
    } else if name.contains(".attn_") {
        "attention projections"
    } else if name.contains(".ffn_") {
        "feed-forward projections"
    } else {
        "other"
    }
}

fn describe(file: &GgufFile, ctx: usize) -> Json {
    let metadata: serde_json::Map<String, Json> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.clone(), summarize(v)))
        .collect();
    let tensors: Vec<Json> = file.tensors().iter().map(tensor_json).collect();
    let mut by_group: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for t in file.tensors() {
        *by_group.entry(group(&t.name)).or_default() += t.n_bytes;
        *by_type.entry(t.ty.name()).or_default() += t.n_bytes;
    }
    let weight_bytes: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
    let vocab = file
        .tensor("token_embd.weight")
        .and_then(|t| t.dims.get(1).copied())
        .unwrap_or(0) as usize;
    let memory = match ModelConfig::from_gguf(file, vocab) {
        Ok(cfg) => {
            let kv_per_token = KvCache::bytes_per_token(&cfg, KvPrecision::F16);
            json!({
                "mapped_weight_bytes": weight_bytes,
                "kv_cache_f16_bytes_per_token": kv_per_token,
                "context_tokens": ctx,
                "kv_cache_bytes": kv_per_token * ctx,
                "logits_bytes": cfg.vocab_size * 4,
                "total_bytes": weight_bytes as usize + kv_per_token * ctx + cfg.vocab_size * 4,
            })
        }
        Err(e) => json!({ "error": e.to_string() }),
    };
    json!({
        "version": file.version(),
        "alignment": file.alignment(),
        "file_bytes": file.bytes().len(),
        "metadata": metadata,
        "tensors": tensors,
        "bytes_by_group": by_group,
        "bytes_by_type": by_type,
        "memory_estimate": memory,
    })
}

fn tensor_json(t: &TensorInfo) -> Json {
    json!({ "name": t.name, "type": t.ty.name(), "dims": t.dims, "bytes": t.n_bytes, "offset": t.offset })
}

/// A metadata value for display: scalars as is, long arrays as their type and length.
fn summarize(v: &Value) -> Json {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::String(s) if s.chars().count() > 200 => {
            json!(format!(
                "{}… ({} bytes)",
                s.chars().take(80).collect::<String>(),
                s.len()
            ))
        }
        Value::String(s) => json!(s),
        Value::Array(a) => json!(format!("[{}; {}]", a.type_name(), a.len())),
    }
}

fn print_text(r: &Json) {
    println!(
        "GGUF v{}, alignment {}, {} bytes",
        r["version"], r["alignment"], r["file_bytes"]
    );
    println!("\nmetadata:");
    if let Some(m) = r["metadata"].as_object() {
        for (k, v) in m {
            println!("  {k:<45} {v}");
        }
    }
    println!("\ntensors:");
    if let Some(ts) = r["tensors"].as_array() {
        for t in ts {
            println!(
                "  {:<32} {:<6} {:<18} {:>12} bytes",
                t["name"].as_str().unwrap_or_default(),
                t["type"].as_str().unwrap_or_default(),
                t["dims"].to_string(),
                t["bytes"]
            );
        }
    }
    for (title, key) in [
        ("bytes by group", "bytes_by_group"),
        ("bytes by type", "bytes_by_type"),
    ] {
        println!("\n{title}:");
        if let Some(m) = r[key].as_object() {
            for (k, v) in m {
                let bytes = v.as_u64().unwrap_or(0);
                println!(
                    "  {k:<28} {bytes:>14} ({:.1} MiB)",
                    bytes as f64 / 1048576.0
                );
            }
        }
    }
    println!("\nmemory estimate:");
    if let Some(m) = r["memory_estimate"].as_object() {
        for (k, v) in m {
            println!("  {k:<28} {v}");
        }
    }
}
