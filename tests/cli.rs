//! The `bitnet` binary end to end: synth → inspect → generate → chat → logits → tokenize, each
//! checked against the library where it can be, and readable errors with a failing exit code.

use std::path::{Path, PathBuf};
use std::process::Output;

use bitnet_core::engine::{Input, SessionConfig};
use bitnet_core::model::{Arch, LogitsFor};
use bitnet_core::quant::TensorType;
use bitnet_core::tokenizer::special;
use bitnet_tests::{
    generate, greedy, load, run_cli, run_cli_bytes, stdout_of, synth, tiny_model, user,
};
use serde_json::Value as Json;

/// Runs `bitnet` and parses its stdout as JSON.
fn json_of(args: &[&str]) -> Json {
    let out = stdout_of(&run_cli(args, None));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bitnet {args:?}: {e}: {out}"))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn synth_writes_every_arch_and_format() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [Arch::Bitnet, Arch::BitnetB158] {
        for format in [
            TensorType::I2S,
            TensorType::TQ2_0,
            TensorType::TQ1_0,
            TensorType::F32,
        ] {
            let model = synth(dir.path(), arch, format, 3);
            let report = json_of(&["inspect", path_str(&model), "--json"]);
            assert_eq!(report["metadata"]["general.architecture"], arch.name());
            let types: Vec<(&str, &str)> = report["tensors"]
                .as_array()
                .expect("a tensor list")
                .iter()
                .map(|t| (t["name"].as_str().unwrap(), t["type"].as_str().unwrap()))
                .collect();
            let embedding = if format == TensorType::F32 {
                "F32"
            } else {
                "F16"
            };
            for (name, ty) in types {
                let expected = match name {
                    "token_embd.weight" => embedding,
                    n if n.contains("norm") => "F32",
                    _ => format.name(),
                };
                assert_eq!(ty, expected, "{name} in {}", model.display());
            }
            // Every file loads and runs.
            load(&model).evaluate(&[1, 2, 3], LogitsFor::Last).unwrap();
        }
    }
}

#[test]
fn inspect_describes_the_file_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let text = stdout_of(&run_cli(&["inspect", path_str(&model)], None));
    for needle in [
        "GGUF v3",
        "general.architecture",
        "blk.1.ffn_down.weight",
        "I2_S",
        "bytes by group",
        "memory estimate",
        "total_bytes",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    let report = json_of(&["inspect", path_str(&model), "--json", "--ctx", "256"]);
    let tensors = report["tensors"].as_array().expect("a tensor list");
    // token_embd, 11 per block for 2 blocks, output_norm.
    assert_eq!(tensors.len(), 24);
    for t in tensors {
        assert!(t["name"].is_string() && t["dims"].is_array() && t["bytes"].as_u64() > Some(0));
    }
    let tensor_bytes: u64 = tensors.iter().map(|t| t["bytes"].as_u64().unwrap()).sum();
    let memory = &report["memory_estimate"];
    assert_eq!(memory["mapped_weight_bytes"], tensor_bytes);
    assert_eq!(memory["context_tokens"], 256);
    // 2 layers × (K + V) × 128 KV dims × 2 bytes.
    assert_eq!(memory["kv_cache_f16_bytes_per_token"], 2 * 2 * 128 * 2);
    let field = |k: &str| memory[k].as_u64().unwrap();
    assert_eq!(
        field("total_bytes"),
        field("mapped_weight_bytes") + field("kv_cache_bytes") + field("logits_bytes")
    );
    let by_type: u64 = report["bytes_by_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_type, tensor_bytes);
    assert_eq!(
        report["file_bytes"].as_u64(),
        Some(std::fs::metadata(&model).unwrap().len())
    );
}

#[test]
fn generate_prints_what_the_engine_generates() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let prompt = "The answer is";
    let output = run_cli(
        &["generate", path_str(&model), "--prompt", prompt, "-n", "16"],
        None,
    );
    let stdout = stdout_of(&output);
    assert!(!stdout.trim().is_empty());
    let engine = load(&model);
    let mut session = engine.session(SessionConfig::default()).unwrap();
    let (expected, _) = generate(
        &mut session,
        Input::Text {
            text: prompt.into(),
        },
        &greedy(16),
    )
    .unwrap();
    assert_eq!(stdout, format!("{}\n", expected.text));
    assert!(stderr_of(&output).contains("generated 16"));
}

