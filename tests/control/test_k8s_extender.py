"""The Kubernetes scheduler extender: recorded ExtenderArgs in, the scheduler's answers out.

Fixtures in `fixtures/extender/` are ExtenderArgs as kube-scheduler sends them
(a Knative revision's pod, four GKE nodes in ES/FR/BE/NL regions). Intensities
and zones come from the ConfigMap the deploy manifests ship; RTTs are the
measured GCP values from europe-west1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tessera.carbon.footprint import MAX_AGE_S, LiveReadings
from tessera.carbon.grid import CarbonTable
from tessera.carbon.placement import Placement, PlacementSnapshot, create
from tessera.carbon.sources import Reading
from tessera.control.k8s_extender import (
    ORIGIN_ANNOTATION,
    REGION_LABEL,
    Extender,
    build,
    live_intensity,
    region_scores,
    table_intensity,
)
from tessera.core.errors import InputError
from tessera.platforms.httpserver import server

FIXTURES = Path(__file__).parent / "fixtures" / "extender"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "carbon"
ES, FR, BE, NL = "europe-southwest1", "europe-west9", "europe-west1", "europe-west4"
NODE = {
    r: f"gke-tessera-{s}-pool-1-{u}"
    for r, s, u in [(ES, "es", "7x2m"), (FR, "fr", "c4qd"), (BE, "be", "9hfk"), (NL, "nl", "w3rt")]
}
RTT_FROM_BE = {BE: 0.0, FR: 4.0, NL: 7.0, ES: 22.0}  # gcp_inter_region_latency_ms.csv


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def deploy_docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def configmap() -> dict[str, Any]:
    return next(d for d in deploy_docs("extender.yaml") if d["kind"] == "ConfigMap")["data"]  # type: ignore[no-any-return]


def rtt(origin: str, region: str) -> float:
    assert origin == BE
    return RTT_FROM_BE[region]


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def extender(kind: str = "tessera", intensity: Any = None, **kw: Any) -> Extender:
    params = kw.pop("params", {})
    data = configmap()
    return Extender(
        create({"kind": kind, **params}),
        intensity or table_intensity(json.loads(data["intensities.json"])),
        zones=json.loads(data["zones.json"]),
        rtt_ms=rtt,
        clock=kw.pop("clock", Clock()),
        **kw,
    )


def post(ext: Extender, verb: str, doc: Any) -> tuple[int, Any]:
    status, _, body = ext.route("POST", f"/{verb}", [], json.dumps(doc).encode())
    return status, json.loads(body)


def names(result: dict[str, Any]) -> list[str]:
    return [n["metadata"]["name"] for n in result["nodes"]["items"]]


# --- filter and prioritize ------------------------------------------------------------------


def test_greencourier_scores_every_region_and_the_greenest_gets_max() -> None:
    ext = extender("greencourier")
    status, result = post(ext, "filter", fixture("filter_args.json"))
    assert status == 200 and sorted(names(result)) == sorted(NODE.values())
    assert result["failedAndUnresolvableNodes"] == {} and "error" not in result
    status, prio = post(ext, "prioritize", fixture("filter_args.json"))
    assert status == 200
    # policy scores ES 62, FR 100, BE 76, NL 0 -> FR max, others min-max into 0..9
    assert {p["host"]: p["score"] for p in prio} == {
        NODE[FR]: 10,
        NODE[BE]: 9,
        NODE[ES]: 7,
        NODE[NL]: 0,
    }


def test_tessera_filters_regions_beyond_the_latency_budget_with_a_reason() -> None:
    ext = extender(params={"latency_budget_ms": 20.0})
    _, result = post(ext, "filter", fixture("filter_args.json"))
    assert sorted(names(result)) == sorted([NODE[FR], NODE[BE], NODE[NL]])
    why = result["failedAndUnresolvableNodes"][NODE[ES]]
    assert why.startswith(f"tessera would not place in {ES}") and "20 ms budget" in why
    _, prio = post(ext, "prioritize", fixture("prioritize_args.json"))
    scores = {p["host"]: p["score"] for p in prio}
    assert scores[NODE[FR]] == 10 and scores[NODE[BE]] > scores[NODE[NL]]
    assert (
        ext.decisions[-1]["region"] == FR
        and "runner-up europe-west1" in ext.decisions[-1]["reason"]
    )


def test_strict_mode_keeps_only_the_chosen_region() -> None:
    _, result = post(extender(strict=True), "filter", fixture("filter_args.json"))
    assert names(result) == [NODE[FR]]
    assert all(
        "tessera chose europe-west9" in w for w in result["failedAndUnresolvableNodes"].values()
    )


def test_node_names_resolve_from_nodes_seen_before() -> None:
    ext = extender()
    _, cold = post(ext, "filter", fixture("filter_args_nodenames.json"))
    assert cold["nodenames"] == [] and all(
        "label" in w for w in cold["failedAndUnresolvableNodes"].values()
    )
    post(ext, "filter", fixture("filter_args.json"))
    _, warm = post(ext, "filter", fixture("filter_args_nodenames.json"))
    assert sorted(warm["nodenames"]) == sorted(NODE.values())
    assert list(warm["failedAndUnresolvableNodes"]) == ["gke-tessera-de-pool-1-unkn"]


def test_unlabelled_nodes_fail_and_score_zero() -> None:
    ext = extender()
    _, result = post(ext, "filter", fixture("filter_args_unlabelled.json"))
    assert result["failedAndUnresolvableNodes"] == {
        "onprem-worker-01": f"no {REGION_LABEL} label known for this node"
    }
    _, prio = post(ext, "prioritize", fixture("filter_args_unlabelled.json"))
    assert {p["host"]: p["score"] for p in prio}["onprem-worker-01"] == 0


def test_a_stateful_policy_advances_once_per_pod() -> None:
    ext = extender("round-robin")
    chosen = []
    for uid in ("pod-a", "pod-b"):
        args = fixture("filter_args.json")
        args["pod"]["metadata"]["uid"] = uid
        post(ext, "filter", args)
        _, prio = post(ext, "prioritize", args)
        chosen.append(next(p["host"] for p in prio if p["score"] == 10))
    # regions in name order: europe-southwest1, europe-west1, europe-west4, europe-west9
    assert chosen == [NODE[ES], NODE[BE]]
    assert [d["region"] for d in ext.decisions] == [ES, BE]  # one decision per pod


def test_the_snapshot_carries_origin_capacity_and_signal_age() -> None:
    seen: list[PlacementSnapshot] = []

    class Spy:
        name = "spy"

        def place(self, s: PlacementSnapshot) -> Placement:
            seen.append(s)
            return create({"kind": "tessera"}).place(s)

    calls = {"n": 0}

    def flaky(zone: str, _now: float) -> float:
        calls["n"] += 1
        if calls["n"] > 4:
            raise TimeoutError("carbon API down")
        return {"ES": 211.5, "FR": 99.4, "BE": 171.3, "NL": 398.2}[zone]

    clock = Clock()
    data = configmap()
    ext = Extender(
        Spy(), flaky, zones=json.loads(data["zones.json"]), rtt_ms=rtt, clock=clock, refresh_s=300.0
    )
    two_fr = fixture("filter_args.json")
    extra = json.loads(json.dumps(two_fr["nodes"]["items"][1]))
    extra["metadata"]["name"] = "gke-tessera-fr-pool-1-z9v1"
    two_fr["nodes"]["items"].append(extra)
    post(ext, "filter", two_fr)
    clock.now += 100.0  # within refresh_s: cached, aged 100 s
    post(ext, "filter", fixture("prioritize_args.json"))
    clock.now += 400.0  # refresh due, the source fails: the last readings, 500 s old
    post(ext, "filter", fixture("filter_args.json"))
    first, second, third = seen
    assert first.origin == BE and {r.name: r.rtt_ms for r in first.regions} == RTT_FROM_BE
    # pod slots: status.allocatable.pods (110) per node
    slots = {r.name: (r.free, r.capacity) for r in first.regions}
    assert slots == {ES: (110, 110), FR: (220, 220), BE: (110, 110), NL: (110, 110)}
    assert all(r.signal_age_s == 0 for r in first.regions)
    # the second FR node is absent from the candidates (full for this pod): FR half used
    slots = {r.name: (r.free, r.capacity) for r in second.regions}
    assert slots == {FR: (110, 220), BE: (110, 110), NL: (110, 110)}
    assert all(r.signal_age_s == 100 for r in second.regions)
    assert all(r.signal_age_s == 500 for r in third.regions) and len(third.regions) == 4


def test_regions_without_any_signal_fail_with_the_error() -> None:
    def no_nl(zone: str, _now: float) -> float:
        if zone == "NL":
            raise ConnectionError("zone NL unavailable")
        return 100.0

    _, result = post(extender(intensity=no_nl), "filter", fixture("filter_args.json"))
    why = result["failedAndUnresolvableNodes"][NODE[NL]]
    assert "zone NL" in why and "unavailable" in why and len(names(result)) == 3


def test_region_scores_mapping() -> None:
    p = Placement("b", "x", {"a": 10.0, "b": 90.0, "c": 50.0})
    assert region_scores(p, ["a", "b", "c", "d"], 10) == {"a": 0, "b": 10, "c": 9, "d": 0}
    assert region_scores(
        Placement("a", "x", {"a": 1.0, "b": 1.0, "c": 1.0}), ["a", "b", "c"], 10
    ) == {"a": 10, "b": 9, "c": 9}
    assert region_scores(Placement(None, "full", None), ["a"], 10) == {"a": 0}
    assert region_scores(Placement("a", "rr", None), ["a", "b"], 100) == {"a": 100, "b": 0}


# --- HTTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "bad ExtenderArgs: body is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"nodes": {"items": []}}', "no pod"),
        (b'{"pod": {}}', "neither nodes nor nodenames"),
        (b'{"pod": {}, "nodenames": [1]}', "nodenames must be a list of strings"),
        (b'{"pod": "\xc3\x28"}', "not UTF-8"),
    ],
)
def test_bad_requests_get_a_one_line_400(body: bytes, message: str) -> None:
    status, headers, out = extender().route("POST", "/filter", [], body)
    text = out.decode()
    assert status == 400 and message in text and text.count("\n") == 1 and text.endswith("\n")
    assert ("Content-Type", "text/plain; charset=utf-8") in headers


def test_routes() -> None:
    ext = extender()
    assert ext.route("GET", "/healthz", [], b"")[0] == 200
    assert ext.route("GET", "/nope", [], b"")[0] == 404
    assert ext.route("GET", "/filter", [], b"")[0] == 404
    status, _, body = ext.route(
        "POST", "/scheduler/prioritize/", [], json.dumps(fixture("filter_args.json")).encode()
    )
    assert status == 200 and len(json.loads(body)) == 4
    assert json.loads(ext.route("GET", "/decisions", [], b"")[2])[0]["region"] == FR
    # kube-scheduler's Go decoder matches keys case-insensitively; so does the extender
    args = fixture("filter_args.json")
    capitalised = {"Pod": args["pod"], "Nodes": {"Items": args["nodes"]["items"]}}
    status, result = post(ext, "filter", capitalised)
    assert (
        status == 200 and list(result["nodes"]) == ["items"] and len(result["nodes"]["items"]) == 4
    )


@pytest.fixture
def served() -> Iterator[str]:
    srv = server("127.0.0.1", 0, extender().route)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        srv.server_close()


def http(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_served_on_loopback(served: str) -> None:
    status, body = http(f"{served}/filter", (FIXTURES / "filter_args.json").read_bytes())
    assert status == 200 and len(json.loads(body)["nodes"]["items"]) == 4
    status, body = http(f"{served}/prioritize", (FIXTURES / "prioritize_args.json").read_bytes())
    assert status == 200 and max(json.loads(body), key=lambda p: p["score"])["host"] == NODE[FR]
    status, body = http(f"{served}/filter", b"{oops")
    assert status == 400 and body.decode().startswith("bad ExtenderArgs: body is not JSON")


def test_command_line(tmp_path: Path) -> None:
    data = configmap()
    (tmp_path / "i.json").write_text(data["intensities.json"])
    (tmp_path / "z.json").write_text(data["zones.json"])
    cmd = [
        sys.executable,
        "-m",
        "tessera.control.k8s_extender",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--policy",
        "greencourier",
        "--intensities",
        str(tmp_path / "i.json"),
        "--zones",
        str(tmp_path / "z.json"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "greencourier" in line
        port = int(line.rsplit(":", 1)[1])
        status, body = http(
            f"http://127.0.0.1:{port}/prioritize", (FIXTURES / "filter_args.json").read_bytes()
        )
        assert status == 200 and max(json.loads(body), key=lambda p: p["score"])["host"] == NODE[FR]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_live_source_feeds_the_extender() -> None:
    """`--source` builds a carbon source (env:NAME secrets), wrapped so a failing provider
    falls back to the zone's annual mean instead of failing every region."""
    ext, _ = build(["--source", '{"kind": "table", "epoch_s": 0}', "--policy", "greencourier"])
    table = CarbonTable.load()
    assert ext.intensity("FR", 7200.0) == (table.intensity("FR", 7200.0), 7200.0)
    assert ext.refresh_s == 0.0  # the readings pace the source; the extender asks each time


