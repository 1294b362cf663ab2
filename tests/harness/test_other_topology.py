"""The harness on a system that is not the shop: shared proxies, {proxy:SERVICE}, no registry."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from harness.faults import KINDS
from harness.faults.network import blast_radius
from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.topology import load_topology

TOPOLOGY = Path(__file__).parent / "fixtures" / "echo_topology.yaml"


@pytest.mark.integration
def test_shared_proxy_topology_runs_and_takes_a_fault(tmp_path):
    topology = load_topology(TOPOLOGY)
    assert [p.name for p in topology.proxies()] == ["any--backend-1"]
    assert blast_radius(topology, "frontend->backend") == ["frontend->backend"]
    stack = LocalStack(topology, Settings(state_dir=tmp_path / "state"), tmp_path / "run")
    with stack:
        url = stack.entry_url() + "/call"
        assert httpx.get(url, timeout=5).text == "via proxy: hello from backend-1"
        fault = KINDS["latency"](stack, link="frontend->backend", latency=0.3)
        fault.inject()
        t0 = time.perf_counter()
        httpx.get(url, timeout=5)
        slow = time.perf_counter() - t0
        fault.revert()
        assert slow >= 0.3
