"""POST /system/guard: shellguard verdicts from the local platform (admin token, one or many commands)."""

from __future__ import annotations

from pathlib import Path

from tests.platforms.helpers import async_test, platform


@async_test(120)
async def test_guard_endpoint_single_batch_and_bad_input(home: Path) -> None:
    async with platform(home) as (_p, c):
        r = await c.post("/system/guard", json={"command": "rm -rf /"})
        assert r.status_code == 200, r.text
        v = r.json()
        assert v["level"] == "BLOCKED" and "destroy" in v["reasons"] and 0 <= v["score"] <= 1
        r = await c.post(
            "/system/guard",
            json=[
                {"command": "ls -la"},
                {"command": "Remove-Item C:\\ -Recurse -Force", "shell": "powershell"},
                {"command": "taskkill /im notepad.exe", "shell": "cmd"},
            ],
        )
        assert [x["level"] for x in r.json()] == ["SAFE", "BLOCKED", "RISKY"]
        r = await c.post("/system/guard", json={"command": "rm -rf data", "cwd": "/tmp"})
        assert r.json()["level"] == "LOW"  # relative to /tmp: temp space
        r = await c.post(
            "/system/guard", json=[{"command": "rm -rf *", "cwd": "/"}, {"command": "ls"}]
        )
        assert [x["level"] for x in r.json()] == ["BLOCKED", "SAFE"]  # cwd holds in a batch too
        for bad in (
            {"cmd": "ls"},
            {"command": "ls", "shell": "fish"},
            [],
            "x",
            {"command": "ls", "cwd": 3},
        ):
            r = await c.post("/system/guard", json=bad)
            assert r.status_code == 400, (bad, r.text)
        r = await c.post("/system/guard", json={"command": "ls"}, headers={"Authorization": ""})
        assert r.status_code == 401
