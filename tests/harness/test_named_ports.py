"""Topology v2: named ports, health on a named port over HTTP or TCP, metrics on a named port,
links to a callee's named port, and the member-list templates of clustered systems."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from harness.errors import FaultError, TopologyInvalid
from harness.faults import KINDS
from harness.faults.network import blast_radius, resolve_link
from harness.settings import Settings
from harness.stack.local import LocalStack, healthy
from harness.targets import facts_of
from harness.topology import Endpoint, load_topology

MEMBERS = Path(__file__).parent / "fixtures" / "member_topology.yaml"

API = """
services:
  api:
    command: [x, "{port}", "{proxy:ledger:grpc}", "{proxy:ledger}"]
  ledger:
    instances: 2
    ports: [http, grpc]
    command: [y, "{port:grpc}", "{port:http}"]
    health: {port: http, path: /ready}
    metrics: {port: http, path: /m}
links:
  - api -> ledger:grpc
  - api -> ledger
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_topology(path)


def test_named_ports_links_and_proxies(tmp_path):
    t = _load(tmp_path, API)
    ledger = t.services["ledger"]
    assert ledger.ports == ("http", "grpc") and ledger.main_port == "http"
    assert ledger.health == Endpoint("http", "/ready")
    assert ledger.metrics == Endpoint("http", "/m")
    # a service that lists no port has one, `main`; a path string is HTTP on the first port
    assert t.services["api"].ports == ("main",)
    assert t.services["api"].health == Endpoint("main", "/health")
    # one proxy per (caller, callee instance, port); the first port keeps the short name
    assert sorted(p.name for p in t.proxies()) == [
        "api--ledger-1",
        "api--ledger-1--grpc",
        "api--ledger-2",
        "api--ledger-2--grpc",
    ]
    assert {p.port for p in t.proxies() if p.name.endswith("--grpc")} == {"grpc"}
    # a fault on the link reaches every port; on link:port only that port
    assert resolve_link(t, "api->ledger:grpc") == ["api--ledger-1--grpc", "api--ledger-2--grpc"]
    assert resolve_link(t, "api->ledger-2") == ["api--ledger-2", "api--ledger-2--grpc"]
    assert resolve_link(t, "api->ledger-2:http") == ["api--ledger-2"]
    with pytest.raises(FaultError, match="unknown link"):
        resolve_link(t, "api->ledger:admin")
    facts = facts_of(t)
    assert facts.links == [("api", "ledger")]
    assert facts.link_ports[("api", "ledger")] == ["grpc", "http"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services: {a: {command: [x]}, b: {command: [y], ports: [p]}}\nlinks: [a -> b:q]\n",
            "t.yaml:2: links[0]: b has no port 'q'; its ports: p",
        ),
        (
            "services: {a: {command: ['{port:admin}'], ports: [http]}}\n",
            "{port:admin}: a has no port 'admin'; its ports: http",
        ),
        (
            "services: {a: {command: [x], ports: [http, http]}}\n",
            "services.a.ports: a port name appears twice",
        ),
        (
            "services: {a: {command: [x], health: {port: nope, path: /h}}}\n",
            "services.a.health.port: unknown port 'nope'; a's ports: main",
        ),
        (
            "services: {a: {command: [x], health: {path: /h, tcp: true}}}\n",
            "services.a.health: expected exactly one of `path` (HTTP) or `tcp: true`",
        ),
        (
            "services: {a: {command: [x], metrics: {tcp: true}}}\n",
            "services.a.metrics.tcp: only health can be a TCP connect",
        ),
        (
            "services: {a: {command: ['{proxy:b:p}']}, b: {command: [y], ports: [p, q]}}\n"
            "links: [a -> b:q]\n",
            "{proxy:b:p}: no link a -> b:p, so no proxy to it",
        ),
        (
            "services: {a: {command: ['{proxy:b:q:3}']}, b: {command: [y], ports: [p, q]}}\n"
            "links: [a -> b:q]\n",
            "{proxy:b:q:3}: b has instances 1..1, not '3'",
        ),
        (
            "services: {a: {command: ['{advertise:p}'], ports: [p]}}\n",
            "{advertise:p}: no proxy in front of a:p (needs a link from itself to a:p)",
        ),
        (
            "services: {a: {command: [x]}, b: {command: [y]}}\nlinks: [a -> b, a -> b:main]\n",
            "links[1]: duplicate link a -> b:main",
        ),
    ],
)
def test_bad_named_ports_are_located(tmp_path, text, message):
    with pytest.raises(TopologyInvalid) as err:
        _load(tmp_path, text)
    assert message in str(err.value).replace(str(tmp_path) + "/", "")


