"""The examples: their files validate (locustfile loaded by Locust's own loader), and the
two-service app behaves as its scenarios assume when run by hand, without the harness."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.targets import load_scenarios
from harness.topology import load_topology

TWO = Path(__file__).resolve().parents[2] / "examples" / "two-service"
REDIS = TWO.parent / "redis-cluster"


def test_the_two_service_example_validates() -> None:
    topology = load_topology(TWO / "topology.yaml")
    assert topology.proxy_mode == "shared" and topology.registry == "none"
    assert topology.load_locustfile == TWO / "locustfile.py"
    scenarios = load_scenarios([str(TWO / "scenarios")])
    assert {s.name for s in scenarios} == {
        "two-service-latency-fallback",
        "two-service-crash-quotes",
        "two-service-pause-quotes",
    }
    assert [s.name for s in scenarios if "smoke" in s.tags] == ["two-service-latency-fallback"]
    assert all(s.duration <= 20 for s in scenarios)


def test_the_redis_cluster_example_validates() -> None:
    topology = load_topology(REDIS / "topology.yaml")
    assert topology.proxy_mode == "shared" and topology.registry == "none"
    assert topology.services["redis"].ports == ("client", "bus")
    assert topology.services["redis"].metrics is None  # its exporters are scraped instead
    assert [s.command[:3] for s in topology.bootstrap] == [["redis-cli", "--cluster", "create"]]
    assert topology.load_locustfile == REDIS / "locustfile.py"
    scenarios = load_scenarios([str(REDIS / "scenarios")])
    assert {s.name for s in scenarios} == {
        "redis-crash-primary",
        "redis-pause-primary",
        "redis-partition-primary",
        "redis-latency-bus",
    }
    assert [s.name for s in scenarios if "smoke" in s.tags] == ["redis-latency-bus"]
    assert all(s.duration <= 25 for s in scenarios)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_without_quotes() -> Iterator[str]:
    port, dead = free_port(), free_port()  # nothing listens on `dead`
    env = {**os.environ, "PORT": str(port), "QUOTES_URL": f"http://127.0.0.1:{dead}"}
    proc = subprocess.Popen([sys.executable, str(TWO / "web.py")], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_web_answers_with_its_fallback_when_quotes_is_unreachable(web_without_quotes: str) -> None:
    answer = httpx.get(web_without_quotes + "/quote", timeout=5)
    assert answer.status_code == 200
    assert json.loads(answer.text)["source"] == "fallback"
    metrics = httpx.get(web_without_quotes + "/metrics", timeout=5).text
    assert 'web_quotes_calls_total{outcome="error"} 2.0' in metrics  # the call and one retry
    assert "web_quote_fallbacks_total 1.0" in metrics
