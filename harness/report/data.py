"""Reading one scenario's saved data for the report, tolerant of anything missing.

Nothing here raises for absent, empty or malformed files: a reader returns an empty frame (or
None) and the caller describes the gap in the report. The journal is read as a plain dict and
normalised so templates and figures never meet a missing key or a value of the wrong type;
``harness.journal`` is deliberately not imported (the report depends on the file format only);
requests, series files and counters are read by ``harness.records``, the same pure readers
the checkers use.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.records import read_requests
from harness.verdict import FAIL, PASS, UNKNOWN


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _num(value: Any) -> float | None:
    """A finite float, or None (null, NaN, a string that is not a number...)."""
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def normalise_journal(raw: dict[str, Any], fallback_name: str) -> dict[str, Any]:
    """Every key of the journal contract present, times as float-or-None, lists as lists."""
    j = dict(raw)
    sc = dict(_dict(raw.get("scenario")))
    sc.setdefault("name", fallback_name)
    sc["markers"] = [str(m) for m in sc.get("markers") or [] if m is not None]
    sc["tags"] = [str(m) for m in sc.get("tags") or [] if m is not None]
    j["scenario"] = sc
    j["versions"] = _dict(raw.get("versions"))
    j["target"] = _dict(raw.get("target"))
    for key in ("started_at", "clock_start", "ended_at"):
        j[key] = _num(raw.get(key))
    j["phases"] = [
        {**p, **{k: _num(p.get(k)) for k in ("planned_start", "planned_end", "start", "end")}}
        for p in _dicts(raw.get("phases"))
    ]
    faults = []
    for i, f in enumerate(_dicts(raw.get("faults"))):
        f = dict(f)
        f.setdefault("id", f"f{i + 1}")
        for k in ("planned_at", "planned_for", "injected_at", "reverted_at", "drift_ms"):
            f[k] = _num(f.get(k))
        f["params"] = _dict(f.get("params"))
        faults.append(f)
    j["faults"] = faults
    j["events"] = [{**e, "t": _num(e.get("t"))} for e in _dicts(raw.get("events"))]
    checks = []
    for c in _dicts(raw.get("checks")):
        c = dict(c)
        c["verdict"] = c.get("verdict") if c.get("verdict") in (PASS, FAIL) else UNKNOWN
        ev = c.get("evidence")
        c["evidence"] = [str(e) for e in ev] if isinstance(ev, list) else ([str(ev)] if ev else [])
        c["violation_at"] = _num(c.get("violation_at"))
        c["details"] = _dict(c.get("details"))
        checks.append(c)
    j["checks"] = checks
    j["load"] = _dict(raw.get("load"))
    j["overload"] = _dict(raw.get("overload"))
    j["overload"]["max_event_loop_lag_s"] = _num(j["overload"].get("max_event_loop_lag_s"))
    host = _dict(j["overload"].get("host"))
    j["overload"]["host_measured"] = str(host["measured"]) if host.get("measured") else None
    j["overload"]["host_explains"] = j["overload"].get("host_explains") is True
    j["missing"] = (
        [str(m) for m in raw.get("missing") or []] if isinstance(raw.get("missing"), list) else []
    )
    return j


def read_journal(scenario_dir: Path) -> dict[str, Any] | None:
    raw = read_json(scenario_dir / "journal.json")
    if not isinstance(raw, dict):
        return None
    return normalise_journal(raw, scenario_dir.name)


def data_span(scenario_dir: Path) -> tuple[float, float] | None:
    """First and last time in requests.jsonl, for a journal with no clock at all."""
    req = read_requests(scenario_dir / "requests.jsonl")
    if req.empty:
        return None
    return float(req["t"].min()), float(req["t"].max())