def test_a_slow_live_source_never_holds_up_a_scheduling_request() -> None:
    """Until a provider first answers, its zone's annual mean stands in, as old as a reading
    may be (so a staleness-aware policy knows); the request is answered at once."""
    gate = threading.Event()

    class Slow:
        name = "slow"

        def read(self, zone: str, at_s: float) -> Reading:
            gate.wait(10.0)
            return Reading(zone, 50.0, "average", at_s, "slow")

    live = LiveReadings(Slow(), refresh_s=60.0)
    ext = Extender(create({"kind": "greencourier"}), live_intensity(live), refresh_s=0.0)
    now = time.time()
    t0 = time.monotonic()
    g, age = ext._signal("FR", now)
    assert time.monotonic() - t0 < 0.5
    assert g == pytest.approx(CarbonTable.load().annual_mean("FR")) and age >= MAX_AGE_S - 1
    gate.set()
    assert live.wait(["FR"], 10.0)
    g, age = ext._signal("FR", time.time())
    assert g == 50.0 and age < 5.0
    with pytest.raises(InputError, match="not both"):
        build(["--source", '{"kind": "table"}', "--intensities", "i.json"])
    with pytest.raises(InputError, match=r"--source\.token"):
        build(["--source", '{"kind": "electricitymaps", "token": "env:NO_SUCH_TOKEN_VAR"}'])


