"""Several runs of one scenario (``stormproof run --repeat N``) as one results entry.

Pure: the verdict rule and the standard library only. A scenario's entry in ``results.json``
always lists its ``runs`` (one without ``--repeat``); its ``verdict`` is
``harness.verdict.repeat_verdict`` of theirs (``flaky`` when they disagree), its ``figures``
the median of each figure over the runs that measured it, and ``spread`` each figure's
minimum, median and maximum with how many runs measured it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.verdict import PASS, repeat_verdict


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """min, median, max and n of the values that are numbers (None: not measured)."""
    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {
        "n": len(nums),
        "min": round(min(nums), 3),
        "median": round(statistics.median(nums), 3),
        "max": round(max(nums), 3),
    }


def _median_figures(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    first = runs[0]["figures"]
    if len(runs) == 1:
        return first
    out = dict(first)
    for k in keys:
        out[k] = spread(r["figures"].get(k) for r in runs)["median"]
    recovered = [r["figures"].get("recovered") for r in runs]
    out["recovered"] = None if all(v is None for v in recovered) else all(v for v in recovered)
    phases: dict[str, Any] = {}
    for name in first.get("phases", {}):
        p99 = spread(r["figures"].get("phases", {}).get(name, {}).get("p99_ms") for r in runs)
        rates = spread(r["figures"].get("phases", {}).get(name, {}).get("error_rate") for r in runs)
        phases[name] = {
            **first["phases"][name],
            "p99_ms": p99["median"],
            "error_rate": rates["median"],
        }
    out["phases"] = phases
    out["notes"] = sorted({n for r in runs for n in r["figures"].get("notes", [])})
    return out


def group_runs(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, dict[str, Any]]:
    """Scenario name -> its entry, from per-run entries (each with name, verdict, figures)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_name.setdefault(r["name"], []).append(r)
    out = {}
    for name, group in by_name.items():
        verdicts = [r["verdict"] for r in group]
        entry = {k: v for k, v in group[0].items() if k not in ("dir", "figures")}
        entry.update(
            verdict=repeat_verdict(verdicts),
            count=len(group),
            passed=sum(1 for v in verdicts if v == PASS),
            verdicts=verdicts,
            failed_checks=[c for r in group for c in r["failed_checks"]],
            figures=_median_figures(group, keys),
            spread={k: spread(r["figures"].get(k) for r in group) for k in keys},
            runs=[
                {"dir": r["dir"], "verdict": r["verdict"], "figures": r["figures"]} for r in group
            ],
        )
        out[name] = entry
    return out


# the figures a repeat summary line shows: (key, label, unit)
LINE_FIGURES = [
    ("first_error_s", "first error", "s"),
    ("breaker_open_s", "breaker open", "s"),
    ("recovery_s", "recovery", "s"),
    ("failed_in_fault_window", "failed in fault window", ""),
]


def _range(sp: dict[str, Any], unit: str) -> str:
    if not sp.get("n"):
        return "not measured"
    u = " s" if unit == "s" else ""
    if sp["min"] == sp["max"]:
        return f"{sp['min']:g}{u}"
    return f"{sp['min']:g}-{sp['max']:g}{u} (median {sp['median']:g}{u})"


def repeat_line(name: str, entry: dict[str, Any]) -> str:
    """One line per repeated scenario: verdict, runs passed, and each key figure's spread."""
    verdicts = ", ".join(entry.get("verdicts", []))
    head = f"{str(entry.get('verdict')).upper()} {name}: {entry.get('passed')}/" \
        f"{entry.get('count')} runs passed ({verdicts})"  # fmt: skip
    spread_ = entry.get("spread") or {}
    figs = [
        f"{label} {_range(spread_.get(key) or {}, unit)}"
        for key, label, unit in LINE_FIGURES
        if (spread_.get(key) or {}).get("n")
    ]
    return head + ("; " + ", ".join(figs) if figs else "")


def repeat_lines(run_dir: Path) -> list[str]:
    """The repeat summary of a run folder's results.json (nothing when it has none)."""
    try:
        data = json.loads((Path(run_dir) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return []
    return [repeat_line(n, e) for n, e in entries.items() if e.get("count", 1) > 1]
