from __future__ import annotations

import pytest

from tessera.core import (
    FpgaSlot,
    FunctionSpec,
    GpuShare,
    InputError,
    InvocationRecord,
    Registry,
    Resources,
    ScaleBounds,
    Status,
)


def test_gpu_share_fraction_and_bounds() -> None:
    assert GpuShare(50, 40).fraction == pytest.approx(0.2)
    for bad in ({"sm_pct": 0}, {"sm_pct": 101}, {"quota_pct": -5}, {"mem_mib": -1}):
        with pytest.raises(InputError) as e:
            GpuShare(**bad)  # type: ignore[arg-type]
        assert e.value.field.startswith("gpu.")


def test_fpga_slot_units_and_kind() -> None:
    assert FpgaSlot("big").units == 3
    assert FpgaSlot("little").units == 1
    with pytest.raises(InputError, match=r"fpga\.kind"):
        FpgaSlot("huge")  # type: ignore[arg-type]


def test_resources_fit_and_subtract() -> None:
    node = Resources(cpu=4, mem_mib=8192, gpu=GpuShare(100, 100, 40_000))
    req = Resources(cpu=1.5, mem_mib=2048, gpu=GpuShare(25, 50, 8_000))
    assert req.fits_in(node)
    assert not Resources(cpu=5).fits_in(node)
    assert not Resources(cpu=1, gpu=GpuShare()).fits_in(Resources(cpu=4, mem_mib=8192))
    left = node.minus(req)
    assert (left.cpu, left.mem_mib) == (2.5, 6144)


def test_function_names_are_dns_labels() -> None:
    FunctionSpec("resnet-50")
    for bad in ("Resnet", "a_b", "-a", "a" * 64, ""):
        with pytest.raises(InputError) as e:
            FunctionSpec(bad)
        assert e.value.field == "function.name"


def test_scale_bounds_clamp_and_validation() -> None:
    b = ScaleBounds(1, 5)
    assert [b.clamp(x) for x in (0, 3, 9)] == [1, 3, 5]
    with pytest.raises(InputError, match=r"scale\.max"):
        ScaleBounds(4, 2)


def test_record_derived_times() -> None:
    r = InvocationRecord(1, "f", arrival_s=1.0, start_s=1.5, end_s=3.0)
    assert (r.queue_delay_s, r.service_s, r.latency_s) == (0.5, 1.5, 2.0)


def test_status_rejection_needs_reason() -> None:
    assert Status.success().ok
    s = Status.reject("no GPU with 25% SMs free")
    assert not s.ok and s.reasons
    with pytest.raises(ValueError):
        Status.reject()


def test_registry_register_create_and_errors() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("w")
    class W:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    assert reg.names() == ["w"]
    assert reg.create("w", size=3).size == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("w")(W)
    with pytest.raises(InputError) as e:
        reg.create("nope")
    assert e.value.field == "widget.kind" and "w" in e.value.accepted
    with pytest.raises(InputError) as e:
        reg.create("w", colour="red")
    assert "size" in e.value.accepted