def test_bad_command_line_options_name_the_field() -> None:
    with pytest.raises(InputError, match="--params"):
        build(["--params", "{nope"])
    with pytest.raises(InputError, match=r"placement_policy\.kind"):
        build(["--policy", "greenest-ever"])
    with pytest.raises(InputError, match="tessera"):
        build(["--params", '{"latency_budget_ms": -1}'])


# --- deploy manifests -------------------------------------------------------------------------


def test_manifests_parse_and_reference_consistent_names_and_ports(tmp_path: Path) -> None:
    config = deploy_docs("scheduler-config.yaml")[0]
    assert config["kind"] == "KubeSchedulerConfiguration"
    embedded = next(d for d in deploy_docs("scheduler.yaml") if d["kind"] == "ConfigMap")
    assert yaml.safe_load(embedded["data"]["scheduler-config.yaml"]) == config
    (ext,) = config["extenders"]
    assert ext["nodeCacheCapable"] is False and ext["weight"] > 0
    objs = {(d["kind"], d["metadata"]["name"]): d for d in deploy_docs("extender.yaml")}
    svc = objs[("Service", "tessera-carbon-extender")]
    dep = objs[("Deployment", "tessera-carbon-extender")]
    ns = svc["metadata"]["namespace"]
    assert ("Namespace", ns) in objs and dep["metadata"]["namespace"] == ns
    (port,) = svc["spec"]["ports"]
    assert (
        ext["urlPrefix"]
        == f"http://{svc['metadata']['name']}.{ns}.svc.cluster.local:{port['port']}"
    )
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    (cport,) = container["ports"]
    assert port["targetPort"] == cport["name"]
    args = container["command"][3:]
    assert container["command"][:3] == ["python", "-m", "tessera.control.k8s_extender"]
    assert args[args.index("--port") + 1] == str(cport["containerPort"])
    # the extender starts from exactly these arguments, with the ConfigMap mounted
    (mount,) = container["volumeMounts"]
    for key in ("intensities.json", "zones.json"):
        (tmp_path / key).write_text(
            objs[("ConfigMap", "tessera-carbon-extender-config")]["data"][key]
        )
    local = [a.replace(mount["mountPath"], str(tmp_path)) for a in args]
    built, _ = build(local)
    for verb in (ext["filterVerb"], ext["prioritizeVerb"]):
        status, _, _ = built.route(
            "POST", f"/{verb}", [], (FIXTURES / "filter_args.json").read_bytes()
        )
        assert status == 200
    knative = deploy_docs("knative-service.yaml")[0]
    tmpl = knative["spec"]["template"]
    assert tmpl["spec"]["schedulerName"] == config["profiles"][0]["schedulerName"]
    assert ORIGIN_ANNOTATION in tmpl["metadata"]["annotations"]
    scheduler = next(d for d in deploy_docs("scheduler.yaml") if d["kind"] == "Deployment")
    pod = scheduler["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == embedded["metadata"]["name"]
    assert any(a.endswith("/scheduler-config.yaml") for a in pod["containers"][0]["command"])


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    pytest.importorskip("kubernetes_validate")
    from tessera.platforms.kubernetes.validate import validate_object

    docs = [
        (f, d)
        for f in ("extender.yaml", "scheduler.yaml", "knative-service.yaml")
        for d in deploy_docs(f)
    ]
    assert len(docs) >= 10
    errors = [e for f, d in docs for e in validate_object(d, f)]
    assert errors == []
