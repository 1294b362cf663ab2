"""``python -m target_system``: the shop on its own, without the harness.

Starts etcd (its own data directory, explicit loopback client and peer ports) and every
instance of topology.yaml natively, with no proxies (empty link maps), waits until every
instance answers /health, prints the URLs, and on Ctrl-C or SIGTERM stops everything it
started, by the PIDs it recorded. Bad settings or a busy port: one message, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

TOPOLOGY = Path(__file__).with_name("topology.yaml")
HOST = "127.0.0.1"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _ports(base: int, count: int) -> list[int]:
    if base == 0:
        out = []
        for _ in range(count):
            with socket.socket() as s:
                s.bind((HOST, 0))
                out.append(s.getsockname()[1])
        return out
    ports = list(range(base, base + count))
    busy = [p for p in ports if not _free(p)]
    if busy:
        raise SystemExit(f"target_system: port {busy[0]} is busy (--base-port {base})")
    return ports


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _discovered(urls: dict[str, str], expected: dict[str, int]) -> bool:
    """Every shop_discovery_instances gauge of every instance shows all callee instances."""
    for url in urls.values():
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=1) as r:
                text = r.read().decode()
        except OSError:
            return False
        for line in text.splitlines():
            if line.startswith("shop_discovery_instances{"):
                callee = line.split('callee="', 1)[1].split('"', 1)[0]
                if float(line.rsplit(" ", 1)[1]) < expected.get(callee, 1):
                    return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m target_system", description=__doc__)
    ap.add_argument("--base-port", type=int, default=0, help="ports from here (default: OS)")
    ap.add_argument("--data-dir", type=Path, help="data directory (default: a temporary one)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to become healthy")
    args = ap.parse_args(argv)
    etcd = shutil.which("etcd")
    if etcd is None:
        print("target_system: etcd not found; apt-get install etcd-server", file=sys.stderr)
        return 3
    topo = yaml.safe_load(TOPOLOGY.read_text())
    instances = [
        (svc, f"{svc}-{i}")
        for svc, spec in topo["services"].items()
        for i in range(1, spec.get("instances", 1) + 1)
    ]
    try:
        ports = _ports(args.base_port, len(instances) + 2)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="shop-"))
    client, peer = f"http://{HOST}:{ports[0]}", f"http://{HOST}:{ports[1]}"
    procs: list[tuple[str, subprocess.Popen]] = []

    def spawn(name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(data / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        procs.append(
            (
                name,
                subprocess.Popen(
                    cmd,
                    env={**os.environ, **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
            )
        )
        log.close()

    def stop_all() -> None:
        for _name, p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGCONT)
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for _name, p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        data.mkdir(parents=True, exist_ok=True)
        spawn(
            "etcd",
            [
                etcd,
                "--name",
                "shop",
                "--data-dir",
                str(data / "etcd"),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"shop={peer}",
                "--log-level",
                "warn",
            ],
        )
        urls = {}
        for (svc, name), port in zip(instances, ports[2:], strict=True):
            (data / svc).mkdir(exist_ok=True)
            env = {
                "SHOP_SERVICE": svc,
                "SHOP_INSTANCE": name,
                "SHOP_PORT": str(port),
                "SHOP_ETCD_URL": client,
                "SHOP_DATA_DIR": str(data / svc),
                "SHOP_LINKS": "{}",
            }
            spawn(name, [sys.executable, "-m", "target_system.service"], env)
            urls[name] = f"http://{HOST}:{port}"
        deadline = time.monotonic() + args.timeout
        pending = dict(urls)
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                if _healthy(url + "/health"):
                    del pending[name]
            dead = [n for n, p in procs if p.poll() is not None]
            if dead:
                print(
                    f"target_system: {dead[0]} exited; see {data / (dead[0] + '.log')}",
                    file=sys.stderr,
                )
                return 2
            time.sleep(0.1)
        # healthy is not enough: callers must also see every instance of their callees
        expected = {svc: spec.get("instances", 1) for svc, spec in topo["services"].items()}
        while not pending and time.monotonic() < deadline and not _discovered(urls, expected):
            time.sleep(0.1)
        if pending or time.monotonic() >= deadline:
            waiting = ", ".join(pending) or "discovery of every instance"
            print(f"target_system: not ready within {args.timeout:g}s: {waiting}", file=sys.stderr)
            return 3
        print(json.dumps({"registry": client, **urls, "data": str(data)}, indent=2))
        print(f"shop up: POST {urls['gateway-1']}/orders; Ctrl-C stops everything", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
