"""Locust as a subprocess, and the live view of its request log.

Locust is never imported here: it monkey-patches the process with gevent. The locustfile writes
one JSONL line per request; :class:`RequestTail` reads it incrementally so the runner can show
live throughput and evaluate abort conditions without waiting for Locust's smoothed stats.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError, InfraUnavailable
from harness.procs import ProcessRecord, spawn
from harness.settings import REPO_ROOT

DEFAULT_LOCUSTFILE = REPO_ROOT / "scenarios" / "locustfile.py"


class ProcessTracker(Protocol):
    """Where Locust's processes are recorded: the stack's state file (``LocalStack.adopt``)."""

    def adopt(self, rec: ProcessRecord) -> None: ...
    def forget(self, name: str) -> None: ...


@dataclass(frozen=True)
class LoadPlan:
    host: str  # base URL of the entry service
    users: int
    spawn_rate: float
    rate: float  # requests per second per user
    stages: tuple[dict, ...] = ()
    run_time: float = 60.0  # a hard bound: Locust stops by itself after this
    seed: int = 0
    workers: int = 0  # Locust distributed mode: 0 = one local process
    locustfile: Path = DEFAULT_LOCUSTFILE
    extra_env: dict[str, str] = field(default_factory=dict)


class LocustProcess:
    """One headless Locust run (master plus workers when distributed)."""

    def __init__(
        self, plan: LoadPlan, out_dir: Path, python: str, tracker: ProcessTracker | None = None
    ) -> None:
        self.plan = plan
        self.out_dir = out_dir
        self.python = python
        self.requests_file = out_dir / "requests.jsonl"
        self.tracker = tracker
        self._procs: list[subprocess.Popen] = []
        self._records: list[ProcessRecord] = []

    def _spawn(self, name: str, cmd: list[str], log: Path) -> None:
        # recorded (in the stack's state file) before it runs: a killed harness leaves no
        # Locust that 'stormproof down' cannot find
        recorded = self.tracker.adopt if self.tracker is not None else None
        proc, rec = spawn(name, cmd, self._env(), log, recorded=recorded)
        self._procs.append(proc)
        self._records.append(rec)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            STORMPROOF_REQUESTS_FILE=str(self.requests_file),
            STORMPROOF_RATE=str(self.plan.rate),
            STORMPROOF_STAGES=json.dumps(list(self.plan.stages)),
            STORMPROOF_SEED=str(self.plan.seed),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.plan.extra_env)
        return env

    def start(self) -> None:
        locust_dir = self.out_dir / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        self.requests_file.touch()
        locustfile = str(self.plan.locustfile)
        base = [self.python, "-m", "harness.locust_main", "-f", locustfile, "--skip-log-setup"]
        cmd = [
            *base,
            "--headless",
            "--host",
            self.plan.host,
            "-u",
            str(self.plan.users),
            "-r",
            str(self.plan.spawn_rate),
            "--run-time",
            f"{int(self.plan.run_time) + 1}s",
            "--stop-timeout",
            "5",
            "--csv",
            str(locust_dir / "stats"),
            "--csv-full-history",
            "--html",
            str(locust_dir / "report.html"),
            "--json-file",
            str(locust_dir / "stats"),
            "--exit-code-on-error",
            "0",
            "--only-summary",
        ]
        log = locust_dir / "locust.log"
        if self.plan.workers > 0:
            cmd += [
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(_free_port()),
                "--expect-workers",
                str(self.plan.workers),
            ]
            master_port = cmd[cmd.index("--master-bind-port") + 1]
        self._spawn("load:locust", cmd, log)
        for i in range(self.plan.workers):
            worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", master_port]
            self._spawn(f"load:locust-worker-{i + 1}", worker, log)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def running(self) -> bool:
        return bool(self._procs) and self._procs[0].poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """Ask Locust to stop and kill it after ``timeout``.

        SIGINT, not SIGTERM: on SIGTERM Locust exits without writing its HTML report.
        """
        if not self._procs:
            return None
        master = self._procs[0]
        if master.poll() is None:
            master.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for proc, rec in zip(self._procs, self._records, strict=True):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rec.signal(signal.SIGKILL)  # its group, while the PID is still this process
                proc.wait(timeout=5)
            if self.tracker is not None:
                self.tracker.forget(rec.name)
        return master.returncode

    def failed_to_start(self) -> str | None:
        master = self._procs[0] if self._procs else None
        if master is not None and master.poll() is not None and master.returncode != 0:
            tail = (self.out_dir / "locust" / "locust.log").read_text(errors="replace")[-2000:]
            return f"Locust exited with status {master.returncode}:\n{tail}"
        return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveStats:
    spawned_at: float | None = None
    requests: int = 0
    failures: int = 0


class RequestTail:
    """Reads the request log as it grows; keeps a short window for live rates."""

    def __init__(self, path: Path, window: float = 60.0) -> None:
        self.path = path
        self.window = window
        self.stats = LiveStats()
        self._pos = 0
        self._partial = ""
        self._recent: deque[tuple[float, bool]] = deque()

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as f:
            f.seek(self._pos)
            chunk = f.read()
            self._pos = f.tell()
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("event") == "spawned":
                if self.stats.spawned_at is None:
                    self.stats.spawned_at = float(rec["t"])
                continue
            end = float(rec["t"]) + float(rec.get("ms", 0)) / 1000
            ok = bool(rec.get("ok"))
            self.stats.requests += 1
            self.stats.failures += 0 if ok else 1
            self._recent.append((end, ok))
        horizon = time.time() - self.window
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()

    def recent(self, seconds: float) -> tuple[int, int]:
        """(requests, failures) that ended in the last ``seconds``."""
        since = time.time() - seconds
        total = failed = 0
        for end, ok in reversed(self._recent):
            if end < since:
                break
            total += 1
            failed += 0 if ok else 1
        return total, failed


def wait_spawned(proc: LocustProcess, tail: RequestTail, timeout: float) -> float:
    """Block until Locust reports every user spawned; return that time (the scenario clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail.poll()
        if tail.stats.spawned_at is not None:
            return tail.stats.spawned_at
        problem = proc.failed_to_start()
        if problem:
            raise InfraUnavailable(problem)
        time.sleep(0.1)
    raise HarnessError(f"Locust did not spawn its users within {timeout:.0f}s")
