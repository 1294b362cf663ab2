"""A user's invariant: their Python function over the run's audits, Jepsen/Elle style.

``{invariant: {function: "invariants.py:cancelled_orders_refunded"}}`` names a function in a
Python file relative to the scenario file (``checks/shop.py:f`` works too), or in a module
beside it (``my_invariants:f`` is ``my_invariants.py`` or ``my_invariants/__init__.py``
in the scenario's folder; an installed module is refused). The function is called with one
argument, the run (plain JSON, see ``run_argument``), and returns a list of violations: each a
string or a dict of evidence; ``[]`` when the invariant holds.

The function runs in a Python process of its own (this interpreter, the scenario's folder as
working directory), bounded by ``timeout``: a module that hangs, exits, or prints cannot hang
or confuse the harness. Validation imports the module the same way, before anything starts,
so a missing file, an import error, a missing or uncallable function is refused as a located
problem with exit status 2. After the run, anything but a list of strings and dicts, an
exception (the traceback's last line is shown), or a timeout makes the check ``unknown``, and
that unknown is never excused by ``allow_unknown``: only missing audits are.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from harness.checks.base import FAIL, PASS, UNKNOWN, CheckResult, RunData
from harness.checks.kind import CheckKind, ExpectModel
from harness.durations import PositiveDuration, format_duration

CHILD = Path(__file__).with_name("invariant_child.py")
IMPORT_TIMEOUT = 30.0  # seconds for the import at validation time
MAX_SHOWN = 10  # violations shown in the evidence; details keep up to MAX_KEPT
MAX_KEPT = 200
MAX_TEXT = 600  # characters of one violation in the evidence
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
FUNCTION_RE = rf"^(?:[^:\x00-\x1f\x7f]{{1,250}}\.py|{_IDENT}(?:\.{_IDENT})*):{_IDENT}$"


class InvariantExpect(ExpectModel):
    type: Literal["invariant"] = "invariant"
    function: str = Field(
        description="`file.py:function` (a path relative to the scenario file) or "
        "`module:function` (a module beside the scenario file)",
        json_schema_extra={"pattern": FUNCTION_RE},
    )
    timeout: PositiveDuration = Field(
        default=60.0, le=600.0, description="the function must return within this (max 10m)"
    )

    @field_validator("function")
    @classmethod
    def _spec(cls, value: str) -> str:
        if not re.fullmatch(FUNCTION_RE, value):
            raise ValueError(
                "expected file.py:function (a path relative to the scenario file) or "
                f"module:function (a module beside it), got {value[:80]!r}"
            )
        return value

    def label(self) -> str:
        return self.name or f"invariant {self.function}"


@dataclass(frozen=True)
class Target:
    """Where a function lives: import `module` with `root` first on sys.path; it is `file`.
    `base` is the scenario's folder, the process's working directory."""

    base: Path
    root: Path
    module: str
    file: Path
    function: str


def resolve(spec: str, base: Path) -> Target:
    """The target of ``file.py:function`` or ``module:function`` relative to folder `base`.

    Raises ValueError with what is wrong (the file or the module is not there).
    """
    where, _, function = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(os.path.normpath(base / where))
        if not re.fullmatch(_IDENT, path.stem):
            raise ValueError(f"{path.name}: the file name must be a Python identifier to import")
        if not path.is_file():
            raise ValueError(f"no file {path}")
        return Target(base, path.parent, path.stem, path, function)
    parts = where.split(".")
    candidates = [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")]
    for path in candidates:
        if path.is_file():
            return Target(base, base, where, path, function)
    raise ValueError(
        f"no module {where} beside the scenario: looked for {candidates[0]} and {candidates[1]}"
    )


def base_of(scenario_file: str | Path | None) -> Path:
    """The folder `function` is relative to: the scenario file's (the working one if none)."""
    return Path(scenario_file).resolve().parent if scenario_file else Path.cwd()


# ---------------------------------------------------------------------------- the child process


@dataclass
class Answer:
    ok: bool
    violations: list[Any]
    error: str = ""
    traceback: str = ""
    output: str = ""  # the last lines the function printed


