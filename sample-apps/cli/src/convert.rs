//! `bitnet convert`: re-encodes a BitNet model's ternary projections in another format (see
//! `bitnet_authoring::convert`), copying everything else unchanged.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

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

/// Writes the converted file and prints a one-line summary.
pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let file = crate::options::open_file(&args.input)?;
    let target = args.format.projection_type();
    let done = bitnet_authoring::convert(&file, target, &args.output)
        .with_context(|| format!("converting {}", args.input.display()))?;
    println!(
        "wrote {} ({} bytes): {} projections as {target}, other tensors copied; \
         largest relative change of a scale {:.2e}",
        args.output.display(),
        done.bytes,
        done.projections,
        done.max_scale_change,
    );
    Ok(())
}
