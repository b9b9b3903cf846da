//! The checks behind bitnet-core's fuzz targets, one module per target.
//!
//! Each `fuzz_targets/<name>.rs` hands libFuzzer's input to `<name>::run`, and `cargo test`
//! runs the same functions over every committed input (`seeds/<name>/`,
//! `regressions/<name>/`), so a crash once found stays fixed without nightly or libFuzzer.
//! A check fails by panicking: an error returned by the SDK is an expected outcome, a panic,
//! an abort, a hang or unbounded memory is a bug. See `README.md`.

pub mod chat_template;
pub mod fixtures;
pub mod gguf;
pub mod model_metadata;
pub mod sampling;
pub mod tokenizer;

/// A target's check: returns on any input the SDK handles as it should, panics otherwise.
pub type Check = fn(&[u8]);

/// Every target: its name (also its directory under `seeds/` and `regressions/`) and its check.
pub const TARGETS: [(&str, Check); 5] = [
    ("gguf", gguf::run),
    ("model_metadata", model_metadata::run),
    ("tokenizer", tokenizer::run),
    ("chat_template", chat_template::run),
    ("sampling", sampling::run),
];

#[cfg(test)]
mod replay {
    use std::path::{Path, PathBuf};

    /// The files under `dir` (none when it does not exist), sorted.
    fn inputs(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.is_file());
        files.sort();
        files
    }

    /// Runs every seed and every saved crash through its target's check; reports each input
    /// that panics by its path.
    #[test]
    fn seeds_and_regressions_pass_their_checks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut failed = Vec::new();
        let mut ran = 0;
        for (name, check) in super::TARGETS {
            for dir in ["seeds", "regressions"] {
                for path in inputs(&root.join(dir).join(name)) {
                    let data = std::fs::read(&path).expect("reading an input");
                    ran += 1;
                    if std::panic::catch_unwind(|| check(&data)).is_err() {
                        failed.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(ran > 0, "no seeds found under {}", root.display());
        assert!(
            failed.is_empty(),
            "inputs that fail their check: {failed:#?}"
        );
    }
}
