//! What the tokenizer costs in memory, measured by a counting global allocator (its own test
//! binary, one test, so nothing else allocates through it meanwhile): the bytes the engine
//! keeps for a vocabulary (the file's `tokenizer.ggml.*` arrays and the built tokenizer) and
//! their peak while building, against the memory estimate's tokenizer part. With
//! `BITNET_LLAMA3_TOKENIZER` set (scripts/fetch-llama3-tokenizer.sh), also the real Llama-3
//! vocabulary, beside the `tokenizers` crate's BPE model built from the same data.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use bitnet_authoring::{vocabulary, GgufWriter};
use bitnet_core::engine::tokenizer_bytes;
use bitnet_core::gguf::GgufFile;
use bitnet_core::tokenizer::{TokenType, Tokenizer, TokenizerSpec};

/// The system allocator, counting the heap bytes in use and their peak. Each block is
/// counted as glibc's malloc holds it: the request plus an 8-byte header, rounded up to 16,
/// at least 32 bytes.
struct Counting;

static IN_USE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn chunk(size: usize) -> u64 {
    (((size as u64) + 8 + 15) & !15).max(32)
}

fn add(size: usize) {
    let now = IN_USE.fetch_add(chunk(size), Ordering::Relaxed) + chunk(size);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn sub(size: usize) {
    IN_USE.fetch_sub(chunk(size), Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout` (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is `System.realloc`'s.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size);
            sub(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn in_use() -> u64 {
    IN_USE.load(Ordering::Relaxed)
}

fn reset_peak() -> u64 {
    let now = in_use();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

/// Heap bytes of a vocabulary, measured.
struct Cost {
    /// The file's metadata (its `tokenizer.ggml.*` arrays, almost all of it).
    metadata: u64,
    /// The tokenizer built from it.
    tokenizer: u64,
    /// The most in use at once while opening the file and building the tokenizer.
    peak: u64,
    /// The estimate's tokenizer part for the file.
    estimate: u64,
}

impl Cost {
    fn kept(&self) -> u64 {
        self.metadata + self.tokenizer
    }
}

/// Opens `path` and builds its tokenizer, counting.
fn measure(path: &Path) -> Cost {
    let base = reset_peak();
    let file = GgufFile::open(path).expect("opens");
    let metadata = in_use() - base;
    let tok = Tokenizer::from_gguf(&file).expect("tokenizer");
    let tokenizer = in_use() - base - metadata;
    let peak = peak() - base;
    // Encoding keeps nothing per text (no cache grows with use): at most the regex engine's
    // per-thread scratch stays.
    let before = in_use();
    for i in 0..2000 {
        let text = format!("word{i} {i} ünïcödé{i} 中文{i} ");
        let ids = tok.encode(&text.repeat(20), true).expect("encodes");
        assert!(ids.len() > 20);
    }
    let after = in_use();
    assert!(
        after < before + (1 << 20),
        "encoding kept {} bytes",
        after - before
    );
    Cost {
        metadata,
        tokenizer,
        peak,
        estimate: tokenizer_bytes(&file),
    }
}

/// Writes `spec` as a file of tokenizer metadata only.
fn vocabulary_file(dir: &Path, name: &str, spec: &TokenizerSpec) -> std::path::PathBuf {
    let mut w = GgufWriter::new();
    vocabulary::add_to(&mut w, spec, true);
    let path = dir.join(name);
    std::fs::write(&path, w.to_bytes().expect("writes")).expect("saves");
    path
}

/// The built-in vocabulary padded to Llama-3's 128 256 ids with control tokens, as the
/// synthetic 2B4T preset writes it.
fn padded_builtin() -> TokenizerSpec {
    let mut spec = vocabulary::builtin();
    for i in spec.tokens.len()..128_256 {
        spec.tokens.push(format!("<|reserved_{i}|>"));
        spec.token_types.push(TokenType::Control as i32);
    }
    spec
}

/// The heap bytes of the `tokenizers` crate's BPE model built from `spec`'s tokens and merges:
/// (kept, peak while building).
fn tokenizers_bpe(spec: &TokenizerSpec) -> (u64, u64) {
    let before = reset_peak();
    let vocab: tokenizers::models::bpe::Vocab = (0u32..)
        .zip(&spec.tokens)
        .map(|(id, t)| (t.clone(), id))
        .collect();
    let merges = spec
        .merges
        .iter()
        .filter_map(|m| {
            let first = m.chars().next()?.len_utf8();
            let space = m[first..].find(' ')? + first;
            Some((m[..space].to_owned(), m[space + 1..].to_owned()))
        })
        .collect();
    let bpe = tokenizers::models::bpe::BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .expect("the tokenizers crate builds the vocabulary");
    let kept = in_use() - before;
    let peak = peak() - before;
    drop(bpe);
    (kept, peak)
}

/// The estimate covers the measured peak, by at most a quarter more plus 2 MB.
fn check(name: &str, cost: &Cost) {
    eprintln!(
        "{name}: file metadata {:.1} MB, tokenizer {:.1} MB, kept {:.1} MB, peak {:.1} MB, \
         estimate {:.1} MB",
        mb(cost.metadata),
        mb(cost.tokenizer),
        mb(cost.kept()),
        mb(cost.peak),
        mb(cost.estimate),
    );
    assert!(
        cost.estimate >= cost.peak,
        "{name}: estimate below the peak"
    );
    assert!(
        cost.estimate <= cost.peak + cost.peak / 4 + (2 << 20),
        "{name}: estimate far above the peak"
    );
}

#[test]
fn a_128k_vocabulary_costs_what_the_estimate_says_and_at_most_32_mb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let padded = padded_builtin();
    let cost = measure(&vocabulary_file(dir.path(), "padded.gguf", &padded));
    check("built-in vocabulary padded to 128 256 tokens", &cost);
    assert!(cost.peak <= 32_000_000);

    let Ok(json) = std::env::var("BITNET_LLAMA3_TOKENIZER") else {
        eprintln!("BITNET_LLAMA3_TOKENIZER unset: the real Llama-3 vocabulary is not measured");
        return;
    };
    let spec = vocabulary::from_tokenizer_json(Path::new(&json)).expect("reads tokenizer.json");
    assert_eq!((spec.tokens.len(), spec.merges.len()), (128_256, 280_147));
    let path = vocabulary_file(dir.path(), "llama3.gguf", &spec);
    let (bpe_kept, bpe_peak) = tokenizers_bpe(&spec);
    drop(spec);
    let cost = measure(&path);
    check("Llama-3 vocabulary", &cost);
    eprintln!(
        "  the tokenizers crate's BPE model alone: {:.1} MB kept, {:.1} MB peak",
        mb(bpe_kept),
        mb(bpe_peak)
    );
    assert!(cost.peak <= 32_000_000);
}
