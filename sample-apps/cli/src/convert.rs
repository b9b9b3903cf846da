//! `bitnet convert`: re-encodes a BitNet model's ternary projections in another format —
//! I2_S (bitnet.cpp, the official file's), TQ2_0 / TQ1_0 (llama.cpp) or F32 (the reference
//! path) — and copies everything else (metadata, vocabulary, embeddings, norms) unchanged.
//!
//! A BitNet b1.58 projection is ternary values times one scale per tensor. Whatever format it
//! comes in (F32, F16, BF16, I2_S, TQ2_0, TQ1_0), its decoded values must take one magnitude
//! besides zero; that magnitude is the scale and the signs are the ternary values, so the
//! conversion is exact except where the target stores the scale in fewer bits (TQ2_0 and
//! TQ1_0 keep it as f16; the summary line reports the largest relative change).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use bitnet_core::gguf::{GgufFile, GgufWriter, TensorInfo, Value};
use bitnet_core::model::PROJECTIONS;
use bitnet_core::quant::{self, TensorType, WeightView};
use clap::Args;
use half::f16;

use crate::synth::FormatArg;

/// Arguments of `bitnet convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The model to read (GGUF).
    input: PathBuf,
    /// Storage format of the projections in the output.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Output path.
    #[arg(short, long)]
    output: PathBuf,
}

/// A projection as ternary values (by sign) and its one scale.
struct Ternary {
    values: Vec<i8>,
    scale: f32,
}

/// Writes the converted file and prints a one-line summary.
pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let file = crate::options::open_file(&args.input)?;
    let target = args.format.projection_type();
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        w.add(key.clone(), value.clone());
    }
    w.add("general.file_type", Value::U32(args.format.file_type()));
    let mut converted = 0usize;
    for info in file.tensors() {
        let ty = if is_projection(info) {
            converted += 1;
            target
        } else {
            info.ty
        };
        w.add_tensor_info(info.name.clone(), &info.dims, ty)?;
    }
    anyhow::ensure!(
        converted > 0,
        "{} has no projection tensors (blk.N.{{{}}}.weight)",
        args.input.display(),
        PROJECTIONS.join(",")
    );

    let mut max_rounding = 0f32;
    let out = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let bytes = w.write_to(BufWriter::with_capacity(1 << 20, out), |info, sink| {
        let source = file
            .tensor(&info.name)
            .ok_or_else(|| io::Error::other(format!("{} vanished", info.name)))?;
        if !is_projection(source) {
            return sink.write_all(file.tensor_data(source));
        }
        let ternary = read_ternary(&file, source).map_err(io::Error::other)?;
        let stored = if target == TensorType::F32 || target == TensorType::I2S {
            ternary.scale
        } else {
            f16::from_f32(ternary.scale).to_f32()
        };
        if ternary.scale != 0.0 {
            max_rounding = max_rounding.max((stored - ternary.scale).abs() / ternary.scale);
        }
        write_ternary(target, source, &ternary, sink)
    })?;
    println!(
        "wrote {} ({bytes} bytes): {converted} projections as {target}, other tensors copied; \
         largest relative change of a scale {max_rounding:.2e}",
        args.output.display(),
    );
    Ok(())
}

/// Whether `info` is one of a block's ternary projections (`blk.N.<projection>.weight`, 2-D).
fn is_projection(info: &TensorInfo) -> bool {
    let mut parts = info.name.split('.');
    info.dims.len() == 2
        && parts.next() == Some("blk")
        && parts.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && parts.next().is_some_and(|p| PROJECTIONS.contains(&p))
        && parts.next() == Some("weight")
        && parts.next().is_none()
}

/// Decodes a projection and checks it is ternary with one scale.
fn read_ternary(file: &GgufFile, info: &TensorInfo) -> anyhow::Result<Ternary> {
    let cols = usize::try_from(info.dims[0])?;
    let rows = usize::try_from(info.dims[1])?;
    let view = WeightView::new(info.ty, cols, rows, file.tensor_data(info), 1.0)?;
    let mut row = vec![0f32; cols];
    let mut values = vec![0i8; cols * rows];
    let mut scale: Option<f32> = None;
    for (r, out) in values.chunks_exact_mut(cols).enumerate() {
        view.dequantize_row(r, &mut row)?;
        for (t, &v) in out.iter_mut().zip(&row) {
            anyhow::ensure!(v.is_finite(), "{} holds a non-finite value", info.name);
            if v == 0.0 {
                continue;
            }
            match scale {
                None => scale = Some(v.abs()),
                Some(s) if s == v.abs() => {}
                Some(s) => anyhow::bail!(
                    "{} is not ternary with one scale (values of magnitude {s} and {}): \
                     only BitNet b1.58 weights can be converted",
                    info.name,
                    v.abs()
                ),
            }
            *t = if v > 0.0 { 1 } else { -1 };
        }
    }
    Ok(Ternary {
        values,
        scale: scale.unwrap_or(0.0),
    })
}

/// Writes `ternary` as the bytes of a `target` tensor shaped like `info`.
fn write_ternary(
    target: TensorType,
    info: &TensorInfo,
    ternary: &Ternary,
    sink: &mut dyn Write,
) -> io::Result<()> {
    let cols = info.dims[0] as usize;
    if target == TensorType::F32 {
        let bytes: Vec<u8> = ternary
            .values
            .iter()
            .flat_map(|&t| (f32::from(t) * ternary.scale).to_le_bytes())
            .collect();
        return sink.write_all(&bytes);
    }
    let bytes = quant::encode_ternary_tensor(target, &ternary.values, cols, ternary.scale)
        .map_err(io::Error::other)?;
    sink.write_all(&bytes)
}
