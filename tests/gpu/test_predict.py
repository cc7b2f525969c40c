"""The GPU latency predictor and `tessera gpu predict`, on rows from a known latency law.

The law: T(sm) = host + work / sm (Amdahl), stretched by a time-slicing quota as a hard-ish
maximum with the time the quota leaves per window. The predictor must recover it where rows
are missing, stay monotone where the data is, extend a sparsely profiled model from anchors,
and report bad input as one `InputError` / one CLI line with exit code 2.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from tessera.core.data import find
from tessera.core.errors import InputError
from tessera.gpu.predict import Predictor
from tessera.gpu.profiles import PROFILE_COLUMNS, ProfileRow, ProfileTable, load_profiles
from tessera.gpu.surface import borrow_residuals

SMS = [5.0 * i for i in range(1, 21)]
QUOTAS = [10.0 * i for i in range(1, 11)]
BATCHES = [1, 2, 4, 8]
MODELS = {"small": (2.0, 40.0), "mid": (4.0, 160.0), "big": (6.0, 400.0), "huge": (8.0, 900.0)}


def law(model: str, batch: int, sm: float, quota: float) -> float:
    host, work = MODELS[model]
    t = host + work * batch**0.8 / sm
    h = 3.0 * host / (quota / 100.0) ** 1.5
    return float((t**8 + h**8) ** (1 / 8))


def rows(models: list[str], keep: float = 1.0, seed: int = 0) -> list[ProfileRow]:
    rng = np.random.default_rng(seed)
    out = []
    for m in models:
        for b in BATCHES:
            for s in SMS:
                for q in QUOTAS:
                    if rng.random() < keep:
                        out.append(ProfileRow("v100", m, b, s, q, law(m, b, s, q)))
    return out


@pytest.fixture(scope="module")
def fitted() -> tuple[Predictor, list[ProfileRow]]:
    all_rows = rows(["small", "mid"], keep=1.0)
    rng = np.random.default_rng(1)
    held = rng.random(len(all_rows)) < 0.1
    train = [r for r, h in zip(all_rows, held, strict=True) if not h]
    test = [r for r, h in zip(all_rows, held, strict=True) if h]
    return Predictor().fit(train), test


def test_recovers_law_on_held_out_configs(fitted: tuple[Predictor, list[ProfileRow]]) -> None:
    p, test = fitted
    pred = p.predict_many([(r.gpu, r.model, r.batch, r.sm_pct, r.quota_pct) for r in test])
    true = np.array([r.latency_ms for r in test])
    assert np.mean(np.abs(pred / true - 1)) < 0.02


def test_predict_matches_predict_many_and_is_deterministic(
    fitted: tuple[Predictor, list[ProfileRow]],
) -> None:
    p, _ = fitted
    qs = [("v100", "mid", 4, 37.0, 45.0), ("V100", "small", 3, 12.5, 100.0)]
    many = p.predict_many(qs)
    assert many.tolist() == [p.predict(*q) for q in qs]
    again = Predictor().fit(rows(["small", "mid"], keep=1.0)).predict_many(qs)
    assert np.allclose(again, p.predict_many(qs), rtol=0.05)


def test_monotone_in_sm_and_quota(fitted: tuple[Predictor, list[ProfileRow]]) -> None:
    p, _ = fitted
    sm = np.linspace(5, 100, 60)
    lat_sm = p.predict_many([("v100", "mid", 8, float(s), 100.0) for s in sm])
    assert np.all(np.diff(lat_sm) <= 1e-9 + 0.01 * lat_sm[1:])
    q = np.linspace(10, 100, 40)
    lat_q = p.predict_many([("v100", "mid", 1, 50.0, float(x)) for x in q])
    assert np.all(np.diff(lat_q) <= 1e-9 + 0.01 * lat_q[1:])


def test_single_quota_line_recovers_amdahl_between_points() -> None:
    sms = [8, 16, 32, 48, 64, 100, 132]
    data = [
        ProfileRow("h200", "m", b, n / 132 * 100, 100.0, 0.5 + 20.0 * b / n)
        for b in (1, 8, 64)
        for n in sms
    ]
    p = Predictor().fit(data)
    for n in (24, 40, 80, 120):
        for b in (1, 8, 64):
            got = p.predict("h200", "m", b, n / 132 * 100, 100.0)
            assert got == pytest.approx(0.5 + 20.0 * b / n, rel=0.02)


def test_sparse_model_from_anchors() -> None:
    dense = rows(["small", "mid", "huge"])
    anchors = [
        ProfileRow("v100", "big", b, s, 100.0, law("big", b, s, 100.0))
        for b in BATCHES
        for s in (20.0, 50.0, 100.0)
    ]
    p = Predictor().fit([*dense, *anchors])
    errs = [
        abs(p.predict("v100", "big", b, s, 100.0) / law("big", b, s, 100.0) - 1)
        for b in BATCHES
        for s in SMS
    ]
    assert np.mean(errs) < 0.05


def test_unknown_model_and_gpu_are_input_errors(
    fitted: tuple[Predictor, list[ProfileRow]],
) -> None:
    p, _ = fitted
    with pytest.raises(InputError, match="model"):
        p.predict("v100", "nope", 1, 50.0, 100.0)
    with pytest.raises(InputError, match="gpu"):
        p.predict("a100", "mid", 1, 50.0, 100.0)
    with pytest.raises(InputError, match="sm_pct"):
        p.predict("v100", "mid", 1, 0.0, 100.0)


# --- files and CLI ------------------------------------------------------------------------
def write_profiles(path: Path, data: list[ProfileRow]) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as fh:  # type: ignore[operator]
        w = csv.writer(fh)
        w.writerow(PROFILE_COLUMNS)
        for r in data:
            w.writerow([r.gpu, r.model, r.batch, r.sm_pct, r.quota_pct, r.latency_ms])


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from tessera.cli.main import main

    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", err)


def test_load_gz_and_bad_csv_names_line_and_column(tmp_path: Path) -> None:
    good = tmp_path / "p.csv.gz"
    write_profiles(good, rows(["small"], keep=0.2))
    t = load_profiles(good)
    assert isinstance(t, ProfileTable) and len(t) > 0
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(PROFILE_COLUMNS) + "\nv100,m,1,50,100,1.0\nv100,m,1,abc,100,2.0\n")
    with pytest.raises(InputError) as e:
        load_profiles(bad)
    assert "line 3" in str(e.value) and "sm_pct" in str(e.value)


def test_cli_round_trip_keeps_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "p.csv"
    write_profiles(prof, rows(["small", "mid"], keep=0.5))
    queries = tmp_path / "q.csv"
    qs = [("v100", "mid", 8, 35.0, 60.0), ("v100", "small", 1, 90.0, 20.0)] * 3
    queries.write_text(
        "gpu,model,batch,sm_pct,quota_pct\n" + "".join(",".join(map(str, q)) + "\n" for q in qs)
    )
    out = tmp_path / "out.csv"
    code, _, err = run_cli(
        ["gpu", "predict", "--profiles", str(prof), "--queries", str(queries), "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    got = list(csv.DictReader(out.open()))
    assert [(r["model"], float(r["sm_pct"])) for r in got] == [(q[1], q[3]) for q in qs]
    want = Predictor().fit(load_profiles(prof)).predict_many(qs)
    assert np.allclose([float(r["latency_ms"]) for r in got], want, rtol=1e-5)
    code, stdout, _ = run_cli(
        ["gpu", "predict", "--profiles", str(prof), "--queries", str(queries)], capsys
    )
    assert code == 0 and stdout.splitlines()[0].endswith(",latency_ms")
    assert len(stdout.splitlines()) == len(qs) + 1


def test_cli_bad_csv_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "p.csv"
    prof.write_text("gpu,model,batch\nv100,m,1\n")
    queries = tmp_path / "q.csv"
    queries.write_text("gpu,model,batch,sm_pct,quota_pct\nv100,m,1,50,100\n")
    code, _, err = run_cli(
        ["gpu", "predict", "--profiles", str(prof), "--queries", str(queries)], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
    assert not (tmp_path / "out.csv").exists()


def test_real_profiles_if_present() -> None:
    path = find("gpu/profiles.csv.gz")
    if path is None:
        pytest.skip("no shared data (set TESSERA_DATA)")
    t = load_profiles(path)
    h = t.take(t.gpu == "h200")
    p = Predictor().fit(h)
    assert h.latency_ms is not None
    pred = p.predict_many(h)
    assert np.mean(np.abs(pred / h.latency_ms - 1)) < 0.05


# --- structural features: the time quota's cost follows the operator count ---------------
def quota_law(
    model: str, host: float, batch: int, sm: float, quota: float, fall: float = 1.0
) -> float:
    """T = host + work / sm; a quota charges the launch phase: H = 0.05 ms x ops / quota^fall."""
    from tessera.gpu.features import aten_ops

    ops = aten_ops(model)
    assert ops is not None
    t = host + 60.0 * batch**0.8 / sm
    h = 0.05 * ops / (quota / 100.0) ** fall
    return float((t**8 + h**8) ** (1 / 8))


QUOTA_MODELS = {"densenet121": 12.0, "densenet161": 30.0, "densenet201": 8.0, "vgg16": 20.0}


def quota_rows(model: str, host: float, sms: list[float], quotas: list[float]) -> list[ProfileRow]:
    return [
        ProfileRow("v100", model, b, s, q, quota_law(model, host, b, s, q))
        for b in BATCHES
        for s in sms
        for q in quotas
    ]


def test_features_are_package_data() -> None:
    from tessera.gpu.features import aten_ops, known_models, structure

    assert "resnet50" in known_models() and len(known_models()) >= 59
    st = structure("resnet50")
    assert st is not None and st.shape == (5,) and np.all(st >= 0)
    assert aten_ops("resnet50") is not None and aten_ops("resnet50") > 100  # type: ignore[operator]
    assert structure("not_a_torchvision_model") is None
    assert aten_ops("not_a_torchvision_model") is None
    from tessera.gpu.features import kernel_ops

    for m in known_models():  # every model has launches, fewer than its operator calls
        k, a = kernel_ops(m), aten_ops(m)
        assert k is not None and a is not None and 0 < k <= a
    assert kernel_ops("convnext_small") == kernel_ops("convnext_large") == 263  # widths differ
    assert kernel_ops("maxvit_t") < 0.5 * aten_ops("maxvit_t")  # type: ignore[operator]
    assert kernel_ops("not_a_torchvision_model") is None


def test_unseen_model_quota_effect_from_structure() -> None:
    dense = [r for m, h in QUOTA_MODELS.items() for r in quota_rows(m, h, SMS, QUOTAS)]
    anchors = quota_rows("densenet169", 16.0, [20.0, 50.0, 100.0], [100.0])
    p = Predictor().fit([*dense, *anchors])
    qs = [("v100", "densenet169", b, s, q) for b in BATCHES for s in SMS[::3] for q in QUOTAS]
    true = np.array([quota_law("densenet169", 16.0, b, s, q) for _, _, b, s, q in qs])
    new = np.mean(np.abs(p.predict_many(qs) / true - 1))
    p.structural = False
    old = np.mean(np.abs(p.predict_many(qs) / true - 1))
    assert new < 0.07 and new < 0.75 * old
    p.structural = True
    many = p.predict_many(qs)
    assert many.tolist() == p.predict_many(qs).tolist()  # deterministic
    assert many[0] == pytest.approx(p.predict(*qs[0]))
    # at full quota the structural path leaves the anchors' prediction alone
    full = [q for q in qs if q[4] == 100.0]
    p.structural = False
    before = p.predict_many(full)
    p.structural = True
    assert np.allclose(p.predict_many(full), before, rtol=0.02)


def test_unseen_model_uses_its_own_quota_rows() -> None:
    """Rows under a quota (RaPP's prior: batch 4, SM 100%, quota 20-80%) fix the gate curve;
    they must not bend the full-quota line through the anchors at the same SM share."""
    dense = [r for m, h in QUOTA_MODELS.items() for r in quota_rows(m, h, SMS, QUOTAS)]
    anchors = quota_rows("densenet169", 16.0, [20.0, 50.0, 100.0], [100.0])
    prior = [
        ProfileRow("v100", "densenet169", 4, 100.0, q, quota_law("densenet169", 16.0, 4, 100.0, q))
        for q in (20.0, 40.0, 60.0, 80.0)
    ]
    without = Predictor().fit([*dense, *anchors])
    with_rows = Predictor().fit([*dense, *anchors, *prior])
    qs = [
        ("v100", "densenet169", b, s, q)
        for b in BATCHES
        for s in SMS[::3]
        for q in QUOTAS
        if q not in (20.0, 40.0, 60.0, 80.0, 100.0)
    ]
    true = np.array([quota_law("densenet169", 16.0, b, s, q) for _, _, b, s, q in qs])
    err_with = np.mean(np.abs(with_rows.predict_many(qs) / true - 1))
    err_without = np.mean(np.abs(without.predict_many(qs) / true - 1))
    assert err_with < 0.03 and err_with < 0.5 * err_without
    for r in prior:  # its own rows come back
        assert with_rows.predict("v100", r.model, r.batch, r.sm_pct, r.quota_pct) == pytest.approx(
            r.latency_ms, rel=0.03
        )
    for a in anchors:  # and the anchors at full quota are untouched by them
        got = with_rows.predict("v100", a.model, a.batch, a.sm_pct, 100.0)
        assert got == pytest.approx(without.predict("v100", a.model, a.batch, a.sm_pct, 100.0))


def test_quota_rows_that_do_not_show_the_gate_cap_it() -> None:
    """A model timed at quota 60% and 80% as fast as at 100%: no gate from 60% up."""
    dense = [r for m, h in QUOTA_MODELS.items() for r in quota_rows(m, h, SMS, QUOTAS)]
    anchors = [
        ProfileRow("v100", "my_custom_net", r.batch, r.sm_pct, r.quota_pct, r.latency_ms)
        for r in quota_rows("densenet169", 16.0, [20.0, 50.0, 100.0], [100.0])
    ]
    same = [
        ProfileRow("v100", "my_custom_net", a.batch, a.sm_pct, q, a.latency_ms)
        for a in anchors
        for q in (60.0, 80.0)
    ]
    p = Predictor().fit([*dense, *anchors, *same])
    for b in BATCHES:
        for s in (10.0, 35.0, 100.0):
            full = p.predict("v100", "my_custom_net", b, s, 100.0)
            for q in (60.0, 70.0, 90.0):
                assert full <= p.predict("v100", "my_custom_net", b, s, q) <= 1.03 * full
            assert np.isfinite(p.predict("v100", "my_custom_net", b, s, 10.0))
            assert p.predict("v100", "my_custom_net", b, s, 10.0) >= full


def steep_rows(
    model: str, host: float, configs: list[tuple[int, float, float]]
) -> list[ProfileRow]:
    """Rows of a law whose gate falls faster than 1/quota (H ~ quota^-1.5)."""
    return [
        ProfileRow("v100", model, b, s, q, quota_law(model, host, b, s, q, fall=1.5))
        for b, s, q in configs
    ]


STEEP_DENSE = [
    r
    for m, h in QUOTA_MODELS.items()
    for r in steep_rows(m, h, [(b, s, q) for b in BATCHES for s in SMS for q in QUOTAS])
]
STEEP_ANCHORS = [(b, s, 100.0) for b in BATCHES for s in (20.0, 50.0, 100.0)]


@pytest.mark.parametrize("host", [16.0, 45.0])
def test_own_quota_rows_on_a_fine_quota_grid(host: float) -> None:
    """Monotone in the quota, continuous at 100%, right below and between its own quotas
    (similar models' steps, not a 1/quota fall) and where the gate barely shows (host 45:
    H is close to the full-quota time at 80%, so a row must be inverted, not copied)."""
    prior = [(4, 100.0, q) for q in (20.0, 40.0, 60.0, 80.0)]
    rows = steep_rows("densenet169", host, [*STEEP_ANCHORS, *prior])
    p = Predictor().fit([*STEEP_DENSE, *rows])
    fine = [0.5 * i for i in range(2, 201)]
    for b in BATCHES:
        for s in (10.0, 35.0, 100.0):
            got = p.predict_many([("v100", "densenet169", b, s, q) for q in [*fine, 99.9]])
            assert np.all(np.diff(got[:-1]) <= 1e-9 * got[:-2])  # never faster at a lower quota
            assert got[-1] == pytest.approx(got[-2], rel=0.02)  # 99.9% ~ 100%
            for q in (10.0, 30.0, 50.0, 70.0):  # (above 80% the gate fades out by 100%)
                true = quota_law("densenet169", host, b, s, q, fall=1.5)
                assert p.predict("v100", "densenet169", b, s, q) == pytest.approx(true, rel=0.06)
        # at full SM the full-quota time is anchored, so H(80%) from the inverted row is exact
        true80 = quota_law("densenet169", host, b, 100.0, 80.0, fall=1.5)
        assert p.predict("v100", "densenet169", b, 100.0, 80.0) == pytest.approx(true80, rel=0.01)


def test_own_quota_rows_shown_and_hidden() -> None:
    """The gate shows at 20% and 40% and hides at 80%: none from 80% up, the shown rows
    come back; rows that contradict each other (hidden at 40%, shown at 60%) keep the
    reading without a gate above 40%."""
    host = 16.0
    shown = steep_rows("densenet169", host, [*STEEP_ANCHORS, (4, 100.0, 20.0), (4, 100.0, 40.0)])
    t_full = quota_law("densenet169", host, 4, 100.0, 100.0)
    hidden = [ProfileRow("v100", "densenet169", 4, 100.0, 80.0, t_full)]
    p = Predictor().fit([*STEEP_DENSE, *shown, *hidden])
    for b in BATCHES:
        for s in (10.0, 100.0):
            full = p.predict("v100", "densenet169", b, s, 100.0)
            for q in (80.0, 85.0, 95.0):
                assert full <= p.predict("v100", "densenet169", b, s, q) <= 1.03 * full
    for r in shown[-2:]:
        assert p.predict("v100", r.model, r.batch, r.sm_pct, r.quota_pct) == pytest.approx(
            r.latency_ms, rel=0.03
        )
    noisy = [ProfileRow("v100", "densenet169", 4, 100.0, 40.0, t_full)]
    late = steep_rows("densenet169", host, [*STEEP_ANCHORS, (4, 100.0, 20.0), (4, 100.0, 60.0)])
    q = Predictor().fit([*STEEP_DENSE, *late, *noisy])
    # a gate at 60% but none at 40% cannot both be: the slower row at the higher quota is
    # taken for noise (never a gate read from a latency that rises with the quota), the row
    # at 20% still comes back
    assert q.predict("v100", "densenet169", 4, 100.0, 60.0) <= 1.03 * t_full
    true20 = quota_law("densenet169", host, 4, 100.0, 20.0, fall=1.5)
    assert q.predict("v100", "densenet169", 4, 100.0, 20.0) == pytest.approx(true20, rel=0.03)
    # at another configuration, a hiding row at 40% below rows showing the gate at 20% and
    # 60% does not cap them
    t2 = quota_law("densenet169", host, 2, 100.0, 100.0)
    other = [ProfileRow("v100", "densenet169", 2, 100.0, 40.0, t2)]
    r = Predictor().fit([*STEEP_DENSE, *late, *other])
    true60 = quota_law("densenet169", host, 4, 100.0, 60.0, fall=1.5)
    assert r.predict("v100", "densenet169", 4, 100.0, 60.0) == pytest.approx(true60, rel=0.03)


def test_own_quota_rows_noisy_or_far_from_anchors() -> None:
    """A row at 60% (batch 2) reading a higher H than the one at 40% (batch 4) must not make
    latency rise with the quota; rows only at an unanchored configuration where the gate
    hides (batch 8 at SM 5%, whose full-quota prediction is 15% low, so they look slower)
    must not inflate every other prediction."""
    host = 16.0
    rows = steep_rows("densenet169", host, [*STEEP_ANCHORS, (4, 100.0, 20.0), (4, 100.0, 40.0)])
    t40 = quota_law("densenet169", host, 4, 100.0, 40.0, fall=1.5)
    noisy = [ProfileRow("v100", "densenet169", 2, 100.0, 60.0, 1.3 * t40)]  # H(60) > H(40)
    p = Predictor().fit([*STEEP_DENSE, *rows, *noisy])
    got = p.predict_many([("v100", "densenet169", 2, 35.0, 0.5 * i) for i in range(2, 201)])
    assert np.all(np.diff(got) <= 1e-9 * got[:-1])
    base = Predictor().fit([*STEEP_DENSE, *steep_rows("densenet169", host, STEEP_ANCHORS)])
    far = steep_rows("densenet169", host, [(8, 5.0, 80.0), (8, 5.0, 90.0)])  # no gate there
    f = Predictor().fit([*STEEP_DENSE, *steep_rows("densenet169", host, STEEP_ANCHORS), *far])
    # ...nor rows there as flat over the quotas as an SM-bound configuration is, all 40%
    # slower than its full-quota prediction (their fastest bounds the full-quota time)
    flat_at = 1.4 * base.predict("v100", "densenet169", 8, 5.0, 100.0)
    flat = [ProfileRow("v100", "densenet169", 8, 5.0, q, flat_at) for q in (40.0, 60.0, 80.0)]
    g = Predictor().fit([*STEEP_DENSE, *steep_rows("densenet169", host, STEEP_ANCHORS), *flat])
    lone = steep_rows("densenet169", host, [(8, 5.0, 80.0)])  # one row: no flatness to see
    k = Predictor().fit([*STEEP_DENSE, *steep_rows("densenet169", host, STEEP_ANCHORS), *lone])
    for b in BATCHES:
        for q in (20.0, 80.0, 99.0):
            want = base.predict("v100", "densenet169", b, 100.0, q)
            assert f.predict("v100", "densenet169", b, 100.0, q) == pytest.approx(want, rel=0.1)
            assert g.predict("v100", "densenet169", b, 100.0, q) == pytest.approx(want, rel=0.1)
            assert k.predict("v100", "densenet169", b, 100.0, q) == pytest.approx(want, rel=0.1)
        # the flat rows time the gate as hidden from 40% up: H there stays under them
        full = g.predict("v100", "densenet169", b, 100.0, 100.0)
        cap = max(full, float(np.exp(-0.3)) * flat_at)
        assert g.predict("v100", "densenet169", b, 100.0, 40.0) <= 1.03 * cap
    # where the gate shows at both quotas of an unanchored configuration, its fastest row is
    # no full-quota time: H at both comes back at an anchored SM share
    pair = steep_rows("densenet169", host, [(8, 35.0, 20.0), (8, 35.0, 40.0)])
    h = Predictor().fit([*STEEP_DENSE, *steep_rows("densenet169", host, STEEP_ANCHORS), *pair])
    for q in (20.0, 40.0):
        true = quota_law("densenet169", host, 1, 100.0, q, fall=1.5)
        assert h.predict("v100", "densenet169", 1, 100.0, q) == pytest.approx(true, rel=0.05)


def test_own_gate_follows_the_structural_switch() -> None:
    """Switching `structural` (or `neighbours`) after a prediction gives what a predictor
    built that way gives."""
    # one quota per unanchored configuration, the gate ~40% over the full-quota time there:
    # the H read from each row depends on the predicted full-quota time
    prior = [(4, 35.0, 65.0), (2, 60.0, 60.0), (8, 35.0, 40.0)]
    other = {"resnet18": 6.0, "mobilenet_v2": 9.0, "alexnet": 3.0, "squeezenet1_0": 4.0}
    flat = [r for m, h in other.items() for r in quota_rows(m, h, SMS, QUOTAS)]  # H ~ 1/quota
    rows = [*STEEP_DENSE, *flat, *steep_rows("densenet169", 45.0, [*STEEP_ANCHORS, *prior])]
    qs = [("v100", "densenet169", b, s, q) for b in BATCHES for s in (10.0, 35.0) for q in QUOTAS]
    p = Predictor().fit(rows)
    first = p.predict_many(qs)
    p.structural = False
    off = Predictor().fit(rows)
    off.structural = False
    assert p.predict_many(qs).tolist() == off.predict_many(qs).tolist()
    p.structural = True
    assert p.predict_many(qs).tolist() == first.tolist()
    assert first.tolist() != off.predict_many(qs).tolist()  # (the switch matters here)
    p.neighbours = 1  # the same for the number of neighbours bending the SM line
    one = Predictor(neighbours=1).fit(rows)
    assert p.predict_many(qs).tolist() == one.predict_many(qs).tolist() != first.tolist()


def test_model_without_features_falls_back() -> None:
    dense = [r for m, h in QUOTA_MODELS.items() for r in quota_rows(m, h, SMS, QUOTAS)]
    anchors = [
        ProfileRow(r.gpu, "my_custom_net", r.batch, r.sm_pct, r.quota_pct, r.latency_ms)
        for r in quota_rows("densenet169", 16.0, [20.0, 50.0, 100.0], [100.0])
    ]
    p = Predictor().fit([*dense, *anchors])
    qs = [("v100", "my_custom_net", b, s, q) for b in BATCHES for s in (10.0, 60.0) for q in QUOTAS]
    got = p.predict_many(qs)
    p.structural = False
    assert got.tolist() == p.predict_many(qs).tolist()


def test_missing_cell_borrows_robustly_from_axis_neighbours() -> None:
    res = np.full((3, 6, 6), np.nan)
    # Along SM and quota through the hole at (1, 2, 2): 0.04 around it, one outlier at 0.5.
    res[1, :, 2] = 0.04
    res[1, 2, :] = 0.04
    res[1, 1, 2] = 0.5
    res[1, 2, 2] = np.nan
    res[0, 2, 2] = res[2, 2, 2] = 0.04
    got = borrow_residuals(res)
    assert got[1, 2, 2] == pytest.approx(0.04, abs=0.01)  # the outlier barely moves it
    # A cell two steps from measured ones along an axis borrows them; none anywhere: 0.
    lone = np.full((1, 5, 5), np.nan)
    lone[0, 0, 2] = lone[0, 4, 2] = 0.1
    assert borrow_residuals(lone)[0, 2, 2] == pytest.approx(0.1)
    assert borrow_residuals(lone)[0, 2, 0] == 0.0
    # Diagonal cells do not lend.
    diag = np.full((1, 3, 3), np.nan)
    diag[0, 0, 0] = 0.3
    assert borrow_residuals(diag)[0, 1, 1] == 0.0
    assert np.all(np.isfinite(got))
