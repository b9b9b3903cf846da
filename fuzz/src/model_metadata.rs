//! `model_metadata`: model files whose metadata and tensor records are hostile, through
//! everything that reads them at load: the model config, the tokenizer spec and tokenizer,
//! the chat template, the head plan, `Engine::plan`, loading the model and one forward pass.
//!
//! An input that starts with `GGUF` is a whole file. Any other input is a list of edits to
//! [`mini_model`]'s metadata values, arrays and tensors, so most inputs get past the
//! container's checks to the code behind them. Errors are expected; the checks are that
//! nothing panics, that the forward pass of a loaded model fails only on non-finite
//! activations (every other problem is caught at load), and that it stays within the
//! scratch buffers its layout (the memory estimate's) allocated.

use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use bitnet_core::chat::ChatTemplate;
use bitnet_core::engine::{Engine, EngineConfig};
use bitnet_core::gguf::{checked_tensor_bytes, ArrayValue, GgufFile, Value};
use bitnet_core::kernels::Kernels;
use bitnet_core::model::{
    HeadPlan, HeadPrecision, KvCache, KvPrecision, LogitsFor, Model, ModelError, Scratch,
    ScratchLayout,
};
use bitnet_core::quant::TensorType;
use bitnet_core::runtime::thermal::ThermalPolicy;
use bitnet_core::runtime::{Executor, ThreadPool};
use bitnet_core::tokenizer::{Tokenizer, TokenizerSpec};

use crate::fixtures::{mini_model, ModelParts, TensorParts};

/// Largest tensor an edit may create (bytes): keeps each input's memory bounded.
const MAX_TENSOR_BYTES: u64 = 1 << 20;

/// Strings that mean something to the loader, for [`Val::Word`].
const WORDS: [&str; 16] = [
    "bitnet",
    "bitnet-b1.58",
    "bitnet-25",
    "gpt2",
    "llama-bpe",
    "llama3",
    "gpt-2",
    "default",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "Ġ t",
    "Ġ",
    "",
];

/// The architectures an [`Edit::Arch`] chooses from.
const ARCHES: [&str; 4] = ["bitnet", "bitnet-b1.58", "bitnet-25", "llama"];

/// Which key an edit changes.
#[derive(Arbitrary, Debug)]
enum Key {
    /// One of the file's keys, by position.
    Existing(u8),
    /// `general.alignment`, which the mini model does not have.
    Alignment,
    /// Any key.
    Any(String),
}

/// A metadata value as the fuzzer chooses it.
#[derive(Arbitrary, Debug)]
enum Val {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    /// A `u32` below 256: the range of most counts and dimensions.
    Small(u8),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    /// One of [`WORDS`].
    Word(u8),
    U32s(Vec<u32>),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
    Strs(Vec<String>),
    Bools(Vec<bool>),
}

/// One change to the mini model.
#[derive(Arbitrary, Debug)]
enum Edit {
    /// Sets (or adds) a key.
    Set(Key, Val),
    /// Removes a key.
    Remove(Key),
    /// Replaces one element of an array value (ignored if the types differ).
    SetElement(Key, u16, Val),
    /// Cuts an array value to its first elements.
    Truncate(Key, u16),
    /// Gives a tensor (by position) a new shape and type; its bytes are repeated or cut to
    /// the new size.
    Reshape(u8, Vec<u32>, u8),
    /// Overwrites bytes of a tensor's data.
    Poke(u8, u32, Vec<u8>),
    /// Removes a tensor.
    Drop(u8),
    /// Renames the architecture (`general.architecture` and the prefix of its keys).
    Arch(u8),
    /// Adds an untied head: `output.weight`, a copy of `token_embd.weight`.
    Untie,
}

/// A structured input: edits and the engine settings that change the plan.
#[derive(Arbitrary, Debug)]
struct Input {
    /// The head precision: F16, Q8_0, Q6_K by its value modulo 3.
    head: u8,
    kv: Option<bool>,
    edits: Vec<Edit>,
}