def _spawn(target: Target, mode: str, timeout: float, argument: Any = None) -> Answer:
    with tempfile.TemporaryDirectory(prefix="stormproof-invariant-") as tmp:
        out, err = Path(tmp) / "answer.json", Path(tmp) / "stderr.txt"
        # -P: the working directory (the scenario's folder) must not shadow the child's imports
        code = CHILD.read_text(encoding="utf-8")
        args = [sys.executable, "-P", "-c", code, mode, str(target.root), target.module]
        args += [str(target.file), target.function, str(out)]
        if argument is not None:
            arg = Path(tmp) / "run.json"
            arg.write_text(json.dumps(argument), encoding="utf-8")
            args.append(str(arg))
        with err.open("wb") as stderr:
            # a session of its own: on timeout the whole group goes, with anything it started
            proc = subprocess.Popen(
                args, cwd=target.base, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                start_new_session=True,
            )  # fmt: skip
            status = _wait(proc, timeout)
        output = _tail(err)
        what = f"{target.module}.{target.function}"
        if status is None:
            step = "importing" if mode == "probe" else "running"
            return Answer(False, [], f"{step} {what} did not finish within "
                          f"{format_duration(timeout)}", output=output)  # fmt: skip
        try:
            answer = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            last = output.strip().splitlines()[-1:] or ["no output"]
            return Answer(False, [], f"the process running {what} exited with status {status} "
                          f"before answering: {last[0]}", output=output)  # fmt: skip
    if not isinstance(answer, dict) or not isinstance(answer.get("violations", []), list):
        return Answer(False, [], f"unreadable answer from the process running {what}")
    return Answer(
        bool(answer.get("ok")), answer.get("violations", []), str(answer.get("error", "")),
        str(answer.get("traceback", "")), output,
    )  # fmt: skip


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit status, or None at the timeout. Either way nothing of its session survives."""
    try:
        status: int | None = proc.wait(timeout=timeout)
    except BaseException:  # the timeout, or Ctrl-C while the user's code runs
        _kill_session(proc.pid)
        proc.wait()
        if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
            raise
        status = None
    _kill_session(proc.pid)  # whatever the function started and left behind
    return status


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path, limit: int = 2000) -> str:
    data = path.read_bytes()
    return data[-limit:].decode("utf-8", "replace")


@lru_cache(maxsize=64)
def _probe_cached(target: Target, stamp: tuple[int, int]) -> str | None:
    answer = _spawn(target, "probe", IMPORT_TIMEOUT)
    return None if answer.ok else answer.error


def problems(expect: InvariantExpect, scenario_file: str | Path | None) -> list[str]:
    """Why `expect.function` cannot be called (empty: it can): found, imported, callable.

    Imports the module in a process of its own (bounded); cached per file version.
    """
    try:
        target = resolve(expect.function, base_of(scenario_file))
    except ValueError as exc:
        return [str(exc)]
    st = target.file.stat()
    error = _probe_cached(target, (st.st_mtime_ns, st.st_size))
    return [error] if error else []


# ---------------------------------------------------------------------------- the checker


def run_argument(data: RunData) -> dict[str, Any]:
    """The one argument the function gets: plain JSON (documented in docs/checks.md)."""
    start, end = data.scenario_window()
    requests = data.directory / "requests.jsonl" if data.directory is not None else None
    return {
        "scenario": data.journal.scenario.name,
        "before": data.audit_before,
        "after": data.audit_after,
        "window": {"start": start, "end": end},
        "phases": [
            {"name": name, "start": w[0], "end": w[1]}
            for name in (p.name for p in data.journal.phases)
            if (w := data.phase_window(name)) is not None
        ],
        "faults": [
            {
                "id": w.id,
                "kind": w.kind,
                "target": w.target,
                "params": w.params,
                "start": w.start,
                "end": w.end,
            }
            for w in data.fault_windows()
        ],
        "requests": str(requests) if requests is not None and requests.is_file() else None,
        "missing": dict(data.missing),
    }


def _show(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def check(expect: InvariantExpect, data: RunData) -> CheckResult:
    name = expect.label()
    expected = f"{expect.function} returns no violation"
    result = CheckResult(name, "invariant", PASS, expected, allow_unknown=expect.allow_unknown)
    if data.audit_after is None:
        reason = "audit_after.json " + data.missing.get("audit_after.json", "missing")
        result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
        result.evidence.append(reason)
        return result
    try:
        target = resolve(expect.function, base_of(data.journal.scenario.file))
    except ValueError as exc:
        answer = Answer(False, [], str(exc))
    else:
        answer = _spawn(target, "run", expect.timeout, run_argument(data))
    if not answer.ok:
        # the function could not judge: never a pass, and not excused by allow_unknown
        result.verdict, result.allow_unknown = UNKNOWN, False
        result.measured = f"unknown: {answer.error}"
        result.evidence.append(answer.error)
        result.details.update(traceback=answer.traceback, output=answer.output)
        return result
    found = answer.violations
    result.measured = f"{len(found)} violation{'s' if len(found) != 1 else ''}"
    result.details.update(count=len(found), violations=found[:MAX_KEPT])
    if answer.output:
        result.details["output"] = answer.output
    if found:
        result.verdict = FAIL
        result.evidence += [_show(v) for v in found[:MAX_SHOWN]]
        if len(found) > MAX_SHOWN:
            result.evidence.append(f"... and {len(found) - MAX_SHOWN} more violations")
    return result


KIND = CheckKind(
    name="invariant",
    model=InvariantExpect,
    check=check,
    series=(),
    data="your Python function over the audits before and after, any format (docs/checks.md)",
)