/// The number in `(N cached)` of each statistics line.
fn cached_counts(stderr: &str) -> Vec<usize> {
    stderr
        .split("tokens (")
        .skip(1)
        .map(|rest| {
            let n = rest.split(' ').next().unwrap_or_default();
            n.parse()
                .unwrap_or_else(|_| panic!("no cached count in {stderr}"))
        })
        .collect()
}

#[test]
fn chat_refuses_a_line_that_is_not_utf8_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let mut stdin = b"Hello\xff\xfe there\n".to_vec();
    stdin.extend_from_slice(b"Hello there!\n");
    let output = run_cli_bytes(&["chat", path_str(&model), "-n", "4"], &stdin);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    assert_eq!(
        cached_counts(&stderr).len(),
        1,
        "one reply expected:\n{stderr}"
    );
}

#[test]
fn chat_holds_a_two_turn_conversation_on_the_kv_cache() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let turns = ["Hello there!", "Tell me more."];
    let output = run_cli(
        &["chat", path_str(&model), "-n", "12"],
        Some(&format!("{}\n{}\n/metrics\n/trim\n", turns[0], turns[1])),
    );
    let stdout = stdout_of(&output);
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("[metrics: 2 requests, 0 errors,"),
        "/metrics: {stderr}"
    );
    assert!(
        stderr.contains("(freed the caches of 1 idle sessions;"),
        "/trim: {stderr}"
    );
    let cached = cached_counts(&stderr);
    assert_eq!(cached.len(), 2, "two replies expected:\n{stderr}");
    assert_eq!(cached[0], 0);
    assert!(
        cached[1] > 0,
        "the second turn reused no cached tokens:\n{stderr}"
    );

    let engine = load(&model);
    let mut session = engine.session(SessionConfig::default()).unwrap();
    let replies: Vec<String> = turns
        .iter()
        .map(|t| {
            let (g, _) = generate(
                &mut session,
                Input::Chat {
                    messages: vec![user(t)],
                },
                &greedy(12),
            )
            .unwrap();
            g.text
        })
        .collect();
    assert_eq!(stdout, format!("{}\n{}\n", replies[0], replies[1]));
}

#[test]
fn logits_json_matches_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let engine = load(&model);
    let vocab = engine.model().config().vocab_size;
    let bos = engine.tokenizer().bos().expect("the vocabulary has BOS");

    let last = json_of(&[
        "logits",
        path_str(&model),
        "--prompt",
        "Hello world",
        "--json",
    ]);
    let tokens: Vec<u32> = serde_json::from_value(last["tokens"].clone()).unwrap();
    assert_eq!(tokens[0], bos);
    assert_eq!(
        tokens,
        engine.tokenizer().encode("Hello world", true).unwrap()
    );
    let logits: Vec<f32> = serde_json::from_value(last["logits"].clone()).unwrap();
    assert_eq!(logits.len(), vocab);
    assert_eq!(
        logits,
        engine.evaluate(&tokens, LogitsFor::Last).unwrap(),
        "the JSON round-trips f32 exactly"
    );

    let ids = tokens
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let all = json_of(&[
        "logits",
        path_str(&model),
        "--tokens",
        &ids,
        "--all-positions",
    ]);
    let rows: Vec<Vec<f32>> = serde_json::from_value(all["logits"].clone()).unwrap();
    assert_eq!(rows.len(), tokens.len());
    assert!(rows.iter().all(|r| r.len() == vocab));
    assert_eq!(rows.last(), Some(&logits));
}

