"""``stormproof ui`` end to end: the stack up, Locust's web UI opened in headless Chromium, a
swarm started through Locust's HTTP API, requests reaching the gateway, everything stopped."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.settings import Settings
from harness.stack.local import cleanup_stale
from tests.harness.test_report_browser import CHROMIUM, chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.integration]


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def orders_served(gateway: str) -> float:
    """POST /orders the gateway has answered, from its own Prometheus counter."""
    text = httpx.get(f"{gateway}/metrics", timeout=5).text
    pattern = r"^shop_http_requests_total\{([^}]*)\} ([0-9.e+]+)$"
    return sum(
        float(m.group(2))
        for m in re.finditer(pattern, text, re.M)
        if 'method="POST"' in m.group(1) and "/orders" in m.group(1)
    )


def wait_for(what: str, probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_locust_ui_drives_load_through_the_gateway_and_everything_stops(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed at /usr/bin/chromium (scripts/setup.sh installs it)")
    env = {**os.environ, "STORMPROOF_STATE_DIR": str(tmp_path / "state")}
    ui = None
    pids: list[int] = []
    try:
        up = cli(env, "up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr
        (state,) = (tmp_path / "state" / "stacks").glob("*.json")
        data = json.loads(state.read_text())
        pids = [p["pid"] for p in data["processes"]]
        gateway = data["urls"]["entry"]
        port = free_port()
        ui = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "ui", "--port", str(port), "--rate", "2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        web = f"http://127.0.0.1:{port}"
        wait_for("Locust's web UI", lambda: httpx.get(web, timeout=2).status_code == 200)

        # the page, rendered by a real browser: Locust's start form
        page = chromium(tmp_path, "profile", "--virtual-time-budget=8000", "--dump-dom", web)
        assert "<title>Locust</title>" in page.stdout
        assert "Number of users" in page.stdout, page.stdout[-2000:]

        before = orders_served(gateway)
        swarm = httpx.post(f"{web}/swarm", data={"user_count": 4, "spawn_rate": 4,
                                                 "host": gateway}, timeout=10)  # fmt: skip
        assert swarm.status_code == 200 and swarm.json()["success"], swarm.text

        def locust_requests() -> int:
            stats = httpx.get(f"{web}/stats/requests", timeout=5).json()
            total = [s for s in stats["stats"] if s["name"] == "Aggregated"]
            return total[0]["num_requests"] if total else 0

        wait_for("Locust to count requests", lambda: locust_requests() >= 10)
        served = wait_for("the gateway to serve orders", lambda: orders_served(gateway) - before)
        assert served >= 5
        assert httpx.post(f"{web}/stop", timeout=10).status_code == 200

        # SIGTERM, not SIGINT: a shell without job control starts background jobs with SIGINT
        # ignored, and the ignore is inherited; Locust quits on SIGTERM, the ui command dies
        os.killpg(ui.pid, signal.SIGTERM)
        assert ui.wait(timeout=30) is not None
        down = cli(env, "down")
        assert down.returncode == 0 and f"stopped {len(pids)} processes" in down.stdout
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat")
            assert not stat.exists() or stat.read_text().split()[2] == "Z", f"pid {pid} alive"
        wait_for("Locust's web UI to stop", lambda: not listening(port))
    finally:
        if ui is not None:
            with contextlib.suppress(ProcessLookupError):  # ui and its Locust share the group
                os.killpg(ui.pid, signal.SIGKILL)
            ui.wait(timeout=10)
            ui.stdout.close()
        cleanup_stale(Settings(state_dir=tmp_path / "state"), everything=True)
