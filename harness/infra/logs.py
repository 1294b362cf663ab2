"""The stack's process logs: cut to a scenario's window, and rotated so a long stack cannot fill
the disk.

A scenario's part of a log is found by position first: the harness notes every log's size when
the scenario starts (``sizes``) and reads from there at its end, so plain-text lines (a user's
system, a Python traceback) need no time of their own. Lines that are JSON with a ``ts`` (epoch
seconds; the shop's, ``shoplib/logs.py``) are then also held to the time window; ``trace_id``
and ``saga_id`` are read from them where present. Rotation happens only between scenarios
(when a reused stack settles, before the sizes are noted), so a noted position stays valid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROTATE_AT_BYTES = 20 * 1024 * 1024  # a live log beyond this becomes <name>.1 (one kept)
CUT_MAX_BYTES = 4 * 1024 * 1024  # per instance per scenario: the newest lines beyond are dropped


@dataclass(frozen=True)
class LogLine:
    ts: float | None
    text: str
    trace_id: str | None = None
    saga_id: str | None = None


def parse_line(text: str) -> LogLine:
    """One line: JSON with ``ts`` (and maybe ``trace_id``, ``saga_id``), else plain text."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("ts"), int | float):
            trace = data.get("trace_id")
            saga = data.get("saga_id")
            return LogLine(
                float(data["ts"]),
                stripped,
                trace if isinstance(trace, str) else None,
                saga if isinstance(saga, str) else None,
            )
    return LogLine(None, text.rstrip("\n"))


def cut(lines: Iterable[str], start: float, end: float) -> Iterator[LogLine]:
    """The lines of [start, end]: JSON lines with a ``ts`` by it, every other line kept."""
    for raw in lines:
        line = parse_line(raw)
        if line.ts is None or start <= line.ts <= end:
            yield line


def sizes(logs: Iterable[Path]) -> dict[str, int]:
    """Each existing log's size now: where a scenario's lines will start."""
    out = {}
    for p in logs:
        try:
            out[str(p)] = p.stat().st_size
        except OSError:
            continue
    return out


def _lines_from(path: Path, offset: int) -> Iterator[str]:
    """The lines of ``path`` from byte ``offset`` (from 0 when the file is now shorter: it was
    truncated since), skipping a partial first line."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size < offset:
        offset = 0
    with open(path, "rb") as f:
        f.seek(offset)
        if offset > 0:
            f.seek(offset - 1)
            if f.read(1) != b"\n":
                f.readline()  # the rest of a line that began before the window
        for raw in f:
            yield raw.decode("utf-8", errors="replace")


def save_window(
    log: Path, offset: int, start: float, end: float, out: Path, max_bytes: int = CUT_MAX_BYTES
) -> dict[str, int]:
    """Write the lines of ``log`` from ``offset`` that fall in [start, end] to ``out`` (at most
    ``max_bytes``: the oldest kept; no file when there is no line); counts of lines kept,
    dropped for size, with a trace id, with a saga id."""
    counts = {"lines": 0, "dropped_for_size": 0, "with_trace_id": 0, "with_saga_id": 0}
    size = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for line in cut(_lines_from(log, offset), start, end):
            n = len(line.text.encode()) + 1
            if size + n > max_bytes:
                counts["dropped_for_size"] += 1
                continue
            f.write(line.text + "\n")
            size += n
            counts["lines"] += 1
            counts["with_trace_id"] += line.trace_id is not None
            counts["with_saga_id"] += line.saga_id is not None
    if counts["lines"] == 0 and counts["dropped_for_size"] == 0:
        out.unlink()  # nothing written in the window: no empty file (the journal says 0)
    return counts


def rotate_all(paths: Iterable[Path], at_bytes: int = ROTATE_AT_BYTES) -> list[Path]:
    """``rotate`` each log (every process of a stack); the ones rotated."""
    return [p for p in dict.fromkeys(paths) if rotate(p, at_bytes)]


def rotate(path: Path, at_bytes: int = ROTATE_AT_BYTES) -> bool:
    """Copy-truncate a live log beyond ``at_bytes`` into ``<name>.1`` (replacing it).

    The process keeps its descriptor, opened with O_APPEND (``harness.procs.spawn``), so its
    next write lands at the start of the emptied file. A line written between the copy and the
    truncation is lost: the price of not restarting the process, as with logrotate's
    ``copytruncate``.
    """
    try:
        if path.stat().st_size <= at_bytes:
            return False
    except OSError:
        return False
    rotated = path.with_name(path.name + ".1")
    tmp = path.with_name(path.name + ".1.tmp")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.replace(tmp, rotated)
    os.truncate(path, 0)
    return True
