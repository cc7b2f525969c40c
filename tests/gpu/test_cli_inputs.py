"""Bad input to `tessera gpu profile` / `gpu predict`: one `error:` line, exit 2, before any work.

Each case names the field as the user typed it (the option, or the file's path, line and
column), says what is accepted, and fails before profiling, fitting or writing starts (the
work is replaced by a stub that fails the test if it is reached).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

from tessera.core.errors import InputError
from tessera.gpu.clock import FakeClock
from tessera.gpu.device import SimulatedDevice
from tessera.gpu.profiler import profile
from tessera.gpu.profiles import load_profiles, load_queries
from tests.cli.test_cli import run_cli

HEADER = "gpu,model,batch,sm_pct,quota_pct"
PROFILE = (
    HEADER
    + ",latency_ms\n"
    + "".join(
        f"h200,resnet50,{b},{s},100,{0.5 * b + 50.0 / s:.4f}\n"
        for b in (1, 8)
        for s in (25, 50, 100)
    )
)


def one_error_line(code: int, err: str) -> str:
    """The single `error:` line (no blank line before it, nothing after it)."""
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), repr(err)
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    prof = tmp_path / "p.csv"
    prof.write_text(PROFILE)
    q = tmp_path / "q.csv"
    q.write_text(HEADER + "\nh200,resnet50,8,50,100\n")
    return {"profiles": prof, "queries": q}


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiling or fitting fails the test: input errors must come before the work."""

    def reached(*_a: object, **_k: object) -> None:
        raise AssertionError("the work started before the input was checked")

    monkeypatch.setattr("tessera.gpu.profiler.GpuWorker", reached)
    monkeypatch.setattr("tessera.gpu.predict.Predictor.fit", reached)


def predict(files: dict[str, Path], *extra: str) -> list[str]:
    return [
        "gpu",
        "predict",
        "--profiles",
        str(files["profiles"]),
        "--queries",
        str(files["queries"]),
        *extra,
    ]


SIM = ["gpu", "profile", "--model", "resnet50", "--device", "sim", "--quotas", "100"]


# --- 1: corrupt or non-UTF-8 files --------------------------------------------------------
def test_corrupt_gzip_profile_is_one_line(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    bad = tmp_path / "bad2.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbagegarbage")
    files["profiles"] = bad
    line = one_error_line(*run_cli(predict(files), capsys)[::2])
    assert f"--profiles {bad}: contents" in line and "gzip" in line
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(PROFILE.encode())[:-12])
    files["profiles"] = truncated
    line = one_error_line(*run_cli(predict(files), capsys)[::2])
    assert f"--profiles {truncated}: contents" in line and "gzip" in line
    with pytest.raises(InputError, match="gzip"):
        load_profiles(bad)