/// The target.
pub fn run(data: &[u8]) {
    if data.starts_with(b"GGUF") {
        check_file(data.to_vec(), &engine_config(0, None));
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    static BASE: OnceLock<ModelParts> = OnceLock::new();
    let mut parts = BASE.get_or_init(mini_model).clone();
    for edit in &input.edits {
        apply(&mut parts, edit);
    }
    if let Some(bytes) = parts.to_bytes() {
        check_file(bytes, &engine_config(input.head, input.kv));
    }
}

/// One thread (no sysfs reads, no workers), the head and KV precision asked for.
fn engine_config(head: u8, kv: Option<bool>) -> EngineConfig {
    EngineConfig {
        threads: 1,
        head: Some(match head % 4 {
            0 => HeadPrecision::F16,
            1 => HeadPrecision::Q8_0,
            2 => HeadPrecision::Q6K,
            _ => HeadPrecision::Q4K,
        }),
        kv_precision: kv.map(|f32| {
            if f32 {
                KvPrecision::F32
            } else {
                KvPrecision::F16
            }
        }),
        ..EngineConfig::default()
    }
}

/// Everything a load reads from the file, in the order `Engine::load` reads it: the plan
/// (through a file holding `bytes`), the tokenizer, the model with its tensors, then a forward
/// pass. The pieces are called one by one rather than through `Engine::load` so that an
/// unchanged vocabulary is not rebuilt for every input (see [`check_tokenizer`]).
fn check_file(bytes: Vec<u8>, config: &EngineConfig) {
    let Ok(file) = GgufFile::from_bytes(bytes) else {
        return;
    };
    let _ = HeadPlan::for_file(&file, config.head.unwrap_or_default(), None);
    let _ = Model::has_ternary_projection(&file);
    let _ = ChatTemplate::detect(file.get_str_opt("tokenizer.chat_template").ok().flatten());
    if let Ok(spec) = TokenizerSpec::from_gguf(&file) {
        check_tokenizer(spec);
    }
    // The plan starts with the config: no plan without one.
    if Model::read_config(&file).is_err() {
        return;
    }
    let Ok(plan) = with_file(file.bytes(), |path| Engine::plan(path, config)) else {
        return;
    };
    let memory = &plan.memory;
    let _ = (
        memory.total_bytes(memory.default_context_tokens),
        memory.context_fitting(u64::MAX),
    );
    let Ok(model) = Model::load(Arc::new(file), plan.model.clone(), &plan.head, executor()) else {
        return;
    };
    let vocab = model.config().vocab_size;
    let tokens = [0, (vocab - 1) as u32];
    let layout = ScratchLayout::new(model.config(), tokens.len(), tokens.len(), plan.head.int8);
    let mut scratch = Scratch::new(&layout);
    let mut kv = KvCache::new(model.config(), tokens.len(), plan.kv_precision);
    match model.forward(executor(), &tokens, &mut kv, &mut scratch, LogitsFor::All) {
        Ok(()) => assert_eq!(scratch.logits().len(), 2 * vocab),
        Err(ModelError::NonFiniteActivations { .. }) => {}
        Err(e) => panic!("a loaded model's forward pass failed: {e}"),
    }
    assert_eq!(
        scratch.allocated_bytes(),
        layout.bytes(),
        "the scratch outgrew its layout"
    );
}

/// What loaded models run on: one thread (the caller), the best kernels, shared by all inputs.
fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let pool = ThreadPool::new(1).expect("a one-thread pool");
        Executor::new(pool, Kernels::detect(), ThermalPolicy::default())
    })
}

/// Builds the tokenizer for `spec` and encodes and decodes a short text with it. Specs seen
/// among the last few inputs are skipped: building is a pure function of the spec and takes
/// about a millisecond (it compiles the pre-tokenizer's regexes), while most inputs leave the
/// vocabulary as it was.
fn check_tokenizer(spec: TokenizerSpec) {
    const REMEMBERED: usize = 64;
    static RECENT: Mutex<Vec<TokenizerSpec>> = Mutex::new(Vec::new());
    let mut recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if recent.contains(&spec) {
        return;
    }
    if let Ok(tok) = Tokenizer::new(&spec) {
        let ids = tok.encode("Hello <|eot_id|> wörld 123", tok.bos().is_some());
        let _ = ids.map(|ids| tok.decode(&ids));
    }
    if recent.len() == REMEMBERED {
        recent.remove(0);
    }
    recent.push(spec);
}

