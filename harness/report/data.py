"""Reading a scenario's saved data for the report, tolerant of anything missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def read_journal(scenario_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((scenario_dir / "journal.json").read_text())
    except (OSError, ValueError):
        return None


def read_requests(scenario_dir: Path) -> pd.DataFrame:
    rows = []
    try:
        with open(scenario_dir / "requests.jsonl", encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a last line cut short
                if "event" not in rec:
                    rows.append(rec)
    except OSError:
        pass
    cols = ["t", "ms", "name", "ok", "status"]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    return pd.DataFrame(rows)


def read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def counter_increase(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per-sample increase of a counter per label set, counting a drop as a reset."""
    if frame.empty:
        return frame
    frame = frame.sort_values("t")
    parts = []
    for _, g in frame.groupby(by, dropna=False) if by else [((), frame)]:
        d = g["value"].diff()
        # the first sample is a baseline, not an increase; a drop is a counter reset
        inc = d.where(d >= 0, g["value"])
        inc.iloc[0] = 0.0
        parts.append(g.assign(inc=inc))
    return pd.concat(parts)
