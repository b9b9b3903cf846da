//! `bitnet models`: the model store from the command line — list, pull (resumable, with a
//! progress bar; Ctrl-C keeps what arrived), rm, import, verify.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use bitnet_core::engine::{CancelToken, EngineConfig};
use bitnet_core::runtime::Profile;
use bitnet_core::store::{
    Catalog, CatalogEntry, DownloadOptions, DownloadProgress, ModelStore, StoreError,
};
use clap::{Args, Subcommand};

use crate::options::parse_bytes;

/// Where the store is and which catalog it uses.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// The models directory; default: `$BITNET_MODELS_DIR`, else
    /// `~/.local/share/bitnet/models`.
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// A catalog JSON file to use instead of the built-in one (same format).
    #[arg(long, global = true)]
    catalog: Option<PathBuf>,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand, Debug)]
enum ModelsCommand {
    /// The catalog, and the installed models with their memory needs and fit.
    List {
        /// Deployment profile whose budget decides "fits" (mobile, edge, server, cloud).
        #[arg(long)]
        profile: Option<Profile>,
        /// Memory budget in bytes (K, M, G suffixes: powers of 1024).
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        memory_budget: Option<u64>,
    },
    /// Download a catalog model (resuming what an earlier pull left), verify and install it.
    Pull {
        /// The catalog id.
        id: String,
    },
    /// Remove an installed model (and any partial download of it).
    Rm {
        /// The installed file's name.
        file_name: String,
    },
    /// Copy a local file into the store (checked against the catalog entry if given, else
    /// checked to be a model the engine loads).
    Import {
        /// The file.
        path: PathBuf,
        /// The catalog id it should be (its size and SHA-256 are checked).
        #[arg(long)]
        id: Option<String>,
        /// Move the file instead of copying it.
        #[arg(long = "move")]
        move_file: bool,
    },
    /// Recompute an installed catalog model's SHA-256.
    Verify {
        /// The catalog id.
        id: String,
    },
}

/// Runs `bitnet models ...`.
pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => default_dir()?,
    };
    let store = ModelStore::open(&dir)?;
    let catalog = match &args.catalog {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Catalog::from_json(&json)?
        }
        None => Catalog::builtin(),
    };
    let entry = |id: &str| -> anyhow::Result<CatalogEntry> {
        match catalog.get(id) {
            Some(e) => Ok(e.clone()),
            None => bail!(
                "no catalog model {id:?}; the catalog has: {}",
                catalog
                    .models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    match args.command {
        ModelsCommand::List {
            profile,
            memory_budget,
        } => list(&store, &catalog, profile, memory_budget),
        ModelsCommand::Pull { id } => pull(&store, &entry(&id)?),
        ModelsCommand::Rm { file_name } => {
            store.delete(&file_name)?;
            println!("removed {file_name}");
            Ok(())
        }
        ModelsCommand::Import {
            path,
            id,
            move_file,
        } => {
            let entry = id.as_deref().map(entry).transpose()?;
            let installed = store.import(&path, entry.as_ref(), !move_file)?;
            println!("installed {}", installed.display());
            Ok(())
        }
        ModelsCommand::Verify { id } => {
            store.verify(&entry(&id)?)?;
            println!("{id}: SHA-256 matches");
            Ok(())
        }
    }
}

fn default_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BITNET_MODELS_DIR") {
        return Ok(dir.into());
    }
    let home = std::env::var_os("HOME").context("neither --dir, BITNET_MODELS_DIR nor HOME")?;
    Ok(PathBuf::from(home).join(".local/share/bitnet/models"))
}

fn list(
    store: &ModelStore,
    catalog: &Catalog,
    profile: Option<Profile>,
    budget: Option<u64>,
) -> anyhow::Result<()> {
    println!("catalog:");
    for m in &catalog.models {
        let fits: Vec<&str> = m
            .fits()
            .iter()
            .filter(|f| f.fits)
            .map(|f| f.profile.name())
            .collect();
        let source = if m.urls.is_empty() {
            "import only"
        } else {
            "download"
        };
        println!(
            "  {:<26} {:>10}  {} {}  fits: {}  ({source}, {})",
            m.id,
            mib(m.size_bytes),
            m.arch,
            m.format,
            if fits.is_empty() {
                "none".into()
            } else {
                fits.join(", ")
            },
            m.license
        );
    }
    let base = profile.map_or_else(EngineConfig::default, EngineConfig::from_profile);
    let config = EngineConfig {
        memory_budget_bytes: budget.or(base.memory_budget_bytes),
        ..base
    };
    println!("installed in {}:", store.dir().display());
    let installed = store.list(catalog, &config)?;
    if installed.is_empty() {
        println!("  (none)");
    }
    for m in installed {
        let need = m
            .memory
            .as_ref()
            .map(|e| mib(e.total_bytes(e.default_context_tokens)))
            .unwrap_or_else(|| "?".into());
        println!(
            "  {:<26} {:>10}  {} {}  needs {need}  {}{}",
            m.file_name,
            mib(m.size_bytes),
            m.arch.as_deref().unwrap_or("?"),
            m.format.as_deref().unwrap_or("?"),
            if m.fits { "fits" } else { "does not fit" },
            m.catalog_id
                .map(|id| format!("  [{id}]"))
                .unwrap_or_default()
        );
        if let Some(problem) = m.problem {
            println!("    {problem}");
        }
    }
    Ok(())
}

/// Downloads with a progress bar on a terminal, else a progress line a second; Ctrl-C
/// cancels and keeps the part file.
fn pull(store: &ModelStore, entry: &CatalogEntry) -> anyhow::Result<()> {
    let cancel = CancelToken::new();
    let handler = cancel.clone();
    if let Err(e) = ctrlc::set_handler(move || handler.cancel()) {
        eprintln!("warning: Ctrl-C will not stop the download cleanly: {e}");
    }
    let resumed = store.partial_bytes(entry);
    if resumed > 0 {
        eprintln!("resuming {} at {}", entry.id, mib(resumed));
    }
    let terminal = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::new(entry.size_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(entry.id.clone());
    let mut line = |p: &DownloadProgress| {
        if terminal {
            bar.set_position(p.done_bytes);
        } else {
            eprintln!("{}", progress_line(p));
        }
    };
    let options =
        DownloadOptions::default().progress_interval_ms(if terminal { 100 } else { 1000 });
    let result = store.download(entry, &options, &cancel, &mut line);
    bar.finish_and_clear();
    match result {
        Ok(path) => {
            println!("installed {}", path.display());
            Ok(())
        }
        Err(StoreError::Cancelled { done_bytes }) => {
            eprintln!(
                "interrupted at {}; `bitnet models pull {}` resumes",
                mib(done_bytes),
                entry.id
            );
            std::process::exit(130);
        }
        Err(e) => Err(e.into()),
    }
}

fn progress_line(p: &DownloadProgress) -> String {
    let percent = p.done_bytes as f64 * 100.0 / p.total_bytes.max(1) as f64;
    let eta = p
        .eta_ms
        .map(|ms| format!("{:.0} s", Duration::from_millis(ms).as_secs_f64()))
        .unwrap_or_else(|| "?".into());
    format!(
        "{} / {} ({percent:.0} %), {}/s, ETA {eta}",
        mib(p.done_bytes),
        mib(p.total_bytes),
        mib(p.bytes_per_s as u64)
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