def test_member_list_templates_include_every_member_and_its_own_proxy(tmp_path):
    t = load_topology(MEMBERS)
    stack = LocalStack(t, Settings(state_dir=tmp_path / "state"), tmp_path / "run")
    values = {i.name: stack.template_values(i.name) for i in t.instances()}
    peers = {v["proxy:member:peer"] for v in values.values()}
    assert len(peers) == 1  # one member list, the same for everyone
    for inst in t.instances():
        own = values[inst.name]
        assert own["advertise:peer"] == own[f"proxy:member:peer:{inst.index}"]
        assert own["advertise:peer"] in own["proxy:member:peer"].split(",")
        _cmd, env = t.render(inst, {"python": "py", **own})
        assert env["PEERS"] == own["proxy:member:peer"]


def test_tcp_health_is_a_connect(tmp_path):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        addr = f"127.0.0.1:{srv.getsockname()[1]}"
        assert healthy(addr, Endpoint("p", None))
    assert not healthy(addr, Endpoint("p", None), timeout=0.5)


@pytest.mark.integration
def test_two_port_members_behind_shared_proxies(tmp_path):
    """Real Toxiproxy and Prometheus: TCP health on the peer port, metrics scraped on the
    http port, every member reaching every member (itself too) through the member list, and a
    fault on `member->member-2:peer` cutting exactly that member's peer port."""
    t = load_topology(MEMBERS)
    stack = LocalStack(t, Settings(state_dir=tmp_path / "state"), tmp_path / "run")
    with stack:  # start() waited for TCP health and for Prometheus to scrape all 3 + infra
        peers = httpx.get(stack.instance_url("member-1", "http") + "/peers", timeout=10).json()
        assert sorted(peers["peers"].values()) == [f"pong from member-{i}" for i in (1, 2, 3)]
        assert peers["advertise"] == stack.template_values("member-1")["advertise:peer"]
        up = httpx.get(
            stack.prometheus_url() + "/api/v1/query", params={"query": "member_up"}, timeout=5
        ).json()["data"]["result"]
        assert sorted(r["metric"]["member"] for r in up) == ["member-1", "member-2", "member-3"]
        assert blast_radius(t, "member->member-2:peer") == ["member->member:peer"]
        down = KINDS["down"](stack, link="member->member-2:peer")
        down.inject()
        try:
            cut = httpx.get(stack.instance_url("member-3", "http") + "/peers", timeout=10).json()
        finally:
            down.revert()
        answers = cut["peers"]
        member2 = stack.template_values("member-3")["proxy:member:peer:2"]
        assert answers[member2].startswith("unreachable")
        assert sorted(v for k, v in answers.items() if k != member2) == [
            "pong from member-1",
            "pong from member-3",
        ]
        time.sleep(0.2)
        back = httpx.get(stack.instance_url("member-3", "http") + "/peers", timeout=10).json()
        assert back["peers"][member2] == "pong from member-2"


SCENARIO = """name: cut-member-2
target: {target}
load: {{users: 1, spawn_rate: 1, rate: 1}}
phases:
  - {{name: baseline, duration: 2s}}
  - {{name: fault, duration: 2s}}
faults:
  - {{at: 2s, for: 2s, kind: down, link: "{link}"}}
expect:
  - slo: {{phase: baseline, min_success_rate: 0.5}}
"""


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("member -> member-2:peer", None),
        ("member -> member-2", None),
        ("member -> member-2:http", "member reaches member on port(s) peer, not 'http'"),
    ],
)
def test_scenario_links_name_ports(tmp_path, link, problem):
    from harness.errors import InputInvalid
    from harness.targets import load_scenarios

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(target=MEMBERS, link=link))
    if problem is None:
        [scenario] = load_scenarios([str(path)])
        assert scenario.faults[0].link == link
        return
    with pytest.raises(InputInvalid) as err:
        load_scenarios([str(path)])
    assert "s.yaml:8: faults[0].link: " + problem in str(err.value).replace(f"{tmp_path}/", "")


PER_INSTANCE = Path(__file__).parent / "fixtures" / "member_instance_topology.yaml"


class _Stack:
    def __init__(self, topology):
        self.topology = topology


def test_per_instance_proxies_let_one_member_be_cut_off_both_ways():
    t = load_topology(PER_INSTANCE)
    names = sorted(p.name for p in t.proxies())
    assert len(names) == 9 and "member-2--member-3--peer" in names
    assert resolve_link(t, "member-2->member-3") == ["member-2--member-3--peer"]
    assert resolve_link(t, "member->member-3:peer") == [
        f"member-{i}--member-3--peer" for i in (1, 2, 3)
    ]
    part = KINDS["partition"](_Stack(t), groups=[["member-2"], ["member-1", "member-3"]])
    assert sorted(part.links) == [
        "member-1->member-2:peer",
        "member-2->member-1:peer",
        "member-2->member-3:peer",
        "member-3->member-2:peer",
    ]
    proxies = sorted(p for fault in part.parts for p in fault.proxies)
    assert proxies == [
        "member-1--member-2--peer",
        "member-2--member-1--peer",
        "member-2--member-3--peer",
        "member-3--member-2--peer",
    ]