/// Runs `f` on the path of a file holding `bytes`: one unnamed temporary file per process
/// (in memory, `/dev/shm`, where there is one: on a disk, every truncation waits for the
/// device), rewritten for each input and opened through `/dev/fd`, so nothing is left behind.
fn with_file<T>(bytes: &[u8], f: impl FnOnce(&str) -> T) -> T {
    static FILE: OnceLock<Mutex<std::fs::File>> = OnceLock::new();
    let mut file = FILE
        .get_or_init(|| {
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() {
                shm.to_owned()
            } else {
                std::env::temp_dir()
            };
            Mutex::new(tempfile::tempfile_in(dir).expect("a temporary file"))
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    file.rewind().expect("rewinding the temporary file");
    file.write_all(bytes).expect("writing the temporary file");
    file.set_len(bytes.len() as u64)
        .expect("cutting the temporary file");
    f(&format!("/dev/fd/{}", file.as_raw_fd()))
}

/// The key `key` names in `parts` (for [`Key::Existing`], the position modulo the count).
fn key_name(parts: &ModelParts, key: &Key) -> String {
    match key {
        Key::Existing(i) if !parts.metadata.is_empty() => parts.metadata
            [usize::from(*i) % parts.metadata.len()]
        .0
        .clone(),
        Key::Existing(_) => String::new(),
        Key::Alignment => "general.alignment".to_owned(),
        Key::Any(key) => key.clone(),
    }
}

/// The GGUF value for `val`.
fn value(val: &Val) -> Value {
    match val {
        Val::U8(v) => Value::U8(*v),
        Val::I8(v) => Value::I8(*v),
        Val::U16(v) => Value::U16(*v),
        Val::I16(v) => Value::I16(*v),
        Val::U32(v) => Value::U32(*v),
        Val::Small(v) => Value::U32(u32::from(*v)),
        Val::I32(v) => Value::I32(*v),
        Val::U64(v) => Value::U64(*v),
        Val::I64(v) => Value::I64(*v),
        Val::F32(v) => Value::F32(*v),
        Val::F64(v) => Value::F64(*v),
        Val::Bool(v) => Value::Bool(*v),
        Val::Str(v) => Value::String(v.clone()),
        Val::Word(i) => Value::String(WORDS[usize::from(*i) % WORDS.len()].to_owned()),
        Val::U32s(v) => Value::Array(ArrayValue::U32(v.clone())),
        Val::I32s(v) => Value::Array(ArrayValue::I32(v.clone())),
        Val::F32s(v) => Value::Array(ArrayValue::F32(v.clone())),
        Val::Strs(v) => Value::Array(ArrayValue::String(v.as_slice().into())),
        Val::Bools(v) => Value::Array(ArrayValue::Bool(v.clone())),
    }
}

/// Applies `edit` to `parts`; an edit that does not fit (a type mismatch, an empty list, a
/// shape the writer refuses or too large) changes nothing.
fn apply(parts: &mut ModelParts, edit: &Edit) {
    let find = |parts: &ModelParts, key: &Key| {
        let name = key_name(parts, key);
        parts.metadata.iter().position(|(k, _)| *k == name)
    };
    match edit {
        Edit::Set(key, val) => {
            let (name, v) = (key_name(parts, key), value(val));
            match find(parts, key) {
                Some(i) => parts.metadata[i].1 = v,
                None if !name.is_empty() => parts.metadata.push((name, v)),
                None => {}
            }
        }
        Edit::Remove(key) => {
            if let Some(i) = find(parts, key) {
                parts.metadata.remove(i);
            }
        }
        Edit::SetElement(key, at, val) => {
            if let Some(i) = find(parts, key) {
                set_element(&mut parts.metadata[i].1, usize::from(*at), value(val));
            }
        }
        Edit::Truncate(key, len) => {
            if let Some(Value::Array(array)) = find(parts, key).map(|i| &mut parts.metadata[i].1) {
                truncate(array, usize::from(*len));
            }
        }
        Edit::Reshape(t, dims, ty) => {
            let Some(ty) = TensorType::from_id(u32::from(*ty)) else {
                return;
            };
            let dims: Vec<u64> = dims.iter().map(|&d| u64::from(d)).collect();
            let Some(t) = tensor(parts, *t) else {
                return;
            };
            let Ok(n_bytes) = checked_tensor_bytes(&t.name, &dims, ty) else {
                return;
            };
            if n_bytes > MAX_TENSOR_BYTES || t.data.is_empty() {
                return;
            }
            t.data = t
                .data
                .iter()
                .copied()
                .cycle()
                .take(n_bytes as usize)
                .collect();
            t.dims = dims;
            t.ty = ty;
        }
        Edit::Poke(t, at, bytes) => {
            if let Some(t) = tensor(parts, *t) {
                let at = (*at as usize).min(t.data.len());
                let end = (at + bytes.len()).min(t.data.len());
                t.data[at..end].copy_from_slice(&bytes[..end - at]);
            }
        }
        Edit::Drop(t) => {
            if !parts.tensors.is_empty() {
                let i = usize::from(*t) % parts.tensors.len();
                parts.tensors.remove(i);
            }
        }
        Edit::Arch(i) => {
            let new = ARCHES[usize::from(*i) % ARCHES.len()];
            let old = match parts
                .metadata
                .iter()
                .find(|(k, _)| k == "general.architecture")
            {
                Some((_, Value::String(old))) => format!("{old}."),
                _ => return,
            };
            for (key, value) in &mut parts.metadata {
                if key == "general.architecture" {
                    *value = Value::String(new.to_owned());
                } else if let Some(rest) = key.strip_prefix(&old) {
                    *key = format!("{new}.{rest}");
                }
            }
        }
        Edit::Untie => {
            let has = |name: &str| parts.tensors.iter().any(|t| t.name == name);
            if has("token_embd.weight") && !has("output.weight") {
                let mut head = parts.tensor_mut("token_embd.weight").clone();
                head.name = "output.weight".to_owned();
                parts.tensors.push(head);
            }
        }
    }
}

/// The tensor at position `i` modulo the count.
fn tensor(parts: &mut ModelParts, i: u8) -> Option<&mut TensorParts> {
    let n = parts.tensors.len();
    (n > 0).then(|| &mut parts.tensors[usize::from(i) % n])
}

/// Sets element `at` (modulo the length) of an array to `v` when `v` is a scalar of the
/// array's element type.
fn set_element(array: &mut Value, at: usize, v: Value) {
    if let (Value::Array(ArrayValue::String(a)), Value::String(s)) = (&mut *array, &v) {
        if !a.is_empty() {
            let at = at % a.len();
            let replaced: bitnet_core::gguf::StringArray = a
                .iter()
                .enumerate()
                .map(|(i, old)| if i == at { s.as_str() } else { old })
                .collect();
            *a = replaced;
        }
        return;
    }
    macro_rules! set {
        ($($variant:ident),*) => {
            match (array, v) {
                $((Value::Array(ArrayValue::$variant(a)), Value::$variant(v)) if !a.is_empty() => {
                    let n = a.len();
                    a[at % n] = v;
                })*
                _ => {}
            }
        };
    }
    set!(U8, I8, U16, I16, U32, I32, U64, I64, F32, F64, Bool);
}

/// Cuts `array` to at most `len` elements.
fn truncate(array: &mut ArrayValue, len: usize) {
    match array {
        ArrayValue::U8(a) => a.truncate(len),
        ArrayValue::I8(a) => a.truncate(len),
        ArrayValue::U16(a) => a.truncate(len),
        ArrayValue::I16(a) => a.truncate(len),
        ArrayValue::U32(a) => a.truncate(len),
        ArrayValue::I32(a) => a.truncate(len),
        ArrayValue::U64(a) => a.truncate(len),
        ArrayValue::I64(a) => a.truncate(len),
        ArrayValue::F32(a) => a.truncate(len),
        ArrayValue::F64(a) => a.truncate(len),
        ArrayValue::Bool(a) => a.truncate(len),
        ArrayValue::String(a) => a.truncate(len),
    }
}
