"""The topology's bootstrap commands on the local backend (``bootstrap:``, docs/architecture.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from harness.errors import StackError
from harness.procs import stop as stop_process


def run_bootstrap(stack: Any) -> None:
    """Run the topology's bootstrap commands once, in order, each bounded in time; recorded
    as processes while they run, output in ``logs/bootstrap-N.log``. Not run again when an
    instance restarts: what they set up lives in the instances' own state."""
    values = stack.bootstrap_values()
    for n, step in enumerate(stack.topology.bootstrap, 1):
        name = f"bootstrap-{n}"
        cmd = stack.topology.render_bootstrap(step, values)
        stack.say(f"bootstrap {n}/{len(stack.topology.bootstrap)}: {' '.join(cmd)}")
        stack._spawn(name, cmd)
        proc = stack._procs[name]
        try:
            status = proc.wait(timeout=step.timeout)
        except subprocess.TimeoutExpired:
            stop_process(stack.records[name], stack.settings.timeouts.process_stop, proc)
            status = None
        log = Path(stack.records[name].log)
        stack._procs.pop(name, None)
        stack.forget(name)
        if status != 0:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            why = (
                f"did not finish within {step.timeout:g}s"
                if status is None
                else f"exit status {status}"
            )
            raise StackError(f"bootstrap command {n} ({cmd[0]}) {why}; log {log}:\n{tail}")
