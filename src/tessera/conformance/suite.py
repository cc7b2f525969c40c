"""Cases and targets of the conformance suite, and the runner.

A target starts a platform for real on loopback (a subprocess), serves the
fixture through that platform's adapter, and exposes `invoke(body, content_type)`.
A case sends one request (or several, concurrently) and checks the answer.
The same cases also run against the fixture written in each language (Python,
JavaScript, C compiled to WASI) on the local platform.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.conformance.fixture import LANGUAGES, write_fixture
from tessera.conformance.harness import Answer, Invoke
from tessera.core.errors import InputError


def _json(body: dict[str, Any]) -> tuple[bytes, str]:
    return json.dumps(body).encode(), "application/json"


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Invoke], str | None]  # None when it passes, else what went wrong


def _expect(ans: Answer, status: int, body: Any = None, raw: bytes | None = None) -> str | None:
    st, _headers, data = ans
    if st != status:
        return f"status {st}, expected {status} ({data[:120]!r})"
    if raw is not None and data != raw:
        return f"body {data[:80]!r}, expected {raw[:80]!r}"
    if body is not None:
        try:
            got = json.loads(data)
        except ValueError:
            return f"body is not JSON: {data[:80]!r}"
        if got != body:
            return f"body {got!r}, expected {body!r}"
    return None


def _echo(inv: Invoke) -> str | None:
    return _expect(
        inv(*_json({"a": [1, 2], "b": "x"})),
        200,
        {"echo": {"a": [1, 2], "b": "x"}, "function": "conformance"},
    )


def _bytes(inv: Invoke) -> str | None:
    return _expect(inv(b"\x00\x01abc\xff", "application/octet-stream"), 200, raw=b"\xffcba\x01\x00")


def _status(inv: Invoke) -> str | None:
    ans = inv(*_json({"op": "status", "status": 418}))
    err = _expect(ans, 418, {"status": 418})
    if err is None and ans[1].get("x-conformance") != "yes":
        return f"header x-conformance missing: {ans[1]}"
    return err


def _error(inv: Invoke) -> str | None:
    return _expect(inv(*_json({"op": "fail"})), 500, raw=b"ValueError: asked to fail")


def _unicode(inv: Invoke) -> str | None:
    text = "héllo, 世界 🌍"
    return _expect(inv(*_json({"t": text})), 200, {"echo": {"t": text}, "function": "conformance"})


def _large(inv: Invoke) -> str | None:
    blob = "x" * (5 << 20)
    return _expect(inv(*_json({"op": "size", "blob": blob})), 200, {"n": 5 << 20})


def _concurrent(inv: Invoke) -> str | None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: inv(*_json({"i": i})), range(16)))
    for i, ans in enumerate(answers):
        err = _expect(ans, 200, {"echo": {"i": i}, "function": "conformance"})
        if err:
            return f"call {i}: {err}"
    return None


def _timeout(inv: Invoke) -> str | None:
    """The fixture's timeout is 2 s: a 4 s handler is answered 504 at the deadline, and the
    function serves the next call (the platform replaced or freed the instance)."""
    t0 = time.monotonic()
    ans = inv(*_json({"op": "sleep", "s": 4}))
    took = time.monotonic() - t0
    if ans[0] != 504:
        return f"status {ans[0]} after {took:.2f}s, expected 504 ({ans[2][:120]!r})"
    if took > 3.5:
        return f"answered after {took:.2f}s, expected at the 2 s deadline"
    err = _echo(inv)
    return None if err is None else f"after the timeout: {err}"


def _lifecycle(inv: Invoke) -> str | None:
    return _expect(inv(*_json({"op": "started"})), 200, {"started": True})


CASES = (
    Case("json-echo", _echo),
    Case("bytes", _bytes),
    Case("status-and-headers", _status),
    Case("error-mapping", _error),
    Case("unicode", _unicode),
    Case("large-payload-5mb", _large),
    Case("concurrent-calls", _concurrent),
    Case("timeout", _timeout),
    Case("lifecycle-start", _lifecycle),
)


def _discover() -> tuple[str, ...]:
    """One module per platform in `tessera.conformance.targets`, each with a
    `target(fn_dir, work_dir)` context manager yielding an `Invoke`; local first."""
    from tessera.conformance import targets

    names = sorted(m.name for m in pkgutil.iter_modules(targets.__path__) if not m.ispkg)
    return tuple(sorted(names, key=lambda n: n != "local"))


TARGETS = _discover()


def target(name: str) -> Callable[[Path, Path], contextlib.AbstractContextManager[Invoke]]:
    module = importlib.import_module(f"tessera.conformance.targets.{name}")
    fn: Callable[[Path, Path], contextlib.AbstractContextManager[Invoke]] = module.target
    return fn


def _run_cases(name: str, fn: Callable[[], Path], work: Path) -> dict[str, Any]:
    """Every case against the fixture `fn()` writes, served by target `name` in `work`."""
    work.mkdir(parents=True)
    cases: dict[str, dict[str, Any]] = {}
    try:
        with target(name)(fn(), work) as invoke:
            for case in CASES:
                try:
                    err = case.run(invoke)
                except Exception as e:  # a crash is a failed case, not a failed run
                    err = f"{type(e).__name__}: {e}"
                cases[case.name] = {"passed": err is None, "error": err}
    except (RuntimeError, InputError, OSError) as e:  # no platform, or no fixture
        cases = {c.name: {"passed": False, "error": f"{type(e).__name__}: {e}"} for c in CASES}
    passed = sum(c["passed"] for c in cases.values())
    return {"passed": passed, "failed": len(cases) - passed, "cases": cases}


def run(platforms: list[str] | None = None, languages: list[str] | None = None) -> dict[str, Any]:
    """Every case on every platform, and against the fixture in every language on the local
    platform: `{"platforms": {P: {"passed", "failed", "cases"}}, "languages": {L: ...}}`.

    `languages=None` means all of them, `[]` none. The Python fixture on `local` is one run,
    reported under both keys.
    """
    names = platforms or list(TARGETS)
    for p in names:
        if p not in TARGETS:
            raise InputError("--platform", p, ", ".join(TARGETS))
    langs = list(LANGUAGES) if languages is None else languages
    for lang in langs:
        if lang not in LANGUAGES:
            raise InputError("--language", lang, ", ".join(LANGUAGES))
    report: dict[str, Any] = {"platforms": {}, "languages": {}}
    with tempfile.TemporaryDirectory(prefix="tessera-conformance-") as tmp:
        root = Path(tmp)
        for p in names:
            report["platforms"][p] = _run_cases(p, lambda: write_fixture(root), root / p)
        for lang in langs:
            if lang == "python" and "local" in report["platforms"]:
                report["languages"][lang] = report["platforms"]["local"]
                continue
            fixtures = root / "fixtures" / lang

            def write(lang: str = lang, fixtures: Path = fixtures) -> Path:
                return write_fixture(fixtures, language=lang)

            report["languages"][lang] = _run_cases("local", write, root / f"local-{lang}")
    return report
