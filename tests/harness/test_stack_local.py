"""The local stack and every fault family against the real Toxiproxy, etcd and Prometheus,
with the bundled shop as the target (real processes, real HTTP over loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.faults import KINDS
from harness.infra import prometheus as prom
from harness.settings import Settings
from harness.stack.local import cleanup_stale
from harness.topology import bundled_topology_path, load_topology

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(shop_stack):
    """The session's shared shop stack, steady (tests/shared_stack.py)."""
    return shop_stack


def via(stack, caller: str, callee_instance: str, path: str = "/stock/sku-1", timeout: float = 3.0):
    """One request through the caller's proxy to a callee instance; (seconds, response)."""
    addr = stack.links_for(caller)[callee_instance]
    t0 = time.perf_counter()
    r = httpx.get(f"http://{addr}{path}", timeout=timeout)
    return time.perf_counter() - t0, r


def test_every_target_is_scraped(stack):
    r = httpx.get(stack.prometheus_url() + "/api/v1/query", params={"query": "up"}, timeout=5)
    up = {s["metric"]["instance"]: s["value"][1] for s in r.json()["data"]["result"]}
    expected = {i.name for i in stack.topology.instances()} | {"toxiproxy", "etcd"}
    assert set(up) == expected
    assert set(up.values()) == {"1"}


def test_scrapes_are_counted_from_a_moment(stack):
    url = stack.prometheus_url()
    since = time.time()
    assert prom.wait_scrapes_since(url, since, scrapes=2, timeout=10)
    # every target's raw samples: at least two stamped at or after `since`
    r = httpx.get(url + "/api/v1/query", params={"query": "up[10s]"}, timeout=5)
    stamps = {
        s["metric"]["instance"]: [t for t, _ in s["values"]] for s in r.json()["data"]["result"]
    }
    assert len(stamps) == len(stack.topology.instances()) + 2  # and Toxiproxy, etcd
    assert all(sum(t >= since for t in ts) >= 2 for ts in stamps.values())
    # 1 s scrapes cannot give 10 samples in the last 3.5 s
    assert not prom.wait_scrapes_since(url, time.time() - 3, scrapes=10, timeout=0.5)


def test_latency_shows_in_timings_and_only_on_its_link(stack):
    base, _ = via(stack, "orders", "inventory-1")
    fault = KINDS["latency"](stack, link="orders->inventory", latency=0.3)
    fault.inject()
    slow, r = via(stack, "orders", "inventory-1")
    other, _ = via(stack, "gateway", "inventory-1")
    fault.revert()
    after, _ = via(stack, "orders", "inventory-1")
    assert r.status_code == 200
    assert slow >= 0.3 > base
    assert other < 0.3 and after < 0.3


def test_partition_cuts_only_the_links_between_groups(stack):
    fault = KINDS["partition"](stack, groups=[["orders"], ["inventory"]])
    fault.inject()
    with pytest.raises(httpx.ReadTimeout):
        via(stack, "orders", "inventory-2", timeout=1.0)
    _, r = via(stack, "gateway", "inventory-2")
    assert r.status_code == 200
    _, r = via(stack, "orders", "payments-1", path="/health")
    assert r.status_code == 200
    fault.revert()
    _, r = via(stack, "orders", "inventory-2")
    assert r.status_code == 200


def test_two_faults_of_one_kind_on_one_link_compose(stack):
    first = KINDS["latency"](stack, link="orders->inventory", latency=0.3)
    second = KINDS["latency"](stack, link="orders->inventory-1", latency=0.3)
    first.inject()
    second.inject()  # its own toxic names: Toxiproxy chains both
    both, r = via(stack, "orders", "inventory-1")
    first.revert()
    one, _ = via(stack, "orders", "inventory-1")
    second.revert()
    none, _ = via(stack, "orders", "inventory-1")
    assert r.status_code == 200
    assert both >= 0.6 and 0.3 <= one < 0.6 and none < 0.3


def test_partition_isolates_one_callee_instance(stack):
    fault = KINDS["partition"](stack, groups=[["orders", "gateway"], ["inventory-1"]])
    assert sorted(fault.links) == ["gateway->inventory-1", "orders->inventory-1"]
    fault.inject()
    with pytest.raises(httpx.ReadTimeout):
        via(stack, "orders", "inventory-1", timeout=1.0)
    _, r = via(stack, "orders", "inventory-2")
    assert r.status_code == 200
    fault.revert()
    _, r = via(stack, "orders", "inventory-1")
    assert r.status_code == 200


