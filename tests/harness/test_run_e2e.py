"""`stormproof run` end to end on the real stack: distributed load, and Ctrl-C mid-fault."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.procs import start_time

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def stormproof(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_distributed_locust_with_two_workers_passes(tmp_path):
    proc = stormproof(
        "run",
        "scenarios/crash-payments.yaml",
        "--load-workers",
        "2",
        "--report",
        str(tmp_path / "run"),
    )
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    scen = tmp_path / "run" / "crash-payments"
    journal = json.loads((scen / "journal.json").read_text())
    assert journal["verdict"] == "pass"
    records = [json.loads(line) for line in (scen / "requests.jsonl").read_text().splitlines()]
    pids = {r["pid"] for r in records if "pid" in r}
    assert len(pids) == 2, f"requests came from {len(pids)} worker processes"
    stats = (scen / "locust" / "stats_stats.csv").read_text()
    aggregated = next(ln for ln in stats.splitlines() if ",Aggregated," in ln)
    assert int(aggregated.split(",")[2]) > 100  # the master's aggregate counted the requests
    assert (tmp_path / "run" / "index.html").exists()


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_mid_fault_reverts_and_stops_everything(tmp_path):
    state = tmp_path / "state"
    env = {**os.environ, "STORMPROOF_STATE_DIR": str(state)}
    # SIGINT back to its default in the run: the harness keeps what its parent chose
    # (docs/decisions.md), and pytest started as a background job has it ignored
    proc = stormproof(
        "run",
        "scenarios/pause-payments.yaml",
        "--report",
        str(tmp_path / "run"),
        env=env,
        preexec_fn=_sigint_default,
    )
    pids: list[dict] = []
    deadline = time.monotonic() + 120
    journal_path = tmp_path / "run" / "pause-payments" / "journal.json"
    while time.monotonic() < deadline:  # wait until the pause is in force
        if journal_path.exists():
            try:
                j = json.loads(journal_path.read_text())
            except ValueError:
                j = {}
            if any(f.get("injected_at") for f in j.get("faults", [])):
                break
        time.sleep(0.2)
    else:
        pytest.fail("the fault was never injected")
    for f in state.glob("stacks/*.json"):
        pids += json.loads(f.read_text())["processes"]
    assert pids
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-2000:]
    j = json.loads(journal_path.read_text())
    assert j["verdict"] == "aborted"
    assert all(f["reverted_at"] for f in j["faults"]), j["faults"]
    for p in pids:  # every process the run started is gone
        assert start_time(p["pid"]) != p["start"], f"{p['name']} (pid {p['pid']}) still runs"
    assert not list(state.glob("stacks/*.json"))
    assert (tmp_path / "run" / "index.html").exists()


NOT_STEADY = """\
name: cannot-be-steady
description: a steady state no stack meets (p99 under 1 ms), so the fault must never be injected
load: {users: 4, rate: 2}
phases:
  - {name: baseline, duration: 4s}
  - {name: fault, duration: 4s}
faults:
  - {at: 4s, for: 4s, kind: down, link: orders->payments}
steady_state:
  - steady: {max_p99: 1ms}
expect:
  - saga_consistency: {}
"""


def test_a_stack_that_is_not_steady_gets_no_fault(tmp_path):
    scenario = tmp_path / "cannot-be-steady.yaml"
    scenario.write_text(NOT_STEADY)
    proc = stormproof("run", str(scenario), "--report", str(tmp_path / "run"))
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 1, out[-3000:]
    assert "NOT-STEADY cannot-be-steady" in out
    j = json.loads((tmp_path / "run" / "cannot-be-steady" / "journal.json").read_text())
    assert j["verdict"] == "not-steady"
    assert [f["injected_at"] for f in j["faults"]] == [None]
    before = [c for c in j["checks"] if c["details"].get("stage") == "before"]
    assert before and any("p99" in e and "bound 1ms" in e for c in before for e in c["evidence"])
    assert not any(c["kind"] == "saga_consistency" for c in j["checks"])  # nothing to judge
    junit = (tmp_path / "run" / "junit.xml").read_text()
    assert 'type="NotSteady"' in junit