def test_per_instance_refuses_advertise(tmp_path):
    text = (
        "proxy_mode: per_instance\nservices: {a: {command: ['{advertise:p}'], ports: [p]}}\n"
        "links: [a -> a:p]\n"
    )
    with pytest.raises(TopologyInvalid, match="no one address to advertise"):
        _load(tmp_path, text)


@pytest.mark.integration
def test_per_instance_partition_isolates_one_member(tmp_path):
    """Real Toxiproxy: a partition of member-2 from the other two cuts its calls to them and
    theirs to it; each member still reaches itself, and everything heals on revert."""
    t = load_topology(PER_INSTANCE)
    stack = LocalStack(t, Settings(state_dir=tmp_path / "state"), tmp_path / "run")

    def answers(instance: str) -> dict[int, str]:
        got = httpx.get(stack.instance_url(instance, "http") + "/peers", timeout=10).json()
        values = stack.template_values(instance)
        return {i: got["peers"][values[f"proxy:member:peer:{i}"]] for i in (1, 2, 3)}

    with stack:
        assert answers("member-2") == {i: f"pong from member-{i}" for i in (1, 2, 3)}
        part = KINDS["partition"](stack, groups=[["member-2"], ["member-1", "member-3"]])
        part.inject()
        try:
            two, one = answers("member-2"), answers("member-1")
        finally:
            part.revert()
        # a partition is a black hole: the ping times out ("unreachable") on a cut link
        assert two[2] == "pong from member-2" and two[1] != "pong from member-1"
        assert two[3] != "pong from member-3"
        assert one[1] == "pong from member-1" and one[3] == "pong from member-3"
        assert one[2] != "pong from member-2"
        assert answers("member-3") == {i: f"pong from member-{i}" for i in (1, 2, 3)}


SIDECAR = """
proxy_mode: shared
services:
  node: {instances: 2, ports: [client, monitor], command: [n, "{port:client}", "{port:monitor}"]}
  exporter:
    instances: 2
    command: [e, --scrape, "http://{proxy:node:monitor:{index}}", --listen, "{port}"]
links: [exporter -> node:monitor]
"""


def test_a_sidecar_reaches_its_own_counterpart_with_index(tmp_path):
    t = _load(tmp_path, SIDECAR)
    stack = LocalStack(t, Settings(state_dir=tmp_path / "state"), tmp_path / "run")
    for inst in t.instances_of("exporter"):
        values = stack.template_values(inst.name)
        cmd, _ = t.render(inst, {"python": "py", "port": 1, **values})
        assert cmd[2] == "http://" + values[f"proxy:node:monitor:{inst.index}"]
    with pytest.raises(TopologyInvalid, match="exporter has 3 instances but node only 2"):
        _load(
            tmp_path,
            SIDECAR.replace("instances: 2\n    command: [e", "instances: 3\n    command: [e"),
        )


def test_host_templates_reach_a_named_port(tmp_path):
    from harness.loadconf import render_host
    from harness.targets import addr_resolver

    t = load_topology(MEMBERS)
    assert t.load_host == "http://{addr:member:http}"
    stack = LocalStack(t, Settings(state_dir=tmp_path / "state"), tmp_path / "run")
    host = render_host(t.load_host, t.entry, addr_resolver(stack))
    assert host == "http://" + stack.address("member-1", "http")
    assert host != "http://" + stack.address("member-1", "peer")
    bad = MEMBERS.read_text().replace("{addr:member:http}", "{addr:member:admin}")
    (tmp_path / "member_locustfile.py").write_text(
        (MEMBERS.parent / "member_locustfile.py").read_text()
    )
    with pytest.raises(TopologyInvalid, match="unknown port 'admin' of member; known: http, peer"):
        _load(tmp_path, bad)


@pytest.mark.integration
def test_an_interrupt_while_the_stack_stops_is_held_until_everything_is_stopped(
    tmp_path, monkeypatch
):
    """SIGTERM (turned into KeyboardInterrupt, as `stormproof run` does) arriving while the
    first process is being stopped must not leave the others running."""
    import os
    import signal

    import harness.stack.local as local
    from harness.runner import install_interrupt_handler

    t = load_topology(MEMBERS)
    stack = LocalStack(t, Settings(state_dir=tmp_path / "state"), tmp_path / "run")
    stack.start()
    records = list(stack.records.values())
    real_stop = local.stop_process
    calls = []

    def stop_and_get_interrupted(rec, *args, **kwargs):
        if not calls:
            os.kill(os.getpid(), signal.SIGTERM)
        calls.append(rec.name)
        return real_stop(rec, *args, **kwargs)

    monkeypatch.setattr(local, "stop_process", stop_and_get_interrupted)
    old = signal.getsignal(signal.SIGTERM)
    install_interrupt_handler()
    try:
        with pytest.raises(KeyboardInterrupt):
            stack.stop()
    finally:
        signal.signal(signal.SIGTERM, old)
    assert len(calls) == len(records)
    assert not [r.name for r in records if r.alive()]
