//! Helpers shared by the end-to-end tests in this crate: synthetic models (written in-process
//! by `bitnet-authoring`), the `bitnet` binary for the CLI's own tests, and generation through
//! the engine with the streamed text collected.
//!
//! Models are always written with the built-in byte-level vocabulary (`BITNET_LLAMA3_TOKENIZER`
//! is also removed from the binary's environment), so every test sees the same small, fast
//! model whatever the caller's environment.

pub mod gguf_fixtures;
pub mod loopback;
pub mod quality;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bitnet_core::chat::{Message, Role};
use bitnet_core::engine::{
    CancelToken, Engine, EngineConfig, Event, Generation, GenerationOptions, Input, Session,
};
use bitnet_core::model::Arch;
use bitnet_core::quant::TensorType;
use bitnet_core::sampling::SamplingParams;
use bitnet_core::tokenizer::{StreamDecoder, Tokenizer};
use bitnet_core::Error;

use bitnet_authoring::synth::{write_synthetic, Preset, SyntheticModel};
use bitnet_authoring::vocabulary;

/// The `bitnet` executable: `$BITNET_BIN` if set, else the one cargo built next to this test
/// binary (`<target>/<profile>/bitnet`).
///
/// # Panics
/// When the binary does not exist (build it first: `cargo build -p bitnet-cli`).
pub fn bitnet_bin() -> PathBuf {
    let path = match std::env::var_os("BITNET_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => {
            // Test binaries live in `<target>/<profile>/deps/`.
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("the test binary lives in <target>/<profile>/deps");
            profile_dir.join(format!("bitnet{}", std::env::consts::EXE_SUFFIX))
        }
    };
    assert!(
        path.is_file(),
        "{} does not exist: build it first: cargo build -p bitnet-cli",
        path.display()
    );
    path
}

/// Runs `bitnet` with `args`, feeding it `stdin` (none: an empty, closed stdin), and returns
/// its exit status and captured output.
pub fn run_cli<S: AsRef<OsStr>>(args: &[S], stdin: Option<&str>) -> Output {
    run_cli_bytes(args, stdin.map_or(&[][..], str::as_bytes))
}

/// [`run_cli`] with `stdin` as raw bytes (which need not be UTF-8).
pub fn run_cli_bytes<S: AsRef<OsStr>>(args: &[S], stdin: &[u8]) -> Output {
    let mut child = Command::new(bitnet_bin())
        .args(args)
        .env_remove("BITNET_LLAMA3_TOKENIZER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning bitnet");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin).expect("writing bitnet's stdin");
    drop(pipe);
    child.wait_with_output().expect("waiting for bitnet")
}

/// The standard output of a run that must succeed.
///
/// # Panics
/// When the run failed; the message shows its stderr.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "bitnet failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("bitnet's stdout is UTF-8")
}

/// Writes the tiny synthetic model of `arch` with its projections in `format` (I2_S, TQ2_0,
/// TQ1_0 or F32) and weights from `seed` into `dir`, and returns its path. The same seed gives
/// the same ternary weights and scales in every format; the vocabulary is the built-in one.
pub fn synth(dir: &Path, arch: Arch, format: TensorType, seed: u64) -> PathBuf {
    let name = format.name().to_lowercase();
    let path = dir.join(format!("{}-{name}-{seed}.gguf", arch.name()));
    let model = SyntheticModel {
        preset: Preset::Tiny,
        arch,
        format,
        seed,
        vocabulary: vocabulary::builtin(),
    };
    write_synthetic(&model, &path).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Writes the `preset` model (`bitnet-b1.58`, I2_S, the built-in vocabulary, weights from
/// `seed`) into `dir` as `<preset>.gguf`, and returns its path.
pub fn preset_model(dir: &Path, preset: Preset, seed: u64) -> PathBuf {
    let path = dir.join(format!("{preset:?}.gguf").to_lowercase());
    let model = SyntheticModel {
        preset,
        arch: Arch::BitnetB158,
        format: TensorType::I2S,
        seed,
        vocabulary: vocabulary::builtin(),
    };
    write_synthetic(&model, &path).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Loads the engine for `path` with the default limits.
pub fn load(path: &Path) -> Engine {
    Engine::load(path, EngineConfig::default())
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// Writes the tiny `bitnet-b1.58` I2_S model most engine tests use into `dir`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    synth(dir, Arch::BitnetB158, TensorType::I2S, 5)
}

/// [`tiny_model`] loaded. The directory holding the file must outlive the engine.
pub fn tiny_engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = load(&tiny_model(dir.path()));
    (dir, engine)
}

/// Greedy decoding of up to `max_tokens` tokens, no stop strings.
pub fn greedy(max_tokens: usize) -> GenerationOptions {
    GenerationOptions {
        max_tokens,
        ..GenerationOptions::default()
    }
}

/// Seeded sampling at `temperature` (every filter off) of up to `max_tokens` tokens.
pub fn sampled(temperature: f32, seed: u64, max_tokens: usize) -> GenerationOptions {
    GenerationOptions {
        max_tokens,
        sampling: SamplingParams {
            temperature,
            seed,
            ..SamplingParams::default()
        },
        ..GenerationOptions::default()
    }
}

/// A user message.
pub fn user(text: &str) -> Message {
    Message::new(Role::User, text)
}

/// An assistant message.
pub fn assistant(text: &str) -> Message {
    Message::new(Role::Assistant, text)
}

/// A system message.
pub fn system(text: &str) -> Message {
    Message::new(Role::System, text)
}

/// Asserts that loading the tiny model with `config` fails with [`Error::InvalidOption`] naming
/// the option `name`.
pub fn assert_invalid_option(config: EngineConfig, name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Engine::load(tiny_model(dir.path()), config).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name: n, .. } if *n == name),
        "{err:?}"
    );
}

/// Runs `session.generate` and returns the result with the text of every `Event::Text`, in
/// order.
pub fn generate(
    session: &mut Session,
    input: Input,
    options: &GenerationOptions,
) -> bitnet_core::Result<(Generation, Vec<String>)> {
    generate_cancellable(session, input, options, &CancelToken::new())
}

/// [`generate`] with `cancel` watched.
pub fn generate_cancellable(
    session: &mut Session,
    input: Input,
    options: &GenerationOptions,
    cancel: &CancelToken,
) -> bitnet_core::Result<(Generation, Vec<String>)> {
    let mut pieces = Vec::new();
    let mut sink = |event: Event<'_>| {
        if let Event::Text(piece) = event {
            pieces.push(piece.to_owned());
        }
    };
    let generation = session.generate(input, options, Some(cancel), &mut sink)?;
    Ok((generation, pieces))
}

/// The text each of `tokens` completes when streamed through a [`StreamDecoder`], one entry per
/// token (empty when a token only extends an unfinished UTF-8 character): what a generation
/// without stop strings streams token by token.
pub fn stream_pieces(tokenizer: &Tokenizer, tokens: &[u32]) -> Vec<String> {
    let mut decoder = StreamDecoder::new();
    tokens
        .iter()
        .map(|&t| {
            decoder
                .push(tokenizer, t)
                .expect("generated tokens are in the vocabulary")
                .unwrap_or_default()
        })
        .collect()
}
