"""Locust as a subprocess: real Locust against a tiny HTTP server on loopback."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.load import LoadPlan, LocustProcess, RequestTail, wait_spawned


class _Shop(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"order_id": "o-1", "status": "completed"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_locust_stops_on_sigint_and_writes_its_report_even_if_sigint_was_ignored(
    shop: str, tmp_path: Path
) -> None:
    # A background job of a non-interactive shell (`cmd &`, nohup, CI runners) starts with
    # SIGINT ignored, and children inherit that; Locust must still stop on the harness's SIGINT.
    plan = LoadPlan(host=shop, users=2, spawn_rate=2, rate=2, run_time=60)
    proc = LocustProcess(plan, tmp_path, sys.executable)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        tail = RequestTail(proc.requests_file)
        wait_spawned(proc, tail, timeout=30)
    finally:
        rc = proc.stop(timeout=20)
    assert rc is not None and rc != -signal.SIGKILL, "Locust ignored SIGINT and was killed"
    assert (tmp_path / "locust" / "report.html").stat().st_size > 0
