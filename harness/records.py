"""Reading what a scenario run records, the one way both the checkers and the report read it.

Client requests (``requests.jsonl``, one line per request from the Locust recorder), the
long-format series files (``prom/*.csv``, ``registry.csv``) and counter increases over
Prometheus series. Pure: pandas and the standard library only, so the
report may import it without importing the engine. Readers never raise for a missing file, a
line cut short or a record of the wrong shape: they skip it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REQUEST_COLUMNS = ("t", "ms", "name", "ok", "status", "error")
# host_pressure.csv: the kernel's cumulative PSI stall counters (microseconds) per sample
PRESSURE_COLUMNS = ("t", "cpu_some", "io_some", "io_full")


def empty_requests() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "t": pd.Series(dtype=float),
            "ms": pd.Series(dtype=float),
            "name": pd.Series(dtype=object),
            "ok": pd.Series(dtype=bool),
            "status": pd.Series(dtype="Int64"),
            "error": pd.Series(dtype=object),
        }
    )


def request_ok(value: Any) -> bool:
    """Only an explicit boolean true is a success: a record without ``ok`` proves nothing."""
    return isinstance(value, bool | np.bool_) and bool(value)


def requests_frame(rows: Iterable[Any]) -> pd.DataFrame:
    """Request records as a frame sorted by start time.

    Event lines (``{"event": "spawned", ...}``), anything that is not a JSON object and records
    without a numeric start time ``t`` and duration ``ms`` are skipped.
    """
    rows = [r for r in rows if isinstance(r, dict) and "event" not in r]
    if not rows:
        return empty_requests()
    frame = pd.DataFrame(rows)
    for col in REQUEST_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame["t"] = pd.to_numeric(frame["t"], errors="coerce")
    frame["ms"] = pd.to_numeric(frame["ms"], errors="coerce")
    frame = frame.dropna(subset=["t", "ms"])
    if frame.empty:
        return empty_requests()
    frame["t"] = frame["t"].astype(float)
    frame["ms"] = frame["ms"].astype(float)
    frame["ok"] = frame["ok"].map(request_ok).astype(bool)
    frame["status"] = pd.to_numeric(frame["status"], errors="coerce").astype("Int64")
    return frame.sort_values("t", kind="stable").reset_index(drop=True)


def read_requests(path: Path) -> pd.DataFrame:
    """``requests.jsonl`` as :func:`requests_frame` reads it; an absent file has no requests."""
    rows = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short when Locust was stopped
    except OSError:
        return empty_requests()
    return requests_frame(rows)


# ---------------------------------------------------------------------------- series files


def read_series(path: Path, needs: tuple[str, ...] = ("t", "value")) -> pd.DataFrame:
    """A long-format CSV: ``t,value,<labels>`` (``prom/*.csv``) or ``t,service,...``
    (``registry.csv``). Labels stay the strings written ("", "NA" and "007" included); ``t``
    and ``value`` become numbers, and a row lacking one that `needs` names is dropped. An
    absent, empty or unreadable file, or one without a column of `needs`, is an empty frame.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError):  # pandas' EmptyDataError and ParserError are ValueErrors
        return pd.DataFrame()
    if any(c not in frame.columns for c in needs):
        return pd.DataFrame()
    numeric = [c for c in ("t", "value") if c in frame.columns]
    for col in numeric:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.dropna(subset=[c for c in numeric if c in needs]).reset_index(drop=True)


# ---------------------------------------------------------------------------- counters


def label_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("t", "value")]


def groups(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """(label values, rows) per series; a frame without labels is one series."""
    labels = label_columns(frame)
    if not labels:
        return [((), frame)]
    out = []
    for key, g in frame.groupby(labels, dropna=False, sort=True):
        out.append((key if isinstance(key, tuple) else (key,), g))
    return out


def scrape_interval(frame: pd.DataFrame | None, default: float = 1.0) -> float:
    """The median step between samples of one series."""
    if frame is None or frame.empty:
        return default
    steps = []
    for _, g in groups(frame):
        d = np.diff(np.sort(g["t"].to_numpy(dtype=float)))
        steps.extend(d[d > 0])
    return float(np.median(steps)) if steps else default


def increases(frame: pd.DataFrame, range_start: float | None = None) -> pd.DataFrame:
    """Counter increases between consecutive samples of each series.

    A drop is a counter reset (the process restarted): the new value is all increase. A series
    that first appears after the range started was created during it (prometheus_client creates
    a labelled child on its first increment), so its first value counts too; one present from
    the first sample carries history and does not. `range_start` is where the collected range
    begins (``RunData.prom_start()``; default: this frame's first sample). Returns t (the later
    sample's time: the event happened in the scrape interval before it), increase, and the
    label columns; samples without an increase are left out.
    """
    labels = label_columns(frame)
    if frame.empty:
        return pd.DataFrame({"t": [], "increase": [], **{c: [] for c in labels}})
    if range_start is None:
        range_start = float(frame["t"].min())
    step = scrape_interval(frame)
    parts = []
    for _, g in groups(frame):
        g = g.sort_values("t", kind="stable")
        v = g["value"].to_numpy(dtype=float)
        prev = np.concatenate([[v[0]], v[:-1]])
        inc = np.where(v >= prev, v - prev, v)
        if float(g["t"].iloc[0]) > range_start + 1.5 * step:
            inc[0] = v[0]
        part = g[labels].copy() if labels else pd.DataFrame(index=g.index)
        part["t"] = g["t"].to_numpy(dtype=float)
        part["increase"] = inc
        parts.append(part[part["increase"] > 0])
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if out.empty:
        return pd.DataFrame({"t": [], "increase": [], **{c: [] for c in labels}})
    return out.sort_values("t", kind="stable").reset_index(drop=True)


def pressure_shares(frame: pd.DataFrame | None) -> pd.DataFrame:
    """``host_pressure.csv`` as the share of each interval between two samples during which
    the host stalled: columns start, t (the interval's end), cpu_some, io_some, io_full (0-1).
    A counter that went backwards (it never should) gives no interval."""
    cols = ["start", "t", *PRESSURE_COLUMNS[1:]]
    if frame is None or len(frame) < 2 or any(c not in frame.columns for c in PRESSURE_COLUMNS):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    f = frame.sort_values("t", kind="stable")
    t = f["t"].to_numpy(dtype=float)
    dt = np.diff(t)
    out = {"start": t[:-1], "t": t[1:]}
    keep = dt > 0
    for col in PRESSURE_COLUMNS[1:]:
        d = np.diff(pd.to_numeric(f[col], errors="coerce").to_numpy(dtype=float))
        keep &= d >= 0
        out[col] = np.clip(d / 1e6 / np.where(dt > 0, dt, 1.0), 0.0, 1.0)
    return pd.DataFrame(out)[keep].reset_index(drop=True)[cols]


def format_figure(value: Any, unit: str = "") -> str:
    """A recovery figure for a table cell: ``1.40 s``, ``38.00x``, ``95 ms``, ``3``; ``—`` when
    it was not measured. One format for the report, the CI job page and ``compare``."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:g}"
