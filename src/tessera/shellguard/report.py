"""One evaluation of every system on one gold split: what `tessera guard eval` and the experiment show."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tessera.shellguard import gold
from tessera.shellguard.evaluate import (
    fit_frozen,
    fit_tfidf,
    goals,
    latency,
    model_predict,
    rules_predict,
    score,
)

SYSTEMS = ("rules", "tfidf-lr", "minilm-frozen-lr", "minilm-ft", "rules+model")


def run_eval(
    split: str = "test",
    systems: list[str] | None = None,
    log: Callable[[str], None] = print,
    per_class: int = 6000,
    frozen_per_class: int = 1500,
    latency_rows: int = 300,
) -> dict[str, Any]:
    """Scores (and per-command latency) of the chosen systems on one split of the gold set."""
    from tessera.core.errors import InputError

    chosen = list(SYSTEMS if systems is None else systems)
    if not chosen:
        raise InputError("--systems", "", "one or more of " + ", ".join(SYSTEMS))
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown:
        raise InputError("systems", unknown, ", ".join(SYSTEMS))
    rows = gold.load(split)
    res: dict[str, Any] = {
        "split": split,
        "n": len(rows),
        "systems": {},
        "goals": {},
        "latency": {},
        "notes": [],
    }
    t0 = time.monotonic()
    if "rules" in chosen:
        res["systems"]["rules"] = score(rows, rules_predict(rows))
        from tessera.shellguard.rules import assess

        res["latency"]["rules"] = latency(lambda c, s: assess(c, s), rows[:latency_rows])
    need_corpus = [s for s in chosen if s in ("tfidf-lr", "minilm-frozen-lr")]
    examples = None
    if need_corpus:
        from tessera.shellguard.dataset import build, commands_dir
        from tessera.shellguard.train import sample

        if commands_dir() is None:
            res["notes"].append(
                "tfidf-lr and minilm-frozen-lr skipped: the command corpora are not here"
            )
        else:
            log("building the weakly labelled corpus for the baselines ...")
            examples = build()
            if "tfidf-lr" in chosen:
                log("fitting char-TF-IDF + logistic regression ...")
                res["systems"]["tfidf-lr"] = score(
                    rows, fit_tfidf(sample(examples, per_class, 0))(rows)
                )
    clf = None
    if any(s in chosen for s in ("minilm-frozen-lr", "minilm-ft", "rules+model")):
        from tessera.shellguard.guard import Guard

        g = Guard("auto")
        clf = g.model()
        if clf is None:
            res["notes"].append(f"model systems skipped: {g.why_no_model}")
    if clf is not None:
        if "minilm-frozen-lr" in chosen and examples is not None:
            from tessera.shellguard.model import Classifier
            from tessera.shellguard.train import sample

            log("fitting frozen MiniLM + logistic regression ...")
            frozen = Classifier(tuned_layers=1, max_len=clf.max_len)
            frozen.attach_backbone()
            res["systems"]["minilm-frozen-lr"] = score(
                rows, fit_frozen(frozen, sample(examples, frozen_per_class, 0))(rows)
            )
        if "minilm-ft" in chosen or "rules+model" in chosen:
            log("running the fine-tuned model ...")
            alone, both = model_predict(clf, rows)
            if "minilm-ft" in chosen:
                res["systems"]["minilm-ft"] = score(rows, alone)
            if "rules+model" in chosen:
                res["systems"]["rules+model"] = score(rows, both)
            res["latency"]["rules+model"] = latency(lambda c, s: g.check(c, s), rows[:latency_rows])
            res["model"] = {
                "thresholds": clf.meta.thresholds if clf.meta else None,
                "trained": clf.meta.trained if clf.meta else {},
            }
    res["goals"] = {name: goals(s) for name, s in res["systems"].items()}
    res["seconds"] = round(time.monotonic() - t0, 1)
    return res
