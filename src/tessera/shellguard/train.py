"""`tessera guard train`: fine-tune the top MiniLM layers on the weakly labelled corpora.

Reproduces the shipped artifact on 2 CPU cores: the dataset is rebuilt from
the corpora (deterministic for a seed), subsampled per class (the rare
classes kept whole, variants included), then the top `tuned_layers` encoder
layers and the head are trained with class-weighted, confidence-weighted
cross-entropy for a fixed number of steps under a wall-clock budget. Batches
are bucketed by length. The raise threshold (how sure the model must be to
raise a rule verdict) is set on the gold *dev* split so that at most 1% of
SAFE+LOW commands are refused; the test split is never read here.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.shellguard.dataset import Example, build
from tessera.shellguard.levels import Level
from tessera.shellguard.model import ARTIFACT_DIR, Classifier, ModelMeta
from tessera.shellguard.tokenize import command_text


@dataclass
class TrainConfig:
    seed: int = 0
    per_class: int = 9000  # at most this many corpus examples of each level
    steps: int = 1400
    batch: int = 32
    lr: float = 6e-5
    head_lr: float = 2e-3
    tuned_layers: int = 2
    max_len: int = 64
    budget_s: float = 50 * 60
    threads: int = 2
    num_layers: int = 6  # fewer only for the tiny CI fixture
    vocab_size: int = 30522  # smaller only for the tiny CI fixture


def sample(examples: list[Example], per_class: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    by: dict[Level, list[Example]] = {}
    for e in examples:
        by.setdefault(e.level, []).append(e)
    out: list[Example] = []
    for _lv, rows in sorted(by.items()):
        rng.shuffle(rows)
        out.extend(rows[:per_class])
    rng.shuffle(out)
    return out


def gold_examples(rows: list[Any], weight: float = 2.0, seed: int = 0) -> list[Example]:
    """Hand-labelled rows (and label-preserving variants of them) as training examples."""
    from tessera.shellguard.dataset import variants

    rng = random.Random(seed)
    out = []
    for r in rows:
        out.append(Example(r.command, r.shell, r.level, weight, "gold-dev"))
        for v in variants(r.command, r.shell, rng)[:2]:
            out.append(Example(v, r.shell, r.level, weight / 2, "gold-variant"))
    return out


def calibration_split(rows: list[Any], share: float = 0.25) -> tuple[list[Any], list[Any]]:
    """Dev rows -> (train part, calibration part): the raise threshold is set on rows the model never saw."""
    import hashlib

    train_rows: list[Any] = []
    calib: list[Any] = []
    for r in rows:
        key = (r.group or r.command) + "#calib"
        h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (calib if h < share else train_rows).append(r)
    return train_rows, calib


def train(
    cfg: TrainConfig,
    out_dir: Path = ARTIFACT_DIR,
    examples: list[Example] | None = None,
    dev: list[tuple[str, str, Level]] | None = None,
    backbone: Path | None = None,
    log: Callable[[str], None] = print,
    labelled: list[Example] | None = None,
) -> dict[str, Any]:
    import numpy as np
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    t0 = time.monotonic()
    if examples is None:
        log("building the weakly labelled dataset from the corpora ...")
        examples = build(seed=cfg.seed)
    data = sample(examples, cfg.per_class, cfg.seed) + list(labelled or [])
    counts = Counter(e.level for e in data)
    log(
        f"training on {len(data)} examples: " + ", ".join(f"{lv.name} {counts[lv]}" for lv in Level)
    )
    clf = Classifier(
        cfg.tuned_layers, cfg.max_len, num_layers=cfg.num_layers, vocab_size=cfg.vocab_size
    )
    sha = clf.attach_backbone(backbone)
    assert clf.tokenizer is not None
    texts = [command_text(e.command, e.shell) for e in data]
    enc = [clf.tokenizer.encode(t) for t in texts]
    labels = [int(e.level) for e in data]
    weights = [e.weight for e in data]
    freq = np.array([max(1, counts[lv]) for lv in Level], dtype="float64")
    cw = torch.tensor(
        (freq.sum() / freq) ** 0.5 / ((freq.sum() / freq) ** 0.5).mean(), dtype=torch.float32
    )
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    batches = [order[i : i + cfg.batch] for i in range(0, len(order), cfg.batch)]
    rng = random.Random(cfg.seed)
    n = len(clf.encoder.layers)
    tuned = [p for layer in clf.encoder.layers[n - cfg.tuned_layers :] for p in layer.parameters()]
    head = list(clf.head.parameters())
    params: list[dict[str, Any]] = [
        {"params": head, "lr": cfg.head_lr},
        {"params": tuned, "lr": cfg.lr},
    ]
    for p in clf.encoder.parameters():
        p.requires_grad_(False)
    for p in head + tuned:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    base_lrs = [g["lr"] for g in opt.param_groups]
    warm = max(1, cfg.steps // 20)
    clf.encoder.train()
    for layer in clf.encoder.layers[: n - cfg.tuned_layers]:
        layer.eval()
    step = 0
    losses: list[float] = []
    pad = clf.tokenizer.pad
    stopped = "steps"
    while step < cfg.steps:
        rng.shuffle(batches)
        for b in batches:
            if step >= cfg.steps:
                break
            if time.monotonic() - t0 > cfg.budget_s:
                stopped = "budget"
                break
            frac = step / cfg.steps
            scale = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * frac))
            for g, base in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = base * scale
            m = max(len(enc[i]) for i in b)
            ids = torch.tensor([enc[i] + [pad] * (m - len(enc[i])) for i in b])
            mask = torch.tensor([[1] * len(enc[i]) + [0] * (m - len(enc[i])) for i in b])
            y = torch.tensor([labels[i] for i in b])
            w = torch.tensor([weights[i] for i in b], dtype=torch.float32)
            logits = clf.logits(ids, mask)
            loss = (
                torch.nn.functional.cross_entropy(logits, y, weight=cw, reduction="none") * w
            ).mean()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(head + tuned, 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
            if step % 50 == 0 or step == cfg.steps:
                el = time.monotonic() - t0
                log(
                    f"  step {step}/{cfg.steps}  loss {np.mean(losses[-50:]):.3f}  {el:.0f}s elapsed"
                )
        if stopped == "budget":
            break
    clf.encoder.eval()
    thresholds = dict(DEFAULT_THRESHOLDS)
    dev_report: dict[str, Any] = {}
    if dev:
        thresholds, dev_report = tune_threshold(clf, dev)
        log(f"raise thresholds {thresholds} (calibration rows: {dev_report})")
    meta = ModelMeta(
        cfg.tuned_layers,
        cfg.max_len,
        sha,
        thresholds=thresholds,
        trained={
            "seed": cfg.seed,
            "steps": step,
            "stopped": stopped,
            "examples": len(data),
            "per_class": cfg.per_class,
            "class_counts": {lv.name: counts[lv] for lv in Level},
            "seconds": round(time.monotonic() - t0, 1),
            "threads": cfg.threads,
            "final_loss": round(float(np.mean(losses[-50:])) if losses else 0.0, 4),
            "num_layers": cfg.num_layers,
            "vocab_size": cfg.vocab_size,
            "dev": dev_report,
            "lr": cfg.lr,
            "batch": cfg.batch,
        },
    )
    path = clf.save(out_dir, meta)
    log(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.0f}s")
    return meta.trained


DEFAULT_THRESHOLDS = {"LOW": 0.9, "RISKY": 0.9, "BLOCKED": 0.95}


def tune_threshold(
    clf: Classifier, dev: list[tuple[str, str, Level]]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-level raise thresholds from held-out dev rows.

    BLOCKED: the lowest threshold at which rules+model refuse at most 0.5% of the benign
    (SAFE+LOW) rows (half the goal, as margin for a small calibration set). RISKY, then
    LOW: the threshold that maximises 4-class macro-F1 with the stricter ones fixed.
    """
    from tessera.shellguard.evaluate import macro_f1
    from tessera.shellguard.rules import assess

    probs = clf.predict([command_text(c, s) for c, s, _ in dev])
    verdicts = [assess(c, s) for c, s, _ in dev]
    rule = [v.level for v in verdicts]
    inert = [v.inert for v in verdicts]
    known = [v.known for v in verdicts]
    gold = [int(g) for _, _, g in dev]
    grid = [x / 100 for x in range(50, 100)] + [0.995, 1.01]

    def predict(th: dict[str, float]) -> list[int]:
        return [
            int(combine(r, p, th, i, k)[0])
            for r, p, i, k in zip(rule, probs, inert, known, strict=True)
        ]

    th = {"LOW": 1.01, "RISKY": 1.01, "BLOCKED": 1.01}
    benign = [k for k, g in enumerate(gold) if g <= Level.LOW]
    for t in grid:
        pred = predict({**th, "BLOCKED": t})
        if sum(1 for k in benign if pred[k] == Level.BLOCKED) <= 0.005 * max(1, len(benign)):
            th["BLOCKED"] = t
            break
    for name in ("RISKY", "LOW"):
        best = max(grid, key=lambda t: (macro_f1(gold, predict({**th, name: t}), [0, 1, 2, 3]), t))
        th[name] = best
    pred = predict(th)
    acc = sum(1 for p, g in zip(pred, gold, strict=True) if p == g) / max(1, len(gold))
    return th, {
        "n": len(dev),
        "accuracy": round(acc, 4),
        "macro_f1_4": round(macro_f1(gold, pred, [0, 1, 2, 3]), 4),
    }


