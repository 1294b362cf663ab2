"""The container smoke, as the README's test command (`make test`) runs it:
``scripts/test-containers.sh --ci``, the smoke scenarios on the compose backend.

Pass: they passed on containers. Skip: this machine cannot run containers (no podman and no
apt-get, apt-get or an image build failing, an engine that does not start or cannot run a
container); the script's reason is printed in the output as it happens and is the skip's
reason in pytest's summary (``-ra``). Fail: a scenario failed on an engine that works, or the
script broke. The whole output goes to ``reports/containers-smoke.log``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from harness.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "test-containers.sh"
LOG = REPO_ROOT / "reports" / "containers-smoke.log"
SKIPPED = "[test-containers] SKIPPED: "
# the lines shown as they come: the script's own, and each scenario's verdict
SHOWN = re.compile(
    r"^(\[test-containers\] |(PASS|FAIL|ERROR|INCONCLUSIVE|NOT-STEADY|ABORTED|FLAKY)\b)"
)


def outcome(status: int, lines: list[str]) -> tuple[str, str]:
    """("pass" | "skip" | "fail", why) of the script's run."""
    skipped = [ln.removeprefix(SKIPPED) for ln in lines if ln.startswith(SKIPPED)]
    if status == 0 and skipped:
        return "skip", "container smoke: " + skipped[-1]
    if status == 0:
        return "pass", ""
    tail = "\n".join(lines[-40:])
    return "fail", f"the container smoke failed (exit {status}; all of it in {LOG}):\n{tail}"


def test_a_skip_needs_its_line_and_a_failure_is_never_a_skip():
    ok = ["[test-containers] container smoke: exit 0"]
    assert outcome(0, ok) == ("pass", "")
    no_engine = [SKIPPED + "make setup-containers failed here (E: Unable to locate podman)"]
    assert outcome(0, no_engine) == (
        "skip",
        "container smoke: make setup-containers failed here (E: Unable to locate podman)",
    )
    kind, why = outcome(1, [*no_engine, "FAIL crash-payments (40s)"])
    assert kind == "fail" and "exit 1" in why and "FAIL crash-payments" in why


@pytest.mark.e2e
@pytest.mark.containers
@pytest.mark.timeout(1500)
def test_the_smoke_scenarios_pass_on_containers(capsys: pytest.CaptureFixture[str]) -> None:
    LOG.parent.mkdir(exist_ok=True)
    lines: list[str] = []
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), "--ci"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each verdict line as it happens
    )
    try:
        assert proc.stdout is not None
        with LOG.open("w", buffering=1) as log:  # line by line: a killed run keeps its log
            for line in proc.stdout:
                log.write(line)
                lines.append(line.rstrip("\n"))
                if SHOWN.match(line):
                    with capsys.disabled():
                        print(f"\n  {line.rstrip()}", end="", flush=True)
        status = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted or timed out: the run reverts and stops its stack
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=120)
        if proc.stdout is not None:
            proc.stdout.close()
    kind, why = outcome(status, lines)
    if kind == "skip":
        pytest.skip(why)
    assert kind == "pass", why