#[test]
fn tokenize_round_trips_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let text = "Hello world, the model said: ünïcode ✓ 日本語\n\tand more  spaces";
    let plain = json_of(&["tokenize", path_str(&model), "--text", text, "--no-bos"]);
    assert_eq!(plain["text"], text);
    let ids: Vec<u32> = serde_json::from_value(plain["tokens"].clone()).unwrap();

    let with_bos = json_of(&["tokenize", path_str(&model), "--text", text]);
    let bos_ids: Vec<u32> = serde_json::from_value(with_bos["tokens"].clone()).unwrap();
    assert_eq!(bos_ids[1..], ids);
    assert_eq!(Some(bos_ids[0]), load(&model).tokenizer().bos());
    assert_eq!(
        with_bos["text"],
        format!("{}{text}", special::BEGIN_OF_TEXT)
    );
}

/// A failing run: nonzero exit, an error message on stderr, no panic.
fn failure(args: &[&str]) -> String {
    let output = run_cli(args, None);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "bitnet {args:?} succeeded");
    assert!(
        !stderr.contains("panicked"),
        "bitnet {args:?} panicked:\n{stderr}"
    );
    assert!(stderr.starts_with("error"), "bitnet {args:?}:\n{stderr}");
    stderr
}

/// Files that make every command fail, with what the error must say: a missing one (named in
/// the message) and one that is not GGUF.
fn bad_files(dir: &Path) -> [(PathBuf, String); 2] {
    let missing = dir.join("missing.gguf");
    let corrupt = dir.join("corrupt.gguf");
    std::fs::write(&corrupt, b"this is not a model file".repeat(8)).unwrap();
    [
        (
            missing.clone(),
            format!("{}: No such file or directory", missing.display()),
        ),
        (corrupt, "not a GGUF file".to_owned()),
    ]
}

#[test]
fn errors_are_readable_and_exit_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    for (file, reason) in bad_files(dir.path()) {
        let file = path_str(&file);
        for args in [
            vec!["inspect", file],
            vec!["generate", file, "--prompt", "hi"],
            vec!["chat", file],
            vec!["logits", file, "--prompt", "hi"],
            vec!["tokenize", file, "--text", "hi"],
        ] {
            let stderr = failure(&args);
            assert!(stderr.contains(&reason), "bitnet {args:?}:\n{stderr}");
        }
    }
    let model = path_str(&model);
    for (flags, reason) in [
        (&["--top-p", "2"][..], "top_p"),
        (&["--temperature=-1"][..], "temperature"),
        (&["-n", "0"][..], "max_tokens"),
        (&["-n", "many"][..], "invalid value"),
        (&["--ctx", "1"][..], "context_length"),
    ] {
        let mut args = vec!["generate", model, "--prompt", "hi"];
        args.extend_from_slice(flags);
        let stderr = failure(&args);
        assert!(stderr.contains(reason), "bitnet {args:?}:\n{stderr}");
    }
    let stderr = failure(&["frobnicate", model]);
    assert!(stderr.contains("unrecognized subcommand"), "{stderr}");
    let stderr = failure(&["logits", model, "--tokens", "1,999999"]);
    assert!(stderr.contains("999999"), "{stderr}");
}

/// An error is reported once, not once per level of its cause chain.
#[test]
fn error_messages_say_each_thing_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let [(missing, _), (corrupt, _)] = bad_files(dir.path());
    for (args, reason) in [
        (
            vec![
                "generate",
                path_str(&model),
                "--prompt",
                "hi",
                "--top-p",
                "2",
            ],
            "must be in (0, 1]",
        ),
        (
            vec!["generate", path_str(&missing), "--prompt", "hi"],
            "No such file or directory",
        ),
        (vec!["inspect", path_str(&corrupt)], "not a GGUF file"),
    ] {
        let stderr = failure(&args);
        assert_eq!(
            stderr.matches(reason).count(),
            1,
            "bitnet {args:?} repeats itself:\n{stderr}"
        );
    }
}

