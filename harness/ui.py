"""``stormproof ui``: Locust's web UI against the running stack, for load driven by hand.

Locust runs in the foreground as a subprocess (never imported here), bound to 127.0.0.1;
inject faults from another terminal with ``stormproof fault ...``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import Any

from harness.load import DEFAULT_LOCUSTFILE
from harness.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("ui", help="Locust's web UI against the running stack")
    p.add_argument("--port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument("--rate", type=float, default=2.0, help="requests/s per user")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    from harness.cli_stack import attach

    _stack, data = attach(Settings(), "ui")
    host = data["urls"]["entry"]
    log = os.path.join(tempfile.mkdtemp(prefix="stormproof-ui-"), "requests.jsonl")
    env = {**os.environ, "STORMPROOF_RATE": str(args.rate), "STORMPROOF_REQUESTS_FILE": log}
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(DEFAULT_LOCUSTFILE),
        "--host",
        host,
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(args.port),
    ]
    print(f"Locust web UI: http://127.0.0.1:{args.port} (load goes to {host}); Ctrl-C stops it")
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
