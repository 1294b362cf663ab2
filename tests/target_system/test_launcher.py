"""`python -m target_system`: the shop alone, started, serving, and stopped on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_launcher_serves_orders_and_stops_everything(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_system", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("shop up:"):
                break
        urls = json.loads("".join(lines[:-1]))
        body = {"sku": "sku-1", "quantity": 1, "customer": "c", "idempotency_key": uuid.uuid4().hex}
        r = httpx.post(urls["gateway-1"] + "/orders", json=body, timeout=10)
        assert r.status_code == 201 and r.json()["state"] == "COMPLETED"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        for name, url in urls.items():
            if name == "data":
                continue
            host, port = url.removeprefix("http://").split(":")
            with socket.socket() as s:
                assert s.connect_ex((host, int(port))) != 0, f"{name} still listens"
    finally:
        # SIGTERM first: the launcher then stops its children; SIGKILL would orphan them
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()


def test_busy_base_port_exits_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "target_system", "--base-port", str(busy)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert f"port {busy} is busy" in done.stderr
