"""Kill test: SIGKILL `stormproof run` at three moments (start-up, faults in force, revert),
run `stormproof down` as README says, and find nothing left: no process (Locust included), no
toxic, no disabled proxy, no SIGSTOPped process, no data lost. bench/kill_harness.py does the
counting (30 runs by hand; 3 here, about a minute)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness.settings import REPO_ROOT

pytestmark = pytest.mark.e2e


def test_a_killed_run_leaves_nothing_behind_after_down():
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "kill_harness.py"),
            "--runs",
            "3",
            "--seed",
            "7",
            "--moments",
            "startup,fault,revert",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "3/3 runs clean" in out, out[-4000:]
    # the kills really landed where aimed, the faults in force for at least the fault run
    assert "aimed fault   hit fault" in out, out[-4000:]
    in_force = re.search(r"faults in force at the kill in (\d+) runs", out)
    assert in_force is not None and int(in_force.group(1)) >= 1, out[-4000:]
