"""The chat tasks the demo model is trained and measured on, generated from fixed seeds.

Every question has one right answer that a program can check. Each task splits its instances
once, from ``SPLIT_SEED``, into a training part and a held-out part; training draws only from
the first, the evaluation set only from the second:

| task | question (canonical form) | answer | held out |
| --- | --- | --- | --- |
| ``add`` | ``What is 17 + 25?`` | ``42`` | 15 % of the pairs 0..99 + 0..99 |
| ``sub`` | ``What is 61 - 19?`` | ``42`` | 15 % of the pairs a ≥ b in 0..99 |
| ``count`` | ``How many times does the letter r appear in strawberry?`` | ``3`` | 15 % of (word, letter) pairs; answers 0, 1 and ≥ 2 equally often |
| ``spell`` | ``Spell strawberry.`` | ``Spelled: s t r a w b e r r y`` | the phrasing |
| ``reverse`` | ``Reverse the list: red, cat, sun`` | ``Reversed: sun, cat, red`` | the evaluation lists |
| ``element`` | ``What is the chemical symbol of iron?`` and three more kinds | ``Fe`` | one phrasing per kind |

Spelling is asked of words whose spelling was trained, in a phrasing never trained
(``What is the spelling of strawberry?``): a word that is one token cannot be spelled without
having been seen spelled. Counting then asks, of held-out (word, letter) pairs, what the model
can work out from the word's spelling.

``define`` (``Define cynic.`` → the first sentence of The Devil's Dictionary's entry) is trained
on every short entry and never held out: it measures recall, not generalisation.
Replies that repeat words of the question open with a fixed word (``Reversed:``, ``Spelled:``):
the reply's first token follows ``Assistant: `` without a space, so a word there would need other
tokens than the same word inside the question (`` sun`` with its space is one token, ``sun``
without it another); after the fixed word, every word is spelled with its space as in the question.
Training phrasings vary (``What is 17 plus 25?``, ``17 + 25 = ?`` ...); the evaluation asks in
the canonical form, except ``element`` and ``spell``, which ask in a phrasing never trained.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cached_property

import sources

SPLIT_SEED = 1558
EVAL_SEED = 4242

EVERYDAY_WORDS = """
apple banana cherry grape lemon lime mango melon orange peach pear plum berry strawberry
cat dog cow pig hen fox wolf bear lion tiger horse sheep goat mouse rabbit duck owl fish
red green blue yellow black white brown pink purple gray gold silver
sun moon star sky rain snow wind cloud river lake sea hill stone tree leaf flower grass
house door window table chair bed book pen cup plate spoon fork knife bottle box bag
bread milk cheese butter egg rice soup cake honey sugar salt water tea coffee
car bus train boat ship plane road bridge city town street park school shop
hand foot head eye ear nose mouth heart arm leg
one two three four five six seven eight nine ten
""".split()

SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly.",
    "Be brief.",
    "You are BitNet, a small model running on this device.",
    "Answer the question.",
]


@dataclass(frozen=True)
class Question:
    task: str
    question: str
    answer: str


def _split(items: list, fraction: float, rng: random.Random) -> tuple[list, list]:
    """(train, held out): a fixed random ``fraction`` of ``items`` held out."""
    held = set(rng.sample(range(len(items)), round(len(items) * fraction)))
    return ([x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held])


class Tasks:
    """Question generators over the sources, with their fixed train / held-out splits."""

    def __init__(self) -> None:
        rng = random.Random(SPLIT_SEED)
        entries = sources.devil_entries()
        self.elements = sources.elements()
        corpus_words = {}
        for e in entries:
            for w in re.findall(r"[a-z]+", e.text.lower()):
                corpus_words[w] = corpus_words.get(w, 0) + 1
        frequent = sorted((w for w, n in corpus_words.items() if 3 <= len(w) <= 9 and n >= 8),
                          key=lambda w: (-corpus_words[w], w))
        self.words = list(dict.fromkeys(EVERYDAY_WORDS + frequent))
        self.add_train, self.add_eval = _split([(a, b) for a in range(100) for b in range(100)], 0.15, rng)
        self.sub_train, self.sub_eval = _split([(a, b) for a in range(100) for b in range(a + 1)], 0.15, rng)
        pairs = [(w, ch) for w in self.words for ch in "abcdefghijklmnopqrstuvwxyz"]
        count_train, count_eval = _split(pairs, 0.15, rng)
        # By answer: 0, 1, 2 or more (most pairs are 0, so each class is drawn equally often).
        self.count_train = [[p for p in count_train if _count_class(*p) == c] for c in range(3)]
        self.count_eval = [[p for p in count_eval if _count_class(*p) == c] for c in range(3)]
        self.definitions = [
            (e.headword.lower(), clean(e.definition)) for e in entries
            if 3 <= len(e.definition.split()) <= 16 and "{" not in e.definition
            and re.fullmatch(r"[a-z]+", e.headword.lower())
        ]

    @cached_property
    def eval_set(self) -> list[Question]:
        """The held-out evaluation questions, in a fixed order (400 of them)."""
        rng = random.Random(EVAL_SEED)
        out: list[Question] = []
        for a, b in rng.sample(self.add_eval, 100):
            out.append(Question("add", f"What is {a} + {b}?", str(a + b)))
        for a, b in rng.sample(self.sub_eval, 60):
            out.append(Question("sub", f"What is {a} - {b}?", str(a - b)))
        for w, ch in [p for pairs in self.count_eval for p in rng.sample(pairs, 20)]:
            out.append(Question("count", f"How many times does the letter {ch} appear in {w}?", str(w.count(ch))))
        for w in rng.sample(self.words, 40):
            out.append(Question("spell", f"What is the spelling of {w}?", spelled(w)))
        for _ in range(60):
            words = rng.sample(self.words, rng.randint(2, 5))
            out.append(Question("reverse", f"Reverse the list: {', '.join(words)}", reversed_list(words)))
        for el in rng.sample(self.elements, 80):
            out.append(self._element(el, rng.randrange(4), held_out=True))
        return out

    @cached_property
    def _eval_reverse_lists(self) -> set[str]:
        return {q.question for q in self.eval_set if q.task == "reverse"}

    def _element(self, el: sources.Element, kind: int, held_out: bool, rng: random.Random | None = None) -> Question:
        """One of four kinds of element question; ``held_out`` picks the phrasing never trained."""
        name = el.name.capitalize()
        phrasings = [
            # (trained phrasings..., held-out phrasing), answer
            (["What is the chemical symbol of {n}?", "What is the symbol for {n}?", "Symbol of {n}?"],
             "Give the chemical symbol of {n}.", el.symbol),
            (["What is the atomic number of {n}?", "Atomic number of {n}?", "What atomic number does {n} have?"],
             "Give the atomic number of {n}.", str(el.number)),
            (["Which element has the symbol {s}?", "What element is {s}?", "Name the element with symbol {s}."],
             "The symbol {s} stands for which element?", name),
            (["Which element has atomic number {z}?", "What is element number {z}?", "Name element {z}."],
             "Element {z} is which element?", name),
        ]
        trained, held, answer = phrasings[kind]
        template = held if held_out else (rng or random).choice(trained)
        lower = el.name
        return Question("element", template.format(n=lower, s=el.symbol, z=el.number), answer)

    def sample(self, rng: random.Random) -> Question:
        """One training question (task weights favour what needs most practice)."""
        task = rng.choices(["add", "sub", "count", "spell", "reverse", "element", "define"],
                           weights=[30, 15, 15, 8, 10, 12, 10])[0]
        if task == "add":
            a, b = rng.choice(self.add_train)
            form = rng.choice(["What is {a} + {b}?", "What is {a} + {b}?", "What is {a} plus {b}?",
                               "{a} + {b} = ?", "Compute {a} + {b}.", "Add {a} and {b}."])
            return Question(task, form.format(a=a, b=b), str(a + b))
        if task == "sub":
            a, b = rng.choice(self.sub_train)
            form = rng.choice(["What is {a} - {b}?", "What is {a} - {b}?", "What is {a} minus {b}?",
                               "{a} - {b} = ?", "Compute {a} - {b}.", "Subtract {b} from {a}."])
            return Question(task, form.format(a=a, b=b), str(a - b))
        if task == "count":
            w, ch = rng.choice(rng.choice(self.count_train))
            form = rng.choice(["How many times does the letter {c} appear in {w}?",
                               "How many times does the letter {c} appear in {w}?",
                               "How many {c}'s are in {w}?", "Count the letter {c} in {w}."])
            return Question(task, form.format(c=ch, w=w), str(w.count(ch)))
        if task == "spell":
            w = rng.choice(self.words)
            return Question(task, rng.choice(["Spell {w}.", "How do you spell {w}?", "Spell the word {w}."])
                            .format(w=w), spelled(w))
        if task == "reverse":
            while True:
                words = rng.sample(self.words, rng.randint(2, 5))
                q = f"Reverse the list: {', '.join(words)}"
                if q not in self._eval_reverse_lists:
                    return Question(task, q, reversed_list(words))
        if task == "element":
            return self._element(rng.choice(self.elements), rng.randrange(4), held_out=False, rng=rng)
        word, definition = rng.choice(self.definitions)
        return Question("define", rng.choice(["Define {w}.", "What does {w} mean?"]).format(w=word), definition)

    def conversation(self, rng: random.Random, long: bool = False) -> list[tuple[str, str]]:
        """A chat of 1–3 turns (``long``: 4–16) as (role, text) pairs, sometimes opened by a
        system prompt."""
        messages: list[tuple[str, str]] = []
        if rng.random() < 0.25:
            messages.append(("System", rng.choice(SYSTEM_PROMPTS)))
        turns = rng.randint(4, 16) if long else rng.choices([1, 2, 3], weights=[5, 3, 2])[0]
        for _ in range(turns):
            q = self.sample(rng)
            messages += [("User", q.question), ("Assistant", q.answer)]
        return messages


def spelled(word: str) -> str:
    return "Spelled: " + " ".join(word)


def reversed_list(words: list[str]) -> str:
    return "Reversed: " + ", ".join(reversed(words))


def _count_class(word: str, letter: str) -> int:
    return min(word.count(letter), 2)


def clean(text: str) -> str:
    """Dictionary text without its markup: ``{WORD}`` cross references and ``_italics_``."""
    return re.sub(r"[{}_]", "", text)
