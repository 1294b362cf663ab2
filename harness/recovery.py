"""Recovery figures per scenario, and the run's ``results.json`` (docs/results.md).

Computed from the data a run already saved (``journal.json``, ``requests.jsonl``,
``prom/*.csv``), so they can be recomputed for any run folder at any time. Every figure is a
pure function of :class:`RunData`; a figure that cannot be measured is ``None`` and
:func:`figures` says why in its ``notes``. Times are seconds, latencies milliseconds.

- ``first_error_s``: from the first fault's injection to the end of the first failed client
  request that ended after it (when the client saw the error).
- ``breaker_open_s``: from the first fault's injection to the first breaker transition to
  open (any breaker; Prometheus' scrape interval is in it, as in the breaker check).
- ``recovery_s``: from the last revert until the client error rate is back to baseline: the
  requests that started after the last revert, in ``BUCKET_S`` buckets; recovered at the start
  of the first bucket from which no bucket's error rate exceeds the baseline's (before the
  first fault) plus ``TOLERANCE``. ``recovered`` is false (and ``recovery_s`` None) when the
  last bucket still exceeds it.
- ``failed_in_fault_window`` / ``requests_in_fault_window``: client requests that started
  between the first injection and the last revert (failed / all).
- ``error_budget_spent``: ``failed_in_fault_window`` over the run's error budget,
  ``budget_rate`` (default 1 %, the steady-state hypothesis's default) x every request of the
  scenario: 1.0 means the fault window alone used up the whole run's budget.
- ``phases``: per phase, ``n``, ``error_rate`` and ``p99_ms`` of the requests that started and
  ended in it (the slo check's rule).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.checks.base import RunData
from harness.checks.breaker import transitions
from harness.checks.slo import phase_stats

RESULTS_FILE = "results.json"
SCHEMA = "stormproof-results"
SCHEMA_VERSION = 1
BUCKET_S = 1.0
TOLERANCE = 0.02
DEFAULT_BUDGET_RATE = 0.01
# the figures compare reads, in the order tables show them: (key, label, unit)
FIGURES: list[tuple[str, str, str]] = [
    ("first_error_s", "first client error after fault", "s"),
    ("breaker_open_s", "breaker open after fault", "s"),
    ("recovery_s", "recovery after last revert", "s"),
    ("failed_in_fault_window", "requests failed in fault window", ""),
    ("error_budget_spent", "error budget spent in fault window", "x"),
]


def _r(x: float | None, digits: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def first_error(data: RunData, since: float) -> float | None:
    """Seconds from `since` to the end of the first failed request that ended after it."""
    req = data.requests
    if req.empty:
        return None
    ends = req["t"] + req["ms"] / 1000.0
    failed = ends[(~req["ok"]) & (ends >= since)]
    return None if failed.empty else float(failed.min()) - since


def breaker_open(data: RunData, since: float) -> float | None:
    """Seconds from `since` to the first breaker transition to open at or after it."""
    trs = transitions(data) or []
    opened = [t.t for t in trs if t.to_state == "open" and t.t >= since]
    return min(opened) - since if opened else None


def error_rate(data: RunData, start: float, end: float) -> tuple[int, float] | None:
    """(n, error rate) of the requests that started in [start, end); None without any."""
    req = data.requests
    sel = req[(req["t"] >= start) & (req["t"] < end)]
    if sel.empty:
        return None
    return len(sel), float((~sel["ok"]).mean())


def recovery(data: RunData, revert: float, end: float, baseline: float) -> float | None:
    """Seconds from `revert` until every later bucket's error rate <= baseline + TOLERANCE.

    None when the last bucket before `end` still exceeds it (not recovered by the end).
    """
    req = data.requests
    req = req[(req["t"] >= revert) & (req["t"] < end)]
    if req.empty:
        return None
    bucket = np.floor((req["t"].to_numpy(dtype=float) - revert) / BUCKET_S).astype(int)
    bad = (~req["ok"]).to_numpy(dtype=bool)
    last = int(bucket.max())
    bound = baseline + TOLERANCE
    recovered_from = 0
    for b in range(last + 1):
        mask = bucket == b
        if mask.any() and bad[mask].mean() > bound:
            recovered_from = b + 1
    if recovered_from > last:
        return None
    return recovered_from * BUCKET_S


def figures(data: RunData, budget_rate: float = DEFAULT_BUDGET_RATE) -> dict[str, Any]:
    """Every recovery figure of one scenario run (see the module's docstring)."""
    notes: list[str] = []
    out: dict[str, Any] = {k: None for k, _, _ in FIGURES}
    out.update(recovered=None, requests_in_fault_window=None, baseline_error_rate=None)
    out["budget_rate"] = budget_rate
    windows = data.fault_windows()
    out["faults_injected"] = len(windows)
    req = data.requests
    out["phases"] = {}
    for p in data.journal.phases:
        stats = phase_stats(data, p.name)
        if stats is None:
            out["phases"][p.name] = {"n": 0, "error_rate": None, "p99_ms": None}
        else:
            out["phases"][p.name] = {
                "n": int(stats["n"]),
                "error_rate": _r(1.0 - stats["success_rate"], 4),
                "p99_ms": _r(stats["p99"], 1),
            }
    if req.empty:
        notes.append("no client requests recorded")
    if not windows:
        notes.append("no fault was injected: fault figures do not apply")
        return {**out, "notes": notes}
    first, last = windows[0].start, max(w.end for w in windows)
    _, scenario_end = data.scenario_window()
    base = error_rate(data, data.clock_start, first)
    baseline = base[1] if base else 0.0
    out["baseline_error_rate"] = _r(baseline, 4)
    if base is None:
        notes.append("no request before the first fault: baseline error rate taken as 0")
    out["first_error_s"] = _r(first_error(data, first))
    if out["first_error_s"] is None and not req.empty:
        notes.append("no client-visible error after the first fault")
    if data.series("breaker_transitions") is None and data.series("breaker_state") is None:
        notes.append("no breaker series collected")
    else:
        out["breaker_open_s"] = _r(breaker_open(data, first))
        if out["breaker_open_s"] is None:
            notes.append("no breaker opened after the first fault")
    if not req.empty:
        rec = recovery(data, last, scenario_end, baseline)
        out["recovered"] = rec is not None
        out["recovery_s"] = _r(rec)
        if rec is None:
            notes.append("the error rate was not back to baseline by the end of the scenario")
        in_window = req[(req["t"] >= first) & (req["t"] < last)]
        failed = int((~in_window["ok"]).sum())
        out["requests_in_fault_window"] = len(in_window)
        out["failed_in_fault_window"] = failed
        budget = budget_rate * len(req)
        out["error_budget_spent"] = _r(failed / budget) if budget > 0 else None
    return {**out, "notes": notes}


# ---------------------------------------------------------------------------- results.json


def _first_line(value: Any) -> str:
    return (str(value).splitlines() or [""])[0]


def scenario_result(scenario_dir: Path, budget_rate: float = DEFAULT_BUDGET_RATE) -> dict[str, Any]:
    """One scenario run's entry: verdict, failed checks with one line of evidence, figures."""
    from harness.verdict import check_fails

    data = RunData.load(scenario_dir)
    j = data.journal
    failed = [
        {
            "name": c.get("name", c.get("kind", "check")),
            "verdict": c.get("verdict"),
            "evidence": _first_line((c.get("evidence") or [c.get("measured", "")])[0]),
        }
        for c in j.checks
        if check_fails(c)
    ]
    repeat = getattr(j.scenario, "repeat", None)
    return {
        "name": (repeat or {}).get("of") or j.scenario.name,
        "dir": scenario_dir.name,
        "verdict": j.verdict or "unfinished",
        "seed": j.scenario.seed,
        "target_env": dict(j.target.env),
        "checks": len(j.checks),
        "failed_checks": failed,
        "requests": j.load.requests,
        "failures": j.load.failures,
        "figures": figures(data, budget_rate),
    }


def _listed(run_dir: Path) -> list[Path]:
    try:
        names = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["scenarios"]
        return [run_dir / str(n) for n in names]
    except (OSError, ValueError, KeyError, TypeError):
        return sorted(p.parent for p in run_dir.glob("*/journal.json"))


def build_results(run_dir: Path, budget_rate: float = DEFAULT_BUDGET_RATE) -> dict[str, Any]:
    """The run's results: one entry per scenario, its runs (more than one with ``--repeat``)."""
    from harness.repeats import group_runs

    runs = [scenario_result(d, budget_rate) for d in _listed(run_dir) if d.is_dir()]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name,
        "generated_at": round(time.time(), 3),
        "stormproof": __version__,
        "scenarios": group_runs(runs, [k for k, _, _ in FIGURES]),
    }


def write_results(run_dir: Path, budget_rate: float = DEFAULT_BUDGET_RATE) -> Path:
    """Write ``run_dir/results.json`` atomically and return its path."""
    run_dir = Path(run_dir)
    data = build_results(run_dir, budget_rate)
    out = run_dir / RESULTS_FILE
    tmp = run_dir / f".{RESULTS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out
