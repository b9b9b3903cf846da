"""Tokenizer training and the token stream the model trains on.

The vocabulary is a byte-level BPE trained with the ``tokenizers`` library and used exactly as the
engine builds it from the GGUF keys (``tokenizer.ggml.pre = llama-bpe``): text split by the
Llama-3 pre-tokenizer regex, bytes mapped to GPT-2's alphabet, merges applied with whole-token
pieces taken as they are. Digits are kept one per token (training splits them first, so no merge
ever joins two), which makes numbers easy to compute with. Three control tokens close the
vocabulary: ``<|begin_of_text|>`` (BOS), ``<|end_of_text|>`` (EOS) and ``<|eot_id|>`` (EOT).

Chats are rendered in BitNet b1.58 2B4T's format, as the engine's chat template does:
``<|begin_of_text|>System: …<|eot_id|>User: …<|eot_id|>Assistant: …<|eot_id|>``. A training
chat is tokenized the way the engine sees it when it writes the last reply: the history and
``Assistant: `` as one text, then the reply's own tokens. Loss falls on the replies and their
``<|eot_id|>``; prose (the dictionary's entries) is learned whole, ``BOS text EOS``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

import sources
from tasks import Tasks, clean

BOS, EOS, EOT = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
SPECIALS = (BOS, EOS, EOT)
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
"""The pre-tokenizer regex of Llama-3's tokenizer.json (GGUF ``tokenizer.ggml.pre = llama-bpe``)."""
PROSE_SHARE = 0.1
"""Probability that the next packed segment is a dictionary entry rather than a chat."""


def render(messages: list[tuple[str, str]]) -> str:
    """Messages in the 2B4T chat format (each closed by ``<|eot_id|>``)."""
    return "".join(f"{role}: {text}{EOT}" for role, text in messages)


def prompt_text(messages: list[tuple[str, str]]) -> str:
    """What the engine tokenizes to ask for the next reply: BOS, the history, ``Assistant: ``."""
    return BOS + render(messages) + "Assistant: "


def _split_regex() -> pre_tokenizers.Split:
    return pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated")


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE of ``vocab_size`` tokens (the three control tokens last)."""
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre_tokenizers.Sequence([
        _split_regex(), pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    trainer_tok.train_from_iterator(texts, trainer)
    model = json.loads(trainer_tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    assert all(len(t) == 1 or not any(c.isdigit() for c in t) for t in model["vocab"]), "digit merge"
    return build_tokenizer(model["vocab"], merges)


def build_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    """The engine's tokenizer for a vocabulary (control tokens appended after ``vocab``)."""
    tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(merges), ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        _split_regex(), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIALS))
    return tok


def vocab_and_merges(tok: Tokenizer) -> tuple[list[str], list[str]]:
    """Tokens in id order (GPT-2 byte alphabet) and merges as ``"a b"`` strings."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    tokens = [""] * (len(vocab) + len(SPECIALS))
    for text, i in vocab.items():
        tokens[i] = text
    for added in spec["added_tokens"]:
        tokens[added["id"]] = added["content"]
    merges = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]
    return tokens, merges


@dataclass
class Segment:
    """Tokens of one packed piece and which of them are training targets."""

    ids: list[int]
    target: list[bool]


def encode_chat(tok: Tokenizer, messages: list[tuple[str, str]]) -> Segment:
    """A chat ending in a reply, tokenized as the engine sees it while writing that reply."""
    head = prompt_text(messages[:-1])
    enc = tok.encode(head, add_special_tokens=False)
    # Earlier replies (and their <|eot_id|>) are targets too, in their whole-text tokens.
    spans, pos = [], len(BOS)
    for role, text in messages[:-1]:
        start = pos + len(role) + 2
        pos = start + len(text) + len(EOT)
        if role == "Assistant":
            spans.append((start, pos))
    target = [any(s < e_ and e > s_ for s_, e_ in spans) for s, e in enc.offsets]
    reply = tok.encode(messages[-1][1], add_special_tokens=False).ids + [tok.token_to_id(EOT)]
    return Segment(enc.ids + reply, target + [True] * len(reply))


def encode_prose(tok: Tokenizer, text: str, limit: int) -> Segment | None:
    """``BOS text EOS`` as one segment, or None when it exceeds ``limit`` tokens."""
    ids = ([tok.token_to_id(BOS)] + tok.encode(text, add_special_tokens=False).ids
           + [tok.token_to_id(EOS)])
    if len(ids) > limit:
        return None
    return Segment(ids, [False] + [True] * (len(ids) - 1))


class Batches:
    """Rows of ``seq`` tokens packed with chats and prose, deterministic from ``seed``.

    Each row holds whole segments (never split); a token attends within its segment only and
    positions restart at 0 in each, as a fresh conversation in the engine does. ``long_chats``
    is the share of chats with 4–16 turns (for rows long enough to hold them).
    """

    def __init__(self, tok: Tokenizer, tasks: Tasks, seq: int, seed: int, long_chats: float = 0.0) -> None:
        self.tok, self.tasks, self.seq, self.long_chats = tok, tasks, seq, long_chats
        self.rng = random.Random(seed)
        paragraphs = []
        for entry in sources.devil_entries():
            for para in clean(entry.text).split("\n\n"):
                paragraphs.append(para)
        self.prose = [s for s in (encode_prose(tok, p, seq) for p in paragraphs) if s is not None]

    def _segment(self) -> Segment:
        if self.rng.random() < PROSE_SHARE:
            return self.rng.choice(self.prose)
        long = self.rng.random() < self.long_chats
        return encode_chat(self.tok, self.tasks.conversation(self.rng, long))

    def row(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, positions, segment ids, target mask), each [seq]; pads have segment 0."""
        ids = np.zeros(self.seq, np.int32)
        pos = np.zeros(self.seq, np.int32)
        seg = np.zeros(self.seq, np.int32)
        tgt = np.zeros(self.seq, np.float32)
        used, n, misses = 0, 0, 0
        while misses < 4:
            s = self._segment()
            if len(s.ids) > self.seq:
                continue
            if used + len(s.ids) > self.seq:
                misses += 1
                continue
            n += 1
            k = len(s.ids)
            ids[used:used + k] = s.ids
            pos[used:used + k] = np.arange(k)
            seg[used:used + k] = n
            tgt[used:used + k] = s.target
            used += k
        return ids, pos, seg, tgt

    def batch(self, rows: int) -> tuple[np.ndarray, ...]:
        return tuple(np.stack(x) for x in zip(*(self.row() for _ in range(rows))))


def tokenizer_corpus(tasks: Tasks, seed: int, chats: int = 20_000) -> list[str]:
    """Texts the BPE is trained on: every dictionary entry and a sample of rendered chats."""
    rng = random.Random(seed)
    texts = [clean(e.text) for e in sources.devil_entries()]
    # Control tokens are not BPE material: chats are rendered with plain line breaks here.
    texts += ["\n".join(f"{role}: {text}" for role, text in tasks.conversation(rng)) for _ in range(chats)]
    return texts