def test_one_way_partition_drops_the_response_after_the_work(stack):
    fault = KINDS["partition"](stack, groups=[["orders"], ["payments"]], direction="response")
    fault.inject()
    addr = stack.links_for("orders")["payments-1"]
    # orders' credential for payments (the bundled topology's `secrets:`), as orders sends it
    token = stack.secrets.current()["payments_token"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"http://{addr}/charges",
            json={"saga_id": "oneway-1", "customer": "c", "amount": 100},
            headers={"Authorization": f"Bearer {token}"},
            timeout=1.0,
        )
    fault.revert()
    ledger = httpx.get(stack.instance_url("payments-1") + "/audit", timeout=5).json()["ledger"]
    assert [e["kind"] for e in ledger if e["saga_id"] == "oneway-1"] == ["charge"]


@pytest.mark.parametrize(
    ("kind", "params", "error"),
    [
        ("reset_peer", {}, (httpx.RemoteProtocolError, httpx.ReadError)),
        ("blackhole", {}, httpx.ReadTimeout),
        ("down", {}, httpx.ConnectError),
        ("limit_data", {"bytes": 10}, (httpx.RemoteProtocolError, httpx.ReadError)),
    ],
)
def test_link_faults_give_the_expected_client_errors(stack, kind, params, error):
    fault = KINDS[kind](stack, link="orders->shipping", **params)
    fault.inject()
    with pytest.raises(error):
        via(stack, "orders", "shipping-1", path="/health", timeout=1.0)
    fault.revert()
    _, r = via(stack, "orders", "shipping-1", path="/health")
    assert r.status_code == 200


def test_crash_removes_process_and_registry_key_then_restart_registers_again(stack):
    before = {m["instance"]: m["incarnation"] for m in stack.registry_members()}
    fault = KINDS["crash"](stack, instance="payments-2")
    fault.inject()
    assert not stack.is_running("payments-2")
    t0 = time.monotonic()
    while "payments-2" in {m["instance"] for m in stack.registry_members()}:
        assert time.monotonic() - t0 < stack.topology.lease_ttl + 3, "key outlived the lease"
        time.sleep(0.2)
    assert time.monotonic() - t0 >= 1.0  # the key goes with the lease, not at once
    fault.revert()
    after = {m["instance"]: m["incarnation"] for m in stack.registry_members()}
    assert after["payments-2"] != before["payments-2"]


def test_pause_freezes_and_resume_recovers(stack):
    fault = KINDS["pause"](stack, instance="shipping-1")
    fault.inject()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(stack.instance_url("shipping-1") + "/health", timeout=0.5)
    fault.revert()
    assert httpx.get(stack.instance_url("shipping-1") + "/health", timeout=3).status_code == 200


def test_down_after_the_harness_was_killed_leaves_nothing(tmp_path):
    env = {**os.environ, "STORMPROOF_STATE_DIR": str(tmp_path)}
    up = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for line in up.stdout:  # wait until it says it is up
            if b"Ctrl-C stops everything" in line:
                break
        states = list((tmp_path / "stacks").glob("*.json"))
        assert len(states) == 1
        pids = [p["pid"] for p in json.loads(states[0].read_text())["processes"]]
        expected = len(load_topology(bundled_topology_path()).instances()) + 4
        assert len(pids) == expected  # every instance, etcd, Toxiproxy, Prometheus, Jaeger
        os.killpg(up.pid, signal.SIGKILL)
        up.wait(timeout=5)
        out = subprocess.run(
            [sys.executable, "-m", "harness.cli", "down"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"stopped {expected} processes" in out.stdout
        for pid in pids:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
            )
        assert not list((tmp_path / "stacks").glob("*.json"))
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(timeout=5)
        up.stdout.close()
        cleanup_stale(Settings(state_dir=tmp_path), everything=True)


def test_slow_close_delays_the_end_of_the_connection(stack):
    import socket

    host, port = stack.links_for("orders")["shipping-1"].split(":")

    def until_eof() -> float:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            t0 = time.perf_counter()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
            return time.perf_counter() - t0

    fault = KINDS["slow_close"](stack, link="orders->shipping", delay=0.5)
    fault.inject()
    slow = until_eof()
    fault.revert()
    assert slow >= 0.5
    assert until_eof() < 0.5
