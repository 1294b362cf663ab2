"""``stormproof ui``: Locust's web UI against the running stack, for load driven by hand.

Locust runs in the foreground as a subprocess (never imported here), bound to 127.0.0.1, on the
same locustfile and host a scenario would use: the running target's ``load:`` defaults, or
``--locustfile`` and ``--host`` (a host template: ``{entry}``, ``{addr:SERVICE}``). The recorder
is loaded beside the locustfile as in a scenario run. Inject faults from another terminal with
``stormproof fault ...``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import InputInvalid
from harness.load import locust_files, locustfile_problem, recorder_env
from harness.loadconf import DEFAULT_HOST, host_problems, locustfile_file_problem, render_host
from harness.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("ui", help="Locust's web UI against the running stack")
    p.add_argument("--port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="requests/s per user on every user class (default: the locustfile's own wait_time)",
    )
    p.add_argument(
        "--locustfile",
        default=None,
        help="the locustfile to run (default: the running target topology's load.locustfile)",
    )
    p.add_argument(
        "--host",
        default=None,
        help="host template, e.g. 'http://{addr:web}' (default: the target's load.host, "
        f"else {DEFAULT_HOST})",
    )
    p.set_defaults(func=cmd_ui)


def ui_load(
    locustfile: str | None,
    host: str | None,
    default_locustfile: Path | None,
    default_host: str | None,
    services: list[str],
    ports: dict[str, list[str]] | None = None,
) -> tuple[Path, str]:
    """The locustfile and host template the UI runs, or InputInvalid naming the option."""
    if locustfile is not None:
        path = Path(locustfile).resolve()
        where = "--locustfile"
    elif default_locustfile is not None:
        path, where = default_locustfile, "the target topology's load.locustfile"
    else:
        raise InputInvalid(
            "--locustfile: the running target's topology names no load.locustfile; give one"
        )
    problem = locustfile_file_problem(path) or locustfile_problem(path, own_shape_ok=True)
    if problem:
        raise InputInvalid(f"{where}: {path}: {problem}")
    template = host or default_host or DEFAULT_HOST
    problems = host_problems(template, services, ports)
    if problems:
        raise InputInvalid("\n".join(f"--host: {template}: {p}" for p in problems))
    return path, template


def cmd_ui(args: argparse.Namespace) -> int:
    from harness.cli_stack import attach
    from harness.targets import addr_resolver

    if args.rate is not None and args.rate <= 0:
        raise InputInvalid(f"--rate: expected a positive number of requests/s, got {args.rate:g}")
    stack, _data = attach(Settings(), "ui")
    topology = stack.topology
    locustfile, template = ui_load(
        args.locustfile,
        args.host,
        topology.load_locustfile,
        topology.load_host,
        list(topology.services),
        {name: list(svc.ports) for name, svc in topology.services.items()},
    )
    host = render_host(template, topology.entry, addr_resolver(stack))
    log = Path(tempfile.mkdtemp(prefix="stormproof-ui-")) / "requests.jsonl"
    env = {**os.environ, **recorder_env(log, rate=args.rate)}
    # harness.locust_main: Locust's own main with SIGINT restored, so Ctrl-C (or the SIGINT of
    # whoever started `stormproof ui` in the background) stops it
    cmd = [
        sys.executable,
        "-m",
        "harness.locust_main",
        "-f",
        locust_files(locustfile),
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
