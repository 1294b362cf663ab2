"""Locust as a subprocess, the check that a locustfile loads, and the live view of its log.

Locust is never imported here: it monkey-patches the process with gevent. Locust runs the
user's locustfile as written, with the harness's recorder (``harness/locust_recorder.py``)
loaded beside it (``-f USER,RECORDER``): the recorder writes one JSONL line per request, and
:class:`RequestTail` reads it incrementally so the runner can show live throughput and evaluate
abort conditions without waiting for Locust's smoothed stats.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError, InfraUnavailable
from harness.procs import ProcessRecord, spawn

RECORDER = Path(__file__).resolve().with_name("locust_recorder.py")
CHECK_TIMEOUT = 60.0  # seconds for a locustfile to import (Locust and gevent included)


class ProcessTracker(Protocol):
    """Where Locust's processes are recorded: the stack's state file (``LocalStack.adopt``)."""

    def adopt(self, rec: ProcessRecord) -> None: ...
    def forget(self, name: str) -> None: ...


@dataclass(frozen=True)
class LoadPlan:
    host: str  # the rendered host URL (--host)
    locustfile: Path  # the user's locustfile, run as written
    users: int
    spawn_rate: float
    rate: float | None = None  # requests/s per user on every user class; None: their own
    stages: tuple[dict, ...] = ()
    run_time: float = 60.0  # a hard bound: Locust stops by itself after this
    seed: int = 0
    workers: int = 0  # Locust distributed mode: 0 = one local process
    trace_sample: float = 1.0  # the share of requests whose traceparent says "sampled"
    extra_env: dict[str, str] = field(default_factory=dict)


def recorder_env(
    requests_file: Path | None,
    rate: float | None = None,
    stages: tuple[dict, ...] | list[dict] = (),
    seed: int | None = None,
    trace_sample: float | None = 1.0,
) -> dict[str, str]:
    """The environment the recorder reads; a setting left out is not applied. ``trace_sample``:
    the share of requests whose traceparent is flagged sampled (None: no traceparent)."""
    env = {"STORMPROOF_STAGES": json.dumps(list(stages))}
    env["STORMPROOF_TRACEPARENT"] = "" if trace_sample is None else repr(float(trace_sample))
    if requests_file is not None:
        env["STORMPROOF_REQUESTS_FILE"] = str(requests_file)
    env["STORMPROOF_RATE"] = "" if rate is None else repr(float(rate))
    env["STORMPROOF_SEED"] = "" if seed is None else str(seed)
    return env


def locust_files(locustfile: Path) -> str:
    """``-f``'s value: the user's locustfile, then the recorder beside it."""
    return f"{locustfile},{RECORDER}"


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
            recorder_env(
                self.requests_file,
                self.plan.rate,
                self.plan.stages,
                self.plan.seed,
                self.plan.trace_sample,
            )
        )
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.plan.extra_env)
        return env

    def start(self) -> None:
        locust_dir = self.out_dir / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        self.requests_file.touch()
        files = locust_files(self.plan.locustfile)
        base = [self.python, "-m", "harness.locust_main", "-f", files, "--skip-log-setup"]
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


# Run with the venv's python: Locust's own loader on the user's file and the recorder together,
# as `locust -f USER,RECORDER` loads them, then the user's classes and shapes as JSON. Locust's
# fallback for pytest-style locustfiles is tried only when no User class was found, as Locust
# does it; its own failure then means none was found.
_CHECK = """
import json, sys
from locust.util.load_locustfile import load_locustfile, load_locustfile_pytest
users, shapes = {}, []
for path in sys.argv[1:]:
    found, shaped = load_locustfile(path)
    users.update(found)
    shapes += [type(s).__name__ for s in shaped]
if not users:
    try:
        users.update(load_locustfile_pytest(sys.argv[1]))
    except Exception:
        pass
print(json.dumps({"users": sorted(users), "shapes": sorted(shapes)}))
"""


def locustfile_problem(
    locustfile: Path, python: str | None = None, own_shape_ok: bool = False
) -> str | None:
    """Whether Locust can load `locustfile` beside the recorder: None, or a one-line problem.

    Refused: a file that does not import (Locust's own error, its last line), one that defines
    no User class ("No User class found!", as Locust says it), and, unless `own_shape_ok` (the
    web UI, where no scenario shapes the load), one that defines a LoadTestShape: a scenario's
    users or stages shape the load, and two shapes would leave one silently unused. Runs in a
    subprocess with the venv's python, bounded by CHECK_TIMEOUT; cached per file content."""
    path = Path(locustfile).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    found = _load(str(path), stat.st_mtime_ns, stat.st_size, python or sys.executable)
    if isinstance(found, str):
        return found
    if found["shapes"] and not own_shape_ok:
        return (
            f"it defines LoadTestShape {', '.join(found['shapes'])}, but the scenario's users "
            "or stages shape the load (two shapes would leave one unused): remove the class "
            "and give the scenario stages: instead"
        )
    return None


@lru_cache(maxsize=64)
def _load(path: str, _mtime: int, _size: int, python: str) -> dict[str, list[str]] | str:
    """The user classes and shapes Locust finds in `path` beside the recorder, or a problem."""
    env = {**os.environ, **recorder_env(None), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        out = subprocess.run(
            [python, "-c", _CHECK, path, str(RECORDER)],
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"Locust could not load it within {CHECK_TIMEOUT:g}s"
    except OSError as exc:
        return f"cannot run {python} to load it: {exc.strerror or exc}"
    if out.returncode != 0:
        lines = [ln.strip() for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {out.returncode}"
        return f"Locust cannot load it: {last[:300]}"
    try:
        found = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"Locust cannot load it: unexpected output {out.stdout[-200:]!r}"
    if not found["users"]:
        return "Locust cannot load it: No User class found!"
    return found


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
