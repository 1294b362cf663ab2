"""Overload: services whose event loop lagged could not keep their own deadlines.

A run whose services were overloaded proves nothing either way: the runner marks it
inconclusive, not failed (DESIGN-NOTES, "Time, scrapes and load"). Reads ``event_loop_lag``
(the max lag over the last second, per instance, in seconds: the target profile's
``event_loop_lag``).

The result is a CheckResult of kind "overload" that is not one of the scenario's checks:
verdict "fail" means overloaded (so: inconclusive), "unknown" means not measured.
``details``: max_lag_s, bound_s, per_instance {instance: max lag}, inconclusive.
"""

from __future__ import annotations

from typing import Any

from harness.checks.base import FAIL, PASS, UNKNOWN, CheckResult, RunData

DEFAULT_MAX_LAG = 0.25  # seconds
# A process that a fault paused is not overloaded: its lag while stopped, and the catch-up
# right after SIGCONT (every pending deadline fires at once), are the fault's, not load's.
CATCH_UP = 3.0  # seconds after the resume


def paused_rows(data: RunData, frame: Any) -> Any:
    """Rows of `frame` (per instance) that fall in a pause of that instance, or its catch-up."""
    mask = frame["t"] != frame["t"]  # all False, same index
    if "instance" not in frame.columns:
        return mask
    for w in data.fault_windows():
        if w.kind == "pause":
            mask |= (
                (frame["instance"] == w.target)
                & (frame["t"] >= w.start)
                & (frame["t"] <= w.end + CATCH_UP)
            )
    return mask


def check(data: RunData, max_lag: float = DEFAULT_MAX_LAG) -> CheckResult:
    expected = f"every service's event-loop lag <= {max_lag:g} s"
    result = CheckResult("overload", "overload", PASS, expected)
    result.details = {"max_lag_s": None, "bound_s": max_lag, "per_instance": {},
                      "inconclusive": False}  # fmt: skip
    frame = data.series("event_loop_lag")
    excused = 0
    if frame is not None:
        start, end = data.scenario_window()
        frame = frame[(frame["t"] >= start) & (frame["t"] <= end)]
        paused = paused_rows(data, frame)
        excused = int(paused.sum())
        frame = frame[~paused]
    if frame is None or frame.empty:
        reason = f"event-loop lag not measured ({data.why_missing('event_loop_lag')})"
        result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
        result.evidence.append(reason)
        return result
    key = "instance" if "instance" in frame.columns else None
    groups = frame.groupby(key, sort=True) if key else [("all", frame)]
    per = {}
    for inst, g in groups:
        worst = g.loc[g["value"].idxmax()]
        per[str(inst)] = float(worst["value"])
        if worst["value"] > max_lag:
            result.evidence.append(
                f"{inst}: event loop lagged {worst['value']:.2f} s at "
                f"{data.rel(float(worst['t']))} (bound {max_lag:g} s)"
            )
    top = max(per.values())
    result.details.update(max_lag_s=top, per_instance=per, inconclusive=bool(result.evidence))
    result.measured = f"max event-loop lag {top:.3f} s" + (
        f" ({excused} samples of paused instances left out)" if excused else ""
    )
    if result.evidence:
        result.verdict = FAIL
        result.evidence.insert(0, "services were overloaded: the run is inconclusive")
    return result


check_overload = check