def test_non_utf8_query_file_names_the_option(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    files["queries"].write_bytes(HEADER.encode() + b"\nh200,r\xe9snet,8,50,100\n")
    line = one_error_line(*run_cli(predict(files), capsys)[::2])
    assert f"--queries {files['queries']}: contents" in line and "UTF-8" in line


# --- 2: integer columns are bounded ---------------------------------------------------------
def test_huge_batch_in_a_query_file_is_rejected_with_its_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    files["queries"].write_text(HEADER + "\nh200,resnet50,8,50,100\nh200,resnet50,1e30,50,100\n")
    line = one_error_line(*run_cli(predict(files), capsys)[::2])
    assert f"--queries {files['queries']}: line 3: column batch: got '1e30'" in line
    assert "65536" in line
    files["queries"].write_text(HEADER + "\nh200,resnet50,65537,50,100\n")
    with pytest.raises(InputError, match=r"line 2: column batch.*1\.\.65536"):
        load_queries(files["queries"])
    files["queries"].write_text(HEADER + "\nh200,resnet50,65536,50,100\n")
    assert load_queries(files["queries"]).batch.tolist() == [65536]


# --- 3: profile grid bounds, checked before profiling ----------------------------------------
@pytest.mark.parametrize(
    ("args", "option", "bound"),
    [
        (["--batches", "99999999999999999999", "--sms", "8"], "--batches", "65536"),
        (
            ["--batches", "1", "--sms", "8", "--replays", "99999999999999999999"],
            "--replays",
            "10000",
        ),
        (["--batches", "1", "--sms", "8", "--replays", "10001"], "--replays", "10000"),
    ],
)
def test_huge_profile_grid_values_fail_before_profiling(
    args: list[str], option: str, bound: str, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    line = one_error_line(*run_cli([*SIM, *args], capsys)[::2])
    assert line.startswith(f"error: {option}: got ") and bound in line


def test_profiler_library_bounds_batches_and_replays() -> None:
    dev = SimulatedDevice(clock=FakeClock())
    with pytest.raises(InputError, match=r"replays.*1\.\.10000"):
        profile(dev, "resnet50", [1], [8], [100], replays=10_001)
    with pytest.raises(InputError, match=r"batches.*1\.\.65536"):
        profile(dev, "resnet50", [65_537], [8], [100], replays=1)


# --- 4: malformed query CSVs ---------------------------------------------------------------
def test_query_row_with_more_fields_than_the_header_is_rejected(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["queries"].write_text(HEADER + "\nh200,resnet50,8,50,100\nh200,resnet50,8,50,100,9,9\n")
    code, out, err = run_cli(predict(files), capsys)
    line = one_error_line(code, err)
    assert f"--queries {files['queries']}: line 3: row" in line and "5 fields" in line
    assert out == ""


def test_duplicate_header_columns_are_rejected(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["queries"].write_text(
        "gpu,gpu,model,batch,sm_pct,quota_pct\nh200,zzz,resnet50,8,50,100\n"
    )
    code, out, err = run_cli(predict(files), capsys)
    line = one_error_line(code, err)
    assert f"--queries {files['queries']}: line 1: header" in line and "repeated: gpu" in line
    assert out == ""
    files["profiles"].write_text(PROFILE.replace(",latency_ms\n", ",latency_ms,latency_ms\n", 1))
    with pytest.raises(InputError, match="repeated: latency_ms"):
        load_profiles(files["profiles"])


# --- 5: fields named as the user typed them ----------------------------------------------------
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--batches", "0", "--sms", "8"], "--batches"),
        (["--batches", "1", "--sms", "12"], "--sms"),
        (["--batches", "1", "--sms", "8", "--quotas", "0"], "--quotas"),
        (["--batches", "1", "--sms", "8", "--model", "no_such_model"], "--model"),
    ],
)
def test_profile_errors_name_the_option(
    args: list[str], option: str, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    line = one_error_line(*run_cli([*SIM, *args], capsys)[::2])
    assert line.startswith(f"error: {option}: got ")


def test_predict_missing_files_name_the_option_and_path(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    for key in ("profiles", "queries"):
        given = dict(files)
        given[key] = tmp_path / f"missing-{key}.csv"
        line = one_error_line(*run_cli(predict(given), capsys)[::2])
        assert line.startswith(f"error: --{key}: got '{given[key]}'")


def test_empty_profiles_say_the_files_have_no_rows(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["profiles"].write_text(HEADER + ",latency_ms\n")
    line = one_error_line(*run_cli(predict(files), capsys)[::2])
    assert line.startswith(f"error: --profiles: got '{files['profiles']}'")
    assert "data rows" in line and "fit first" not in line


def test_unknown_gpu_in_a_query_names_its_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["queries"].write_text(HEADER + "\nh200,resnet50,8,50,100\nv100,resnet50,8,50,100\n")
    line = one_error_line(*run_cli(predict(files), capsys)[::2])
    assert f"--queries {files['queries']}: line 3: column gpu: got 'v100'" in line


# --- 6: no blank line from the progress display ----------------------------------------------
def test_profile_stderr_holds_only_its_own_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    args = [*SIM, "--batches", "1", "--sms", "8,132", "--replays", "2"]
    code, stdout, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 0 and stdout == ""
    assert err.splitlines() == [f"2 rows -> {out}"]
    assert len(load_profiles(out)) == 2
    code, stdout, err = run_cli(args, capsys)
    assert code == 0 and err == "" and len(stdout.splitlines()) == 3
    one_error_line(*run_cli([*SIM, "--batches", "x"], capsys)[::2])


# --- 7: the output path is checked first and named as given -----------------------------------
def test_profile_out_in_a_missing_folder_fails_before_profiling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    out = tmp_path / "nonexist" / "p.csv"
    line = one_error_line(
        *run_cli([*SIM, "--batches", "1", "--sms", "8", "--out", str(out)], capsys)[::2]
    )
    assert line.startswith(f"error: --out: got '{out}'")


def test_predict_out_checked_before_fitting(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    out = tmp_path / "nonexist" / "x.csv"
    line = one_error_line(*run_cli(predict(files, "--out", str(out)), capsys)[::2])
    assert line.startswith(f"error: --out: got '{out}'")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc (Linux)")
def test_predict_out_where_no_file_can_be_created_names_the_path_not_a_temp_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    line = one_error_line(*run_cli(predict(files, "--out", "/proc/x.csv"), capsys)[::2])
    assert line.startswith("error: --out: got '/proc/x.csv'") and ".tmp" not in line
