"""The spawn gate: a process the harness starts runs only once its record is saved, so a harness
killed at any moment leaves no process that ``stormproof down`` cannot find."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.errors import StackError
from harness.procs import ProcessRecord, spawn, start_time
from harness.settings import Settings
from harness.stack.local import cleanup_stale


def _marker_cmd(marker: Path) -> list[str]:
    return [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]


def test_the_command_runs_only_after_its_record_is_saved(tmp_path):
    marker = tmp_path / "ran"
    seen: list[ProcessRecord] = []

    def recorded(rec: ProcessRecord) -> None:
        time.sleep(0.3)  # long enough for an ungated command to have run
        assert not marker.exists()
        seen.append(rec)

    proc, rec = spawn(
        "job", _marker_cmd(marker), dict(os.environ), tmp_path / "job.log", None, recorded
    )
    assert proc.wait(timeout=10) == 0
    assert marker.exists()
    assert seen == [rec]
    assert rec.cmd == _marker_cmd(marker)  # the real command, not the gate's shell


def test_a_failed_record_never_runs_the_command(tmp_path):
    marker = tmp_path / "ran"

    def recorded(rec: ProcessRecord) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        spawn("job", _marker_cmd(marker), dict(os.environ), tmp_path / "job.log", None, recorded)
    time.sleep(0.2)
    assert not marker.exists()


def test_a_harness_killed_before_the_gate_opens_leaves_nothing_running(tmp_path):
    # The "harness" records the child's PID, then is SIGKILLed before it can open the gate.
    marker = tmp_path / "ran"
    pid_file = tmp_path / "pid"
    harness = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from harness.procs import spawn

        def recorded(rec):
            Path({str(pid_file)!r}).write_text(f"{{rec.pid}} {{rec.start}}")
            os.kill(os.getpid(), signal.SIGKILL)

        job = "import time; open({str(marker)!r}, 'w'); time.sleep(60)"
        spawn("job", [sys.executable, "-c", job],
              dict(os.environ), Path({str(tmp_path / "job.log")!r}), None, recorded)
        """
    )
    done = subprocess.run([sys.executable, "-c", harness], timeout=30)
    assert done.returncode == -9
    pid, start = (int(x) for x in pid_file.read_text().split())
    deadline = time.monotonic() + 5
    while start_time(pid) == start and time.monotonic() < deadline:
        time.sleep(0.05)
    assert start_time(pid) != start, "the gated child outlived its harness"
    assert not marker.exists()


def test_a_missing_binary_is_one_clear_error(tmp_path):
    with pytest.raises(StackError, match="cannot start job \\(no-such-binary-x\\)"):
        spawn(
            "job", ["no-such-binary-x"], dict(os.environ), tmp_path / "l.log", None, lambda r: None
        )


def test_down_stops_the_reverter_of_a_detached_fault(tmp_path):
    # 'stormproof fault ... --for 1h --detach' records a reverter; 'down' must not leave it
    reverter = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        settings = Settings(state_dir=tmp_path)
        rec = {"pid": reverter.pid, "start": start_time(reverter.pid)}
        (tmp_path / "stacks").mkdir()
        (tmp_path / "stacks" / "s1.json").write_text(
            json.dumps({"owner": None, "processes": [], "faults": [{"reverter": rec}]})
        )
        stopped = cleanup_stale(settings, everything=True)
        assert stopped == [f"reverter (pid {reverter.pid})"]
        assert reverter.wait(timeout=10) == -signal.SIGTERM
        assert not (tmp_path / "stacks" / "s1.json").exists()
    finally:
        if reverter.poll() is None:
            reverter.kill()
            reverter.wait()
