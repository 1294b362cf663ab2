"""A generic check: a PromQL series aggregated over a phase (or the scenario), compared.

The runner collects each promql expectation's query as a range over the scenario into the prom
key ``promql_<index>`` (its position in `expect`; ``promql_<name>`` is read too). Each series
of the result is aggregated on its own and must hold the comparison: ``sum(...)`` gives one
series, a per-instance query one per instance.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Literal

import pandas as pd
from pydantic import Field, StrictFloat

from harness.checks.base import FAIL, PASS, UNKNOWN, CheckResult, RunData, label_columns
from harness.checks.kind import CheckKind, ExpectModel

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


class PromqlExpect(ExpectModel):
    type: Literal["promql"] = "promql"
    query: str = Field(min_length=1)
    phase: str | None = Field(default=None, description="omitted: the whole scenario")
    agg: Literal["max", "min", "avg", "last", "first"] = "max"
    at: Literal["start", "end"] | None = Field(
        default=None, description="end: the last sample of the window (agg last); start: first"
    )
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: StrictFloat

    def label(self) -> str:
        return self.name or f"promql {self.query}"


def promql_key(expect: PromqlExpect, index: int, prefix: str = "promql_") -> str:
    """Where the runner saves the query's range: ``promql_<index>`` (position in `expect`)."""
    return f"{prefix}{index}"


def named_key(expect: PromqlExpect, prefix: str = "promql_") -> str | None:
    """``promql_<name>``: an alternative key for a named expectation."""
    if not expect.name:
        return None
    slug = "".join(c if c.isalnum() else "_" for c in expect.name.lower()).strip("_")
    return f"{prefix}{slug}"


def _aggregate(values: pd.Series, agg: str) -> float:
    if agg == "first":
        return float(values.iloc[0])
    if agg == "last":
        return float(values.iloc[-1])
    return float(getattr(values, "mean" if agg == "avg" else agg)())


def check(expect: PromqlExpect, data: RunData, key: str | None = None) -> CheckResult:
    agg = {"end": "last", "start": "first"}.get(expect.at or "", expect.agg)
    where = f"phase {expect.phase}" if expect.phase else "the scenario"
    expected = f"{agg}({expect.query}) over {where} {expect.op} {expect.value:g}"
    result = CheckResult(expect.label(), "promql", PASS, expected,
                         allow_unknown=expect.allow_unknown)  # fmt: skip
    key = key or promql_key(expect, 0)
    frame = data.series(key)
    alt = named_key(expect)
    if frame is None and alt is not None and data.series(alt) is not None:
        key, frame = alt, data.series(alt)
    window = data.phase_window(expect.phase) if expect.phase else data.scenario_window()
    reason = None
    if frame is None:
        reason = f"no samples ({data.why_missing(key)})"
    elif window is None:
        reason = f"no phase {expect.phase} in the journal"
    else:
        start, end = window
        frame = frame[(frame["t"] >= start) & (frame["t"] <= end)]
        if frame.empty:
            reason = f"no samples of {expect.query!r} in {where}"
    if reason is not None:
        result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
        result.evidence.append(reason)
        return result
    labels = label_columns(frame)
    groups = frame.groupby(labels, sort=True) if labels else [((), frame)]
    measured, compare = [], OPS[expect.op]
    for lab, g in groups:
        g = g.sort_values("t", kind="stable")
        value = _aggregate(g["value"], agg)
        lab = lab if isinstance(lab, tuple) else (lab,)
        name = ",".join(f"{k}={v}" for k, v in zip(labels, lab, strict=True)) or "value"
        measured.append(f"{name}: {value:g}")
        result.details.setdefault("series", {})[name] = value
        if not compare(value, expect.value):
            result.verdict = FAIL
            result.evidence.append(
                f"{agg}({expect.query}) over {where} = {value:g} for {name}, "
                f"expected {expect.op} {expect.value:g}"
            )
            result.violation_at = result.violation_at or float(g["t"].iloc[-1])
    result.measured = "; ".join(measured)
    return result


KIND = CheckKind(
    name="promql",
    model=PromqlExpect,
    check=check,
    series=(),
    data="its own query, collected as `promql_<index>`",
    queries=lambda expect, index, prefix: {promql_key(expect, index, prefix): expect.query},
)
