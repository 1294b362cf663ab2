"""The run engine: one scenario against a running stack, from steady state to verdict.

    steady state → load starts → clock starts when every user is spawned → phases run with the
    fault timeline → faults reverted (always) → load stops → data collected → checks → journal

The engine knows nothing of pytest or the terminal beyond a Progress object; the CLI and the
pytest plugin both drive it. Every fault goes on an undo ledger that runs in ``finally``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.cleanup import Cleanup
from harness.errors import HarnessError
from harness.progress import Progress
from harness.settings import Settings
from harness.targets import StackKey, TargetStack, open_stack


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{os.getpid() % 10000:04d}"


def collect_versions(settings: Settings) -> dict[str, str]:
    """The versions of the harness and every binary it drives, for the journal."""

    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unavailable ({exc.__class__.__name__})"
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "unknown"

    found: dict[str, str] = {"stormproof": __version__, "python": platform.python_version()}
    for name, getter, flag in (
        ("toxiproxy", settings.toxiproxy_bin, "-version"),
        ("prometheus", settings.prometheus_bin, "--version"),
        ("etcd", settings.etcd_bin, "--version"),
        ("jaeger", settings.jaeger_bin, "--version"),
    ):
        try:
            found[name] = first_line([getter(), flag])
        except HarnessError as exc:
            found[name] = f"missing: {exc}"
    try:
        from importlib.metadata import version

        found["locust"] = version("locust")
    except Exception:
        found["locust"] = "unknown"
    found["backend"] = settings.backend
    if settings.backend == "compose":
        found["container engine"] = container_engine(settings)
    return found


def container_engine(settings: Settings) -> str:
    """The Docker API's engine and version (``Podman Engine 4.3.1 at unix://...``)."""
    from harness.stack.compose import docker_client
    from harness.stack.engine import docker_host

    try:
        client = docker_client(settings)
    except HarnessError as exc:
        return f"unavailable: {exc}"
    try:
        info = client.version()
    except Exception as exc:  # the SDK's and requests' errors alike: a version is optional
        return f"unavailable ({exc.__class__.__name__})"
    finally:
        client.close()
    name = (info.get("Components") or [{}])[0].get("Name", "Docker Engine")
    return f"{name} {info.get('Version', '?')} at {docker_host(settings)}"


class Engine:
    """Runs scenarios, reusing one stack per (topology, target env) between them."""

    def __init__(
        self, settings: Settings, run_dir: Path, progress: Progress, load_workers: int = 0
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.progress = progress
        self.load_workers = load_workers
        self.run_id = run_dir.name
        self.started_at = time.time()
        self.scenario_dirs: list[str] = []
        self.report_seconds: float | None = None  # how long the last report took to render
        self._stacks: dict[StackKey, TargetStack] = {}
        self._versions: dict[str, str] | None = None
        self._stack_count = 0
        self.ran: list[Any] = []  # scenarios run so far, for the run's coverage map

    @classmethod
    def create(
        cls,
        report_dir: Path | None = None,
        load_workers: int = 0,
        progress: Progress | None = None,
        settings: Settings | None = None,
    ) -> Engine:
        settings = settings or Settings()
        run_dir = report_dir or settings.reports_dir / new_run_id()
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings, run_dir, progress or Progress(), load_workers)

    # -- stacks -------------------------------------------------------------------------------

    def stack_for(self, scenario: Any) -> TargetStack:
        """The running stack for `scenario`: reused and settled, or started (stopping others)."""
        key = StackKey.of(scenario)
        stack = self._stacks.get(key)
        if stack is not None and getattr(scenario, "fresh_stack", False):
            self.progress.say("  restarting the stack (fresh_stack: true)")
            stack.stop()
            stack = None
        if stack is None:
            # One stack at a time on a 2-core machine: stop the others first.
            for other in list(self._stacks):
                self._stacks.pop(other).stop()
            self.progress.say(f"  starting the stack for {key.describe()}")
            t0 = time.monotonic()
            # each stack its own directory: a Prometheus TSDB or a database from an earlier
            # stack (other bug switches) must never leak into this one's data
            self._stack_count += 1
            stack_dir = self.run_dir / f"stack-{self._stack_count}"
            stack = open_stack(key, self.settings, stack_dir)
            self._stacks[key] = stack
            self.progress.say(f"  stack ready in {time.monotonic() - t0:.1f}s")
        else:
            stack.settle()
        return stack

    def versions(self) -> dict[str, str]:
        """Versions of the harness and its binaries, collected once per engine."""
        if self._versions is None:
            self._versions = collect_versions(self.settings)
        return self._versions

    def close(self) -> Path | None:
        """Stop every stack; render the report; return its path."""
        errors = []
        cleanup = Cleanup()  # every stack is stopped even if stopping another one raised
        for key in list(self._stacks):
            cleanup.step(f"stop of the stack {key.describe()}", self._stacks.pop(key).stop)
        errors += [str(exc) for _, exc in cleanup.errors]
        self._write_run_json()
        report = None
        try:
            from harness.recovery import write_results

            write_results(self.run_dir)
        except Exception as exc:  # the report is still rendered, without the figures
            errors.append(f"results.json failed: {exc!r}")
            self.progress.say(f"results.json failed: {exc!r}")
        try:
            from harness.report import render_report, update_latest, write_junit

            t0 = time.monotonic()
            report = render_report(self.run_dir)
            self.report_seconds = round(time.monotonic() - t0, 3)
            self._write_run_json()  # with the rendering time, for bench/suite_overhead.py
            write_junit(self.run_dir)
            update_latest(self.run_dir.parent, self.run_dir)
        except Exception as exc:  # the run's verdicts stand even if rendering fails
            errors.append(f"report rendering failed: {exc!r}")
            self.progress.say(f"report rendering failed: {exc!r}")
        if cleanup.foreign:
            cleanup.raise_first()  # not one of ours: loudly, once the report is written
        if errors:
            raise HarnessError("; ".join(errors))
        return report

    def _write_run_json(self) -> None:
        data = {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "ended_at": time.time(),
            "scenarios": self.scenario_dirs,
            "coverage": self._coverage(),
            "report_seconds": self.report_seconds,
        }
        tmp = self.run_dir / "run.json.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.run_dir / "run.json")

    def _coverage(self) -> list[dict[str, Any]]:
        """The coverage map of the scenarios run so far, one per target (see harness.coverage)."""
        from harness.targets import coverage_maps

        return [m.as_dict() for m in coverage_maps(self.ran)]

    # -- one scenario ---------------------------------------------------------------------------

    def run_scenario(self, scenario: Any, repeat: dict[str, Any] | None = None) -> Any:
        """Run one scenario; `repeat` ({of, index, count}) marks one of repeated runs in its
        journal (``scenario.repeat``), so results.json groups the runs under one name."""
        from harness.scenario_run import ScenarioRun
        from harness.summary import terminal_summary

        out = self.run_dir / scenario.name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        self.scenario_dirs.append(scenario.name)
        self._write_run_json()
        self.progress.say(f"▶ {scenario.name}: {scenario.description}".rstrip(": "))
        run = ScenarioRun(self, scenario, out)
        self.ran.append(scenario)
        journal = run.execute()
        if repeat is not None:
            journal.scenario.repeat = repeat  # type: ignore[attr-defined]
            journal.write(out / "journal.json")
        self._write_run_json()
        self.progress.say(terminal_summary(journal))
        return journal


def install_interrupt_handler() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks revert faults."""

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)