#[test]
fn convert_reencodes_projections_exactly_between_formats() {
    let dir = tempfile::tempdir().unwrap();
    let synth_as = |format| synth(dir.path(), Arch::BitnetB158, format, 3);
    let (i2_s, tq2_0, tq1_0) = (
        synth_as(TensorType::I2S),
        synth_as(TensorType::TQ2_0),
        synth_as(TensorType::TQ1_0),
    );
    let convert = |from: &Path, format: &str| {
        let out = dir.path().join(format!("converted-{format}.gguf"));
        let args = ["convert", path_str(from), "--format", format, "-o"];
        stdout_of(&run_cli(&[&args[..], &[path_str(&out)]].concat(), None));
        std::fs::read(out).unwrap()
    };
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    // synth writes the same weights in every format, so a conversion is byte for byte synth's.
    assert!(convert(&i2_s, "tq2_0") == bytes(&tq2_0));
    assert!(convert(&i2_s, "tq1_0") == bytes(&tq1_0));
    assert!(convert(&tq1_0, "i2_s") == bytes(&i2_s));
    let f32_copy = dir.path().join("converted-f32.gguf");
    convert(&i2_s, "f32");
    assert!(convert(&f32_copy, "i2_s") == bytes(&i2_s));
}

#[test]
fn convert_refuses_weights_that_are_not_ternary() {
    let dir = tempfile::tempdir().unwrap();
    let model = synth(dir.path(), Arch::BitnetB158, TensorType::F32, 3);
    let file = bitnet_core::gguf::GgufFile::open(&model).unwrap();
    let offset = file.tensor("blk.0.attn_k.weight").unwrap().offset as usize;
    let mut bytes = std::fs::read(&model).unwrap();
    drop(file);
    bytes[offset..offset + 4].copy_from_slice(&0.123f32.to_le_bytes());
    let edited = dir.path().join("not-ternary.gguf");
    std::fs::write(&edited, bytes).unwrap();
    let out = dir.path().join("out.gguf");
    let stderr = failure(&[
        "convert",
        path_str(&edited),
        "--format",
        "i2_s",
        "-o",
        path_str(&out),
    ]);
    assert!(
        stderr.contains("blk.0.attn_k.weight is not ternary with one scale"),
        "{stderr}"
    );
}

#[test]
fn eval_asks_each_question_as_a_fresh_greedy_chat() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let engine = load(&model);
    let questions = ["Hello", "What is 2 + 2?", "Hello"];
    let replies: Vec<String> = questions
        .iter()
        .map(|q| {
            let mut session = engine.session(SessionConfig::default()).unwrap();
            let (reply, _) = generate(
                &mut session,
                Input::Chat {
                    messages: vec![user(q)],
                },
                &greedy(8),
            )
            .unwrap();
            reply.text
        })
        .collect();
    // The first and third answers are the model's own replies, the second is not.
    let answers = [replies[0].trim(), "certainly not this", replies[2].trim()];
    let entries: Vec<Json> = questions
        .iter()
        .zip(answers)
        .map(|(q, a)| serde_json::json!({ "task": "t", "question": q, "answer": a }))
        .collect();
    let file = dir.path().join("questions.json");
    std::fs::write(
        &file,
        serde_json::json!({ "questions": entries }).to_string(),
    )
    .unwrap();
    let report = json_of(&[
        "eval",
        path_str(&model),
        "--questions",
        path_str(&file),
        "-n",
        "8",
        "--json",
    ]);
    assert_eq!(report["replies"], serde_json::json!(replies));
    let percent = 200.0 / 3.0;
    assert_eq!(report["accuracy"]["t"], percent);
    assert_eq!(report["accuracy"]["all"], percent);
}
