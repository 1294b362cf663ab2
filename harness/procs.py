"""Processes the harness starts: each in its own session, recorded by PID and start time.

A PID is only ever signalled while its start time still matches the record, so a PID reused
by an unrelated process after a crash is never touched. Nothing is stopped by name.

A process started with ``recorded=`` waits at a gate until its record has been saved: it runs
``/bin/sh -c 'read go || exit; exec CMD'`` with the write end of a pipe held by the harness, which
writes ``go`` only after ``recorded(record)`` returned. A harness killed in between closes the
pipe, the gate reads end-of-file and exits: no process is ever running without its record.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import StackError


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None if the PID is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the rest follows its closing parenthesis.
    rest = raw[raw.rindex(")") + 2 :].split()
    if rest[0] == "Z":  # a zombie is as good as gone
        return None
    return int(rest[19])


@dataclass
class ProcessRecord:
    name: str
    pid: int
    start: int
    cmd: list[str]
    log: str

    def alive(self) -> bool:
        return start_time(self.pid) == self.start

    def signal(self, sig: int) -> bool:
        """Signal the process group; False when the recorded process is gone."""
        if not self.alive():
            return False
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        return True


# $0 is the process name; "$@" the real command. 125: the harness died before the record.
GATE = 'IFS= read -r go || exit 125; exec "$@" </dev/null'


def spawn(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    recorded: Callable[[ProcessRecord], None] | None = None,
) -> tuple[subprocess.Popen, ProcessRecord]:
    """Start ``cmd`` in a session of its own; with ``recorded``, behind the gate (see above)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    gate_r = gate_w = None
    argv = cmd
    if recorded is not None:
        # the gate's sh would report a missing binary only in the log: say it here instead
        if shutil.which(cmd[0], path=env.get("PATH")) is None:
            raise StackError(f"cannot start {name} ({cmd[0]}): not found or not executable")
        gate_r, gate_w = os.pipe()  # both close-on-exec: no other child inherits the write end
        argv = ["/bin/sh", "-c", GATE, name, *cmd]
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL if gate_r is None else gate_r,
                start_new_session=True,
                cwd=cwd,
            )
    except OSError as exc:
        if gate_w is not None:
            os.close(gate_w)
        raise StackError(f"cannot start {name} ({cmd[0]}): {exc.strerror}") from exc
    finally:
        if gate_r is not None:
            os.close(gate_r)
    st = None
    for _ in range(50):
        st = start_time(proc.pid)
        if st is not None:
            break
        time.sleep(0.01)
    # exec keeps the PID and the start time: the record of the gate is the record of cmd
    rec = ProcessRecord(name, proc.pid, st or 0, cmd, str(log))
    if recorded is not None and gate_w is not None:
        try:
            recorded(rec)
        except BaseException:
            os.close(gate_w)  # the gate reads end-of-file and exits 125
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            raise
        try:
            os.write(gate_w, b"go\n")
        finally:
            os.close(gate_w)
    return proc, rec


def stop(rec: ProcessRecord, timeout: float = 5.0, proc: subprocess.Popen | None = None) -> None:
    """SIGCONT (a paused process cannot exit), SIGTERM, then SIGKILL after ``timeout``."""
    try:
        if not rec.alive():
            return
        rec.signal(signal.SIGCONT)
        rec.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(proc)
            if not rec.alive():
                return
            time.sleep(0.05)
        rec.signal(signal.SIGKILL)
        for _ in range(100):
            _reap(proc)
            if not rec.alive():
                return
            time.sleep(0.02)
    finally:
        # a child that died between two polls is a zombie until waited for
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)


def _reap(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.poll()


class StateFile:
    """JSON record of a running stack; written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def records_from(data: dict) -> list[ProcessRecord]:
    return [ProcessRecord(**r) for r in data.get("processes", [])]


def record_dict(rec: ProcessRecord) -> dict:
    return asdict(rec)
