"""The redistributable texts the demo model learns from, fetched from Debian's registry.

- ``dict-devil`` 1.0-13.1: Ambrose Bierce, *The Devil's Dictionary* (1911), public domain
  ("A Public Domain Text, Copyright Expired", the package's copyright file). Its entries are the
  model's prose.
- ``dict-elements`` 20001107-a-9.1: Jay F. Kominek's elements database, placed in the public
  domain by its author. Only the facts are used (name, symbol, atomic number of elements 1–103);
  its prose is not (the superheavy elements' texts were copied from elsewhere).

Each package is downloaded from the Debian archive (any machine, no apt needed) and checked
against its SHA-256 before use, so every machine trains on the same bytes. Downloads are cached in
``$XDG_CACHE_HOME/bitnet-sdk/demo-model`` (default ``~/.cache/...``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {
    "dict-devil": ("1.0-13.1", "6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154",
                   "./usr/share/dictd/devil.dict.dz"),
    "dict-elements": ("20001107-a-9.1", "c840ae31017fca01e2d56e178b8d18ade279d24f41d7a285c6150a233f730ffa",
                      "./usr/share/dictd/elements.dict.dz"),
}
"""Package → (version, SHA-256 of the .deb, the member holding the text)."""

ARCHIVE = "http://deb.debian.org/debian/pool/main"
"""Where the packages are fetched from (their integrity comes from the SHA-256, not the transport)."""
LAST_ELEMENT = 103
"""Elements 1..103 (hydrogen to lawrencium): names settled before the database was written."""


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    path = root / "bitnet-sdk" / "demo-model"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _deb_path(package: str) -> Path:
    """The verified .deb of ``package``, downloaded from the archive if not cached."""
    version, sha256, _ = PACKAGES[package]
    name = f"{package}_{version}_all.deb"
    path = cache_dir() / name
    if not path.is_file():
        url = f"{ARCHIVE}/{package[0]}/{package}/{name}"
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.rename(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        path.unlink()
        raise RuntimeError(f"{package} {version}: SHA-256 {digest}, expected {sha256}")
    return path


def _deb_member(deb: Path, member: str) -> bytes:
    """One file of a .deb (an ar archive holding data.tar.xz), without dpkg."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise RuntimeError(f"{deb} is not an ar archive")
    pos = 8
    while pos + 60 <= len(raw):
        name = raw[pos:pos + 16].decode().strip().rstrip("/")
        size = int(raw[pos + 48:pos + 58].decode().strip())
        body = raw[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            data = lzma.decompress(body) if name.endswith(".xz") else body
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                extracted = tar.extractfile(member)
                if extracted is None:
                    break
                return extracted.read()
    raise RuntimeError(f"{deb}: no {member}")


def _dict_text(package: str) -> str:
    """The plain text of a dictd database (dictzip is gzip-compatible)."""
    _, _, member = PACKAGES[package]
    return gzip.decompress(_deb_member(_deb_path(package), member)).decode("latin-1")


@dataclass(frozen=True)
class Entry:
    """One entry of The Devil's Dictionary."""

    headword: str
    """As printed, e.g. ``ACCORDION``."""
    text: str
    """The whole entry, headword line included, paragraphs separated by blank lines."""
    definition: str
    """The first sentence after the part of speech, e.g. ``An instrument in harmony ...``."""


@dataclass(frozen=True)
class Element:
    number: int
    name: str
    symbol: str


def devil_entries() -> list[Entry]:
    """The dictionary's entries in order (the dictd header and index letters dropped)."""
    text = _dict_text("dict-devil").replace("\r", "")
    start = text.index("\nABASEMENT, ")  # the first entry; before it: the preface
    body = text[start + 1:]
    entries: list[Entry] = []
    head = re.compile(r"^([A-Z][A-Z' -]*[A-Z]|[A-Z]), ([a-z.]+(?: and [a-z.]+)?)\s+(.*)$")
    current: list[str] = []

    def flush() -> None:
        if not current:
            return
        block = "\n".join(current).strip()
        m = head.match(block.split("\n", 1)[0])
        if m is None:
            return
        first = " ".join(block.split())
        after = first.split(", ", 1)[1]
        after = after.split(None, 1)[1] if " " in after else ""
        sentence = re.split(r"(?<=[.!?])\s", after, maxsplit=1)[0]
        entries.append(Entry(headword=m.group(1), text=block, definition=sentence))

    for line in body.split("\n"):
        if line.strip() == "abcdefghijklmnopqrstuvwxyz":
            break
        if head.match(line) and (not current or current[-1].strip() == ""):
            flush()
            current = []
        current.append(line.rstrip())
    flush()
    return entries


def elements() -> list[Element]:
    """Elements 1..LAST_ELEMENT from the elements database."""
    text = _dict_text("dict-elements")
    found = {}
    for name, symbol, number in re.findall(r"\n\n(\w+)\nSymbol: (\w+)\nAtomic number: (\d+)", text):
        n = int(number)
        if 1 <= n <= LAST_ELEMENT and n not in found:
            found[n] = Element(n, name.lower(), symbol)
    missing = sorted(set(range(1, LAST_ELEMENT + 1)) - set(found))
    if missing:
        raise RuntimeError(f"elements database lacks atomic numbers {missing}")
    return [found[n] for n in sorted(found)]
