"""Experiment `shellguard`: command risk classification on the hand-labelled test split.

Every system is scored on the same gold *test* split (never used for rules,
training or thresholds): the rule engine alone, char-TF-IDF + logistic
regression and frozen MiniLM + logistic regression (both trained on the
weakly labelled public corpora, when those are here), the fine-tuned MiniLM
alone and the shipped rules+model combination (when torch and the backbone
wheel are installed). Quick mode (the demo) skips the two baselines that need
the corpora; full mode (`tessera experiment shellguard --full`, also
`tessera guard eval`) runs them all.
"""

from __future__ import annotations

from typing import Any

from tessera.experiments.base import ExperimentResult, RunConfig, register


@register(
    "shellguard",
    "Shellguard: risk levels of Bash/PowerShell/cmd commands, rules vs learned models",
    "Parse-aware rules, char-TF-IDF+LR, frozen MiniLM+LR, fine-tuned MiniLM and rules+model "
    "on the same hand-labelled test split: BLOCKED recall, refusals, macro-F1, variants, "
    "mentions, latency.",
    order=110,
)
def run(cfg: RunConfig) -> ExperimentResult:
    from tessera.shellguard.evaluate import METRIC_KEYS as _KEYS
    from tessera.shellguard.report import SYSTEMS, run_eval

    systems = [s for s in SYSTEMS if not (cfg.quick and s in ("tfidf-lr", "minilm-frozen-lr"))]
    cfg.progress(0.05, "scoring the rule engine")
    res = run_eval("test", systems, log=lambda m: cfg.progress(0.5, m))
    policies: dict[str, dict[str, float]] = {}
    for name, s in res["systems"].items():
        policies[name] = {k: (float("nan") if s.get(k) is None else float(s[k])) for k in _KEYS}
        lat = res["latency"].get(name) or (
            res["latency"].get("rules+model") if name == "minilm-ft" else None
        )
        if lat:
            policies[name]["p95_ms"] = lat["p95_ms"]
    best = "rules+model" if "rules+model" in res["systems"] else "rules"
    s = res["systems"][best]
    met = res["goals"][best]
    lat = res["latency"].get(best, {})
    headline = (
        f"{best} on {res['n']} held-out commands: BLOCKED recall {s['blocked_recall']:.3f} "
        f"(goal >= 0.95), BLOCKED as SAFE/LOW {s['blocked_as_safe_low']:.3f} (<= 0.01), "
        f"SAFE+LOW refused {s['benign_refused']:.3f} (<= 0.01), macro-F1 {s['macro_f1_4']:.3f} "
        f"(4-class), {s['macro_f1_3']:.3f} (3-class); p95 {lat.get('p95_ms', float('nan')):.2f} ms; "
        f"goals met {sum(met.values())}/{len(met)}"
    )
    notes = [
        "Test split: 60% of the hand-labelled gold set (by a stable hash of the command or "
        "its variant group), written against the rubric in docs/shellguard.md from sources other "
        "than the training corpora and de-duplicated against them; the dev split (and the "
        "dev-only files) were used to write the rules, fine-tune and set the raise threshold.",
        "Goals per system: "
        + "; ".join(
            f"{n}: " + ", ".join(k for k, ok in g.items() if not ok) + " unmet"
            if not all(g.values())
            else f"{n}: all met"
            for n, g in res["goals"].items()
        ),
        *res["notes"],
    ]
    if cfg.quick:
        notes.append(
            "Quick mode: the two corpus-trained baselines run in full mode "
            "(`tessera experiment shellguard --full` or `tessera guard eval`)."
        )
    result = ExperimentResult(
        experiment="shellguard", policies=policies, meta=res, headline=headline, notes=notes
    )
    result.figures.append(("Per-system scores on the held-out test split", _bars(res)))
    return result


def _bars(res: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["blocked_recall", "macro_f1_4", "macro_f1_3", "variants_keep_level"]
    names = list(res["systems"])
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / max(1, len(names))
    for i, n in enumerate(names):
        vals = [res["systems"][n].get(k) or 0.0 for k in keys]
        ax.bar([k + i * width for k in range(len(keys))], vals, width, label=n)
    ax.axhline(0.95, color="grey", lw=0.8, ls="--")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], keys)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig
