//! Re-encodes a BitNet model's ternary projections in another format — I2_S (bitnet.cpp, the
//! official file's), TQ2_0 / TQ1_0 (llama.cpp) or F32 (the reference path) — and copies
//! everything else (metadata, vocabulary, embeddings, norms) unchanged.
//!
//! A BitNet b1.58 projection is ternary values times one scale per tensor. Whatever format it
//! comes in (F32, F16, BF16, I2_S, TQ2_0, TQ1_0), its decoded values must take one magnitude
//! besides zero; that magnitude is the scale and the signs are the ternary values, so the
//! conversion is exact except where the target stores the scale in fewer bits (TQ2_0 and
//! TQ1_0 keep it as f16; [`Converted::max_scale_change`] reports the largest relative change).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use bitnet_core::gguf::{GgufFile, TensorInfo};
use bitnet_core::model::PROJECTIONS;
use bitnet_core::quant::{self, TensorType, WeightView};
use half::f16;

use crate::synth::{file_type, write_f32s};
use crate::{GgufWriter, WriteError};

/// What [`convert`] wrote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Converted {
    /// Length of the output file, in bytes.
    pub bytes: u64,
    /// Projections re-encoded.
    pub projections: usize,
    /// The largest relative change of a projection's scale (0 unless the target keeps
    /// scales in fewer bits than the source).
    pub max_scale_change: f32,
}

/// A projection as ternary values (by sign) and its one scale.
struct Ternary {
    values: Vec<i8>,
    scale: f32,
}

/// Writes `file` to `output` with its projections as `target` (I2_S, TQ2_0, TQ1_0 or F32).
/// Fails with [`WriteError::NotConvertible`] when the file has no projections or one of them
/// is not ternary with one scale.
pub fn convert(
    file: &GgufFile,
    target: TensorType,
    output: &Path,
) -> Result<Converted, WriteError> {
    let file_type = file_type(target).ok_or_else(|| {
        WriteError::NotConvertible(format!("{target} is not a projection format"))
    })?;
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        w.add(key.clone(), value.clone());
    }
    w.add("general.file_type", file_type);
    let mut projections = 0usize;
    for info in file.tensors() {
        let ty = if is_projection(info) {
            projections += 1;
            target
        } else {
            info.ty
        };
        w.add_tensor_info(info.name.clone(), &info.dims, ty)?;
    }
    if projections == 0 {
        return Err(WriteError::NotConvertible(format!(
            "no projection tensors (blk.N.{{{}}}.weight)",
            PROJECTIONS.join(",")
        )));
    }

    let mut max_scale_change = 0f32;
    // A projection found not ternary while streaming: reported as itself, not as the I/O
    // error that stops the writer.
    let mut refused: Option<WriteError> = None;
    let out = File::create(output).map_err(WriteError::Io)?;
    let written = w.write_to(BufWriter::with_capacity(1 << 20, out), |info, sink| {
        let source = file
            .tensor(&info.name)
            .ok_or_else(|| io::Error::other(format!("{} vanished", info.name)))?;
        if !is_projection(source) {
            return sink.write_all(file.tensor_data(source));
        }
        let ternary = read_ternary(file, source).map_err(|e| {
            let stop = io::Error::other(e.to_string());
            refused = Some(e);
            stop
        })?;
        let stored = if target == TensorType::F32 || target == TensorType::I2S {
            ternary.scale
        } else {
            f16::from_f32(ternary.scale).to_f32()
        };
        if ternary.scale != 0.0 {
            max_scale_change = max_scale_change.max((stored - ternary.scale).abs() / ternary.scale);
        }
        write_ternary(target, source, &ternary, sink)
    });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(error) => {
            // No half-written model is left behind.
            let _ = std::fs::remove_file(output);
            return Err(refused.unwrap_or(error));
        }
    };
    Ok(Converted {
        bytes,
        projections,
        max_scale_change,
    })
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
fn read_ternary(file: &GgufFile, info: &TensorInfo) -> Result<Ternary, WriteError> {
    let not_ternary = |why: String| WriteError::NotConvertible(format!("{}: {why}", info.name));
    let cols = usize::try_from(info.dims[0]).map_err(|e| not_ternary(e.to_string()))?;
    let rows = usize::try_from(info.dims[1]).map_err(|e| not_ternary(e.to_string()))?;
    let view = WeightView::new(info.ty, cols, rows, file.tensor_data(info), 1.0)?;
    let mut row = vec![0f32; cols];
    let mut values = vec![0i8; cols * rows];
    let mut scale: Option<f32> = None;
    for (r, out) in values.chunks_exact_mut(cols).enumerate() {
        view.dequantize_row(r, &mut row)?;
        for (t, &v) in out.iter_mut().zip(&row) {
            if !v.is_finite() {
                return Err(not_ternary("holds a non-finite value".into()));
            }
            if v == 0.0 {
                continue;
            }
            match scale {
                None => scale = Some(v.abs()),
                Some(s) if s == v.abs() => {}
                Some(s) => {
                    return Err(WriteError::NotConvertible(format!(
                        "{} is not ternary with one scale (values of magnitude {s} and {}): \
                         only BitNet b1.58 weights can be converted",
                        info.name,
                        v.abs()
                    )))
                }
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
        let values: Vec<f32> = ternary
            .values
            .iter()
            .map(|&t| f32::from(t) * ternary.scale)
            .collect();
        return write_f32s(&values, sink);
    }
    let bytes = quant::encode_ternary_tensor(target, &ternary.values, cols, ternary.scale)
        .map_err(io::Error::other)?;
    sink.write_all(&bytes)
}