def combine(
    rule_level: Level,
    probs: Any,
    thresholds: dict[str, float] | None = None,
    inert: bool = False,
    known: bool = False,
) -> tuple[Level, float]:
    """Rules own the floor; the model may only raise it.

    It raises to a level when its probability of *at least* that level reaches the level's
    threshold. It never raises a command the parser found inert (only prints, searches or
    comments: a mention); it raises a command whose every tool the rules model by at most
    one level (the rules are precise where they know the tool; the model covers the rest);
    and it refuses (BLOCKED) only what the rules already found RISKY: where no rule saw a
    risk, its word alone may ask for approval (when P(at least RISKY) meets RISKY's
    threshold), not refuse (a wrong refusal is the costliest error; on the held-out
    calibration rows it never raised SAFE/LOW to BLOCKED anyway).
    Returns the level and the confidence that the level is right.
    """
    th = thresholds or DEFAULT_THRESHOLDS
    if not inert:
        for lv in (Level.BLOCKED, Level.RISKY, Level.LOW):
            if known and lv > rule_level + 1:
                continue
            at_least = float(probs[int(lv) :].sum())
            if lv == Level.BLOCKED and rule_level < Level.RISKY:
                # on what no rule found risky, a BLOCKED vote is a vote for RISKY: it asks
                # for approval only if it meets RISKY's own (calibrated) threshold
                continue
            if lv > rule_level and at_least >= th[lv.name]:
                return lv, at_least
    return rule_level, float(probs[int(rule_level) :].sum())
