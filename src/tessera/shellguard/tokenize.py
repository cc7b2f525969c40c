"""Shell-aware pre-tokenisation and a WordPiece tokenizer for the MiniLM backbone.

The model does not read the raw line. `model_text` renders what the parser
says would execute: one segment per invocation, wrappers and privilege made
explicit (`[sudo]`), combined short flags split (`-rf` -> `-r -f`), long
options kept whole, paths cut at separators so `/etc/shadow` and `./build`
become words the backbone knows, and text that is only printed or searched
for (`echo`, `grep`, `Write-Host`...) replaced by a marker. Mentions thus look
alike to the model however dangerous their text.

`WordPiece` is the BERT uncased algorithm (lower-case, split punctuation,
greedy longest match with `##` continuations) over the backbone's vocab.txt.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from tessera.shellguard.parse import Invocation, Parsed, parse

#: Commands whose arguments are data, not code: their text is replaced by a marker.
INERT_ARGS = {
    "echo",
    "printf",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ack",
    "man",
    "info",
    "tldr",
    "apropos",
    "whatis",
    "type",
    "which",
    "write-host",
    "write-output",
    "write-warning",
    "write-verbose",
    "write-information",
    "write-debug",
    "select-string",
    "findstr",
    "get-help",
    "logger",
    "wall",
    "notify-send",
    "say",
    "espeak",
    "figlet",
    "cowsay",
    "awk",
    "jq",
    "yq",
    "git-grep",
    ":",
}
_MAX_SEGMENTS = 8
_MAX_ARGS = 24


def _split_arg(a: str) -> str:
    if re.fullmatch(r"-[A-Za-z]{2,6}", a) and a.islower():
        return " ".join("-" + c for c in a[1:])
    a = a.replace("\\", " \\ ")
    return re.sub(r"(?<=[A-Za-z0-9])/(?=[A-Za-z0-9.*~])", " / ", a)


def render_invocation(inv: Invocation) -> str:
    parts: list[str] = []
    if inv.privileged:
        parts.append("[sudo]")
    if inv.remote:
        parts.append("[remote]")
    if inv.via:
        parts.append(f"[{inv.via.split()[0]}]")
    parts.append(inv.name)
    if inv.name in INERT_ARGS and inv.name != "awk":
        flags = [a for a in inv.args if a.startswith("-")][:4]
        parts.extend(flags)
        if len(flags) < len(inv.args):
            parts.append("[text]")
    else:
        for a in inv.args[:_MAX_ARGS]:
            parts.append(_split_arg(a[:80]))
    for op, target in inv.redirects[:3]:
        parts.append(op)
        parts.append(_split_arg(target[:60]))
    if inv.upstream:
        parts.insert(0, "[pipe " + " ".join(inv.upstream[-2:]) + "]")
    return " ".join(parts)


def model_text(parsed: Parsed) -> str:
    """The text the classifier reads for one parsed command."""
    segs = [render_invocation(i) for i in parsed.invocations[:_MAX_SEGMENTS]]
    head = f"{parsed.shell}:"
    if parsed.fork_bomb:
        segs.insert(0, "[fork-bomb]")
    if parsed.undecodable:
        segs.insert(0, "[undecodable]")
    if not segs:
        return head + " [empty] " + parsed.command[:120]
    return head + " " + " ; ".join(segs)


def command_text(command: str, shell: str) -> str:
    return model_text(parse(command, shell))


class WordPiece:
    """BERT uncased tokenisation over a vocab.txt."""

    def __init__(self, vocab_path: Path, max_len: int = 64) -> None:
        words = vocab_path.read_text(encoding="utf-8").split("\n")
        self.vocab = {w: i for i, w in enumerate(words) if w}
        self.max_len = max_len
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]
        self.unk = self.vocab["[UNK]"]
        self.pad = self.vocab["[PAD]"]
        self._cache = lru_cache(maxsize=65536)(self._word)

    @staticmethod
    def basic(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out: list[str] = []
        for w in text.split():
            cur = ""
            for ch in w:
                cat = unicodedata.category(ch)
                if cat.startswith("P") or (
                    33 <= ord(ch) <= 47
                    or 58 <= ord(ch) <= 64
                    or 91 <= ord(ch) <= 96
                    or 123 <= ord(ch) <= 126
                ):
                    if cur:
                        out.append(cur)
                        cur = ""
                    out.append(ch)
                elif cat.startswith("C"):
                    continue
                else:
                    cur += ch
            if cur:
                out.append(cur)
        return out

    def _word(self, w: str) -> tuple[int, ...]:
        if len(w) > 100:
            return (self.unk,)
        ids: list[int] = []
        start = 0
        while start < len(w):
            end = len(w)
            found = None
            while start < end:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return (self.unk,)
            ids.append(found)
            start = end
        return tuple(ids)

    def encode(self, text: str) -> list[int]:
        ids = [self.cls]
        for w in self.basic(text):
            ids.extend(self._cache(w))
            if len(ids) >= self.max_len - 1:
                ids = ids[: self.max_len - 1]
                break
        ids.append(self.sep)
        return ids

    def batch(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        enc = [self.encode(t) for t in texts]
        n = max(len(e) for e in enc)
        ids = [e + [self.pad] * (n - len(e)) for e in enc]
        mask = [[1] * len(e) + [0] * (n - len(e)) for e in enc]
        return ids, mask
