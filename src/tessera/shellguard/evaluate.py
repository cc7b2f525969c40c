"""Scores of every system on the gold splits, and the baselines they are compared with.

Systems (same splits, one report): `rules` (the engine alone), `tfidf-lr`
(character TF-IDF + logistic regression on the weakly labelled corpora),
`minilm-frozen-lr` (frozen MiniLM mean-pooled features + logistic
regression, same data), `minilm-ft` (the fine-tuned model alone) and
`rules+model` (the shipped combination: rules own the floor, the model may
raise it). Metrics follow the issue's "Must show": BLOCKED recall, BLOCKED
predicted SAFE/LOW, SAFE+LOW refused (predicted BLOCKED), 4- and 3-class
macro-F1, macro-F1 per shell, variants that keep their level, mentions
flagged RISKY or higher.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tessera.shellguard.gold import GoldRow
from tessera.shellguard.levels import Level


def macro_f1(gold: Sequence[int], pred: Sequence[int], labels: Sequence[int]) -> float:
    f1s = []
    for c in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def score(rows: Sequence[GoldRow], pred: Sequence[Level]) -> dict[str, Any]:
    """Every "Must show" metric for one system's predictions on `rows`."""
    gold = [int(r.level) for r in rows]
    p = [int(x) for x in pred]
    three = {0: 0, 1: 0, 2: 2, 3: 3}
    blocked = [i for i, g in enumerate(gold) if g == Level.BLOCKED]
    benign = [i for i, g in enumerate(gold) if g <= Level.LOW]
    variants = [i for i, r in enumerate(rows) if r.kind == "variant"]
    mentions = [i for i, r in enumerate(rows) if r.kind == "mention"]
    out: dict[str, Any] = {
        "n": len(rows),
        "accuracy": _ratio(sum(1 for g, q in zip(gold, p, strict=True) if g == q), len(rows)),
        "macro_f1_4": round(macro_f1(gold, p, [0, 1, 2, 3]), 4),
        "macro_f1_3": round(
            macro_f1([three[g] for g in gold], [three[q] for q in p], [0, 2, 3]), 4
        ),
        "blocked_recall": _ratio(sum(1 for i in blocked if p[i] == 3), len(blocked)),
        "blocked_as_safe_low": _ratio(sum(1 for i in blocked if p[i] <= 1), len(blocked)),
        "benign_refused": _ratio(sum(1 for i in benign if p[i] == 3), len(benign)),
        "variants_keep_level": _ratio(sum(1 for i in variants if p[i] == gold[i]), len(variants)),
        "mentions_flagged": _ratio(sum(1 for i in mentions if p[i] >= 2), len(mentions)),
    }
    for shell in ("bash", "powershell", "cmd"):
        idx = [i for i, r in enumerate(rows) if r.shell == shell]
        if idx:
            out[f"macro_f1_4_{shell}"] = round(
                macro_f1([gold[i] for i in idx], [p[i] for i in idx], [0, 1, 2, 3]), 4
            )
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


#: The "Must show" metrics in report order (the CLI, the experiment and the benchmark print these).
METRIC_KEYS = (
    "macro_f1_4",
    "macro_f1_3",
    "blocked_recall",
    "blocked_as_safe_low",
    "benign_refused",
    "macro_f1_4_bash",
    "macro_f1_4_powershell",
    "variants_keep_level",
    "mentions_flagged",
)

GOALS: dict[str, tuple[str, float]] = {
    "blocked_recall": (">=", 0.95),
    "blocked_as_safe_low": ("<=", 0.01),
    "benign_refused": ("<=", 0.01),
    "macro_f1_4": (">=", 0.80),
    "macro_f1_3": (">=", 0.85),
    "variants_keep_level": (">=", 0.90),
    "mentions_flagged": ("<=", 0.05),
}


def goals(s: dict[str, Any]) -> dict[str, bool]:
    """Which "Must show" thresholds a system's scores meet (PowerShell within 0.05 of Bash included)."""
    out = {}
    for k, (op, v) in GOALS.items():
        x = s.get(k)
        out[k] = x is not None and (x >= v if op == ">=" else x <= v)
    b, ps = s.get("macro_f1_4_bash"), s.get("macro_f1_4_powershell")
    out["powershell_vs_bash"] = b is not None and ps is not None and abs(b - ps) <= 0.05
    return out


# ---------------------------------------------------------------- baselines


def rules_predict(rows: Sequence[GoldRow]) -> list[Level]:
    from tessera.shellguard.rules import assess

    return [assess(r.command, r.shell).level for r in rows]


def fit_tfidf(examples: Sequence[Any]) -> Callable[[Sequence[GoldRow]], list[Level]]:
    """Character TF-IDF (2-5 grams, word-bounded) + logistic regression on raw command text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=200_000, sublinear_tf=True
    )
    x = vec.fit_transform([f"{e.shell}: {e.command}" for e in examples])
    lr = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced")
    lr.fit(x, [int(e.level) for e in examples], sample_weight=[e.weight for e in examples])

    def predict(rows: Sequence[GoldRow]) -> list[Level]:
        return [
            Level(int(v))
            for v in lr.predict(vec.transform([f"{r.shell}: {r.command}" for r in rows]))
        ]

    return predict


def fit_frozen(clf: Any, examples: Sequence[Any]) -> Callable[[Sequence[GoldRow]], list[Level]]:
    """Frozen MiniLM (mean-pooled, on the shell-aware text) + logistic regression."""
    from sklearn.linear_model import LogisticRegression

    from tessera.shellguard.tokenize import command_text

    feats = clf.embed_pooled([command_text(e.command, e.shell) for e in examples])
    lr = LogisticRegression(max_iter=3000, C=2.0, class_weight="balanced")
    lr.fit(feats, [int(e.level) for e in examples], sample_weight=[e.weight for e in examples])

    def predict(rows: Sequence[GoldRow]) -> list[Level]:
        f = clf.embed_pooled([command_text(r.command, r.shell) for r in rows])
        return [Level(int(v)) for v in lr.predict(f)]

    return predict


def model_predict(clf: Any, rows: Sequence[GoldRow]) -> tuple[list[Level], list[Level]]:
    """(fine-tuned model alone, rules+model) predictions."""
    from tessera.shellguard.rules import assess
    from tessera.shellguard.tokenize import command_text
    from tessera.shellguard.train import combine

    probs = clf.predict([command_text(r.command, r.shell) for r in rows])
    alone = [Level(int(p.argmax())) for p in probs]
    th = clf.meta.thresholds if clf.meta else None
    verdicts = [assess(r.command, r.shell) for r in rows]
    both = [
        combine(v.level, p, th, v.inert, v.known)[0] for v, p in zip(verdicts, probs, strict=True)
    ]
    return alone, both


def latency(
    fn: Callable[[str, str], Any], rows: Sequence[GoldRow], repeat: int = 1
) -> dict[str, float]:
    """Per-command latency (ms) of `fn(command, shell)`, one call at a time."""
    import numpy as np

    ts = []
    for _ in range(repeat):
        for r in rows:
            t0 = time.perf_counter()
            fn(r.command, r.shell)
            ts.append((time.perf_counter() - t0) * 1e3)
    a = np.array(ts)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "n": len(ts),
    }
