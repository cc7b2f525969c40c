"""Federated distillation on the local platform: the workflow's steps as real function invocations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tessera.control.fl_invokers import HttpInvoker
from tessera.control.kd import KD_FUNCTION_DIR, InvokerExecutor, StepFailed
from tessera.fl import kd
from tessera.fl.data import load
from tessera.fl.store import open_store
from tests.platforms.helpers import async_test, deploy, platform

CFG = kd.KdConfig(rounds=2, lr=0.2, distil_lr=0.2, public_epochs=3, distil_checks=3)


@async_test(120)
async def test_feddf_and_fedmd_steps_as_function_invocations(home: Path, tmp_path: Path) -> None:
    data = load("digits")
    setup = kd.split(
        data, ("softmax", "mlp-16", "mlp-64"), 2, 1.0, public=300, val=100,
        rng=np.random.default_rng(0),
    )  # fmt: skip
    # one BLAS thread, as in the instances (the platform sets OMP/OPENBLAS_NUM_THREADS=1):
    # a multi-threaded product sums in another order and the bits differ
    with threadpool_limits(1):
        local = {
            m: kd.KdRun(
                m, "parallel", setup, CFG, kd.Executor(0), f"sqlite:///{tmp_path}/{m}-l.db"
            ).run()
            for m in ("feddf", "fedmd")
        }
    async with platform(home, timeout_s=120.0) as (_p, c):
        assert await deploy(c, KD_FUNCTION_DIR) == {"name": "fl-kd", "version": 1}
        ex = InvokerExecutor(HttpInvoker(c, "fl-kd"), asyncio.get_running_loop(), workers=2)
        for m in ("feddf", "fedmd"):
            url = f"sqlite:///{tmp_path}/{m}-p.db"  # absolute: the instances open it too
            remote = await asyncio.to_thread(kd.KdRun(m, "sequential", setup, CFG, ex, url).run)
            assert remote.accuracy == local[m].accuracy  # same steps, same seeds, other processes
            for cid, p in remote.params.items():
                assert np.array_equal(p, local[m].params[cid])
            assert open_store(url).keys("kd/") == []
        assert 1 <= ex.cold_starts <= 2  # at most two instances ever started (two at a time)
        bad = {"step": "train", "arch": "softmax", "store": f"sqlite:///{tmp_path}/x.db",
               "dataset": "digits", "idx": "missing"}  # fmt: skip
        try:
            await asyncio.to_thread(ex.map, [bad])
        except StepFailed as e:
            assert "train" in str(e)
        else:
            raise AssertionError("a failing step must raise StepFailed")
