"""The host: when a failed latency check is the machine's doing, not the target's.

Two kinds of host evidence, both recorded in the journal (``overload.host``):

- a **host stall**: at one sample time, (nearly) every instance's event loop lagged together
  (at least ``HOST_LAG`` s, in at least ``STALL_SHARE`` of the instances reporting and at least
  ``STALL_MIN`` of them), one of them off the faulted path (no fault touches it). A lag of one
  instance (a blocking call) is not a host stall; a paused instance, and its catch-up, count
  neither way (``overload.paused``).
- **host pressure**: the share of an interval during which the host stalled for CPU (PSI
  ``cpu some``: a runnable task waited for a core) or for IO (``io full``: every non-idle task
  waited on IO) from ``host_pressure.csv``, at least ``HIGH_PRESSURE``. A host without PSI
  says "not measured".

A failed check is **explained by the host** when latency is all it failed on (``details``
``latency`` set by ``harness.checks.latency.latency_failed``, no ``other_failed``), every
request in its window slower than its bound ran while a host stall or high pressure was
measured, and the requests clear of that evidence keep the bound. When every failed check is
explained, the run is inconclusive (``judge``) with a message naming the evidence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.checks.base import FAIL, PASS, CheckResult, RunData, check_fails
from harness.checks.latency import window_requests
from harness.checks.overload import check as check_overload
from harness.checks.overload import paused_rows
from harness.journal import Journal
from harness.records import pressure_shares

HOST_LAG = 0.03  # s: the lag probe's p90 was 9 ms over 27,380 samples of a loaded suite
STALL_SHARE = 2 / 3
STALL_MIN = 3
# a lag sample at t is the max over the second before a scrape up to 1 s before t
LAG_REACH = 2.0
# a share of a 0.5 s sample interval; the bundled scenarios on a busy 2-core host measured cpu
# some >= 0.5 in 25-34 % of intervals, >= 0.9 in 0-5 % (a restarting instance's imports)
HIGH_PRESSURE = {"cpu_some": 0.9, "io_full": 0.5}
_LABEL = {"cpu_some": "cpu some", "io_full": "io full"}


def faulted_path(data: RunData) -> set[str]:
    """Instances any fault of the run names, directly or through a service or a link."""
    facts = data.facts
    if facts is None:
        return set()
    out: set[str] = set()
    for w in data.fault_windows():
        for token in w.target.replace("->", " ").replace(",", " ").split():
            if token in facts.services:
                out.update(facts.services[token])
            elif token in facts.instances:
                out.add(token)
    return out


def host_stalls(data: RunData) -> list[dict[str, Any]]:
    """Sample times at which (nearly) every instance lagged together: t, lagged {instance:
    lag}, of (instances reporting)."""
    frame = data.series("event_loop_lag")
    if frame is None or "instance" not in frame.columns:
        return []
    start, end = data.scenario_window()
    frame = frame[(frame["t"] >= start) & (frame["t"] <= end)]
    frame = frame[~paused_rows(data, frame)]
    path = faulted_path(data)
    out = []
    for t, g in frame.groupby("t", sort=True):
        lagged = g[g["value"] >= HOST_LAG]
        need = max(STALL_MIN, math.ceil(STALL_SHARE * g["instance"].nunique()))
        who = {str(i): float(v) for i, v in zip(lagged["instance"], lagged["value"], strict=True)}
        if len(who) >= need and set(who) - path:
            out.append({"t": float(t), "lagged": who, "of": int(g["instance"].nunique())})
    return out


def pressure(data: RunData) -> pd.DataFrame:
    """The host's PSI shares per interval within the scenario (empty: not measured)."""
    shares = pressure_shares(data.host_pressure)
    start, end = data.scenario_window()
    return shares[(shares["t"] >= start) & (shares["start"] <= end)].reset_index(drop=True)


def _evidence_intervals(
    data: RunData, stalls: list[dict[str, Any]], shares: pd.DataFrame
) -> list[tuple[float, float, str]]:
    out = []
    for s in stalls:
        lags = sorted(s["lagged"].items(), key=lambda kv: -kv[1])
        names = ", ".join(f"{i} {v:.2f} s" for i, v in lags)
        out.append((s["t"] - LAG_REACH, s["t"], f"host stall at {data.rel(s['t'])}: "
                    f"{len(lags)} of {s['of']} instances lagged ({names})"))  # fmt: skip
    for _, row in shares.iterrows():
        high = [f"{_LABEL[k]} {row[k]:.0%}" for k, bound in HIGH_PRESSURE.items()
                if row[k] >= bound]  # fmt: skip
        if high:
            out.append((float(row["start"]), float(row["t"]), f"host pressure "
                        f"{data.rel(float(row['start']))}..{data.rel(float(row['t']))}: "
                        + ", ".join(high)))  # fmt: skip
    return out


def _explain(check: dict[str, Any], data: RunData, spans: list) -> str | None:
    """Why the host explains this failed check, or None when it does not."""
    details = check.get("details") or {}
    lat = details.get("latency")
    if check.get("verdict") != FAIL or not lat or details.get("other_failed") or not spans:
        return None
    req = window_requests(data, *lat["window"])
    if req.empty:
        return None
    begins = req["t"].to_numpy(dtype=float)
    ends = begins + req["ms"].to_numpy(dtype=float) / 1000.0
    touched = np.zeros(len(req), dtype=bool)
    used: list[str] = []
    for a, b, text in spans:
        hit = (begins <= b) & (ends >= a)
        if hit.any():
            touched |= hit
            used.append(text)
    ms = req["ms"].to_numpy(dtype=float)
    parts = []
    for stat, bound in lat["bounds_ms"].items():
        slow = ms > bound
        if not slow.any() or (slow & ~touched).any():
            return None  # a slow request the host does not account for: the target's own
        clear = ms[~touched]
        if clear.size:
            value = float(np.percentile(clear, int(stat[1:])))
            if value > bound:
                return None
            rest = f"the {clear.size} requests clear of it: {stat} {value:.0f} ms"
        else:
            rest = "no request of the window ran clear of it"
        first, last = data.rel(float(begins[slow].min())), data.rel(float(begins[slow].max()))
        when = first if first == last else f"{first}..{last}"
        parts.append(f"{int(slow.sum())} requests over {bound:.0f} ms ({stat} bound) started at "
                     f"{when}; {rest}")  # fmt: skip
    return f"{check.get('name')}: " + "; ".join(parts) + "; during " + "; ".join(used[:3]) + (
        f" (and {len(used) - 3} more)" if len(used) > 3 else "")  # fmt: skip


def check(data: RunData, checks: list[dict[str, Any]]) -> CheckResult:
    """Whether the host explains every failed check of `checks` (journal dicts): verdict
    "fail" means it does (so: inconclusive). ``details``: stalls, pressure (measured, why not,
    maximum shares, samples), explained."""
    result = CheckResult("host", "host", PASS, "no failed check explained by the host")
    stalls = host_stalls(data)
    shares = pressure(data)
    why_not = None
    if shares.empty:
        why_not = data.missing.get("host_pressure.csv", "fewer than two samples")
    kinds = ("cpu_some", "io_some", "io_full")
    samples = [{k: round(float(r[k]), 3) for k in ("t", *kinds)} for _, r in shares.iterrows()]
    peaks = {k: round(float(shares[k].max()), 3) if not shares.empty else None for k in kinds}
    result.details = {
        "stalls": stalls,
        "pressure": {
            "measured": why_not is None,
            "why_not": why_not,
            "max": peaks,
            "bounds": dict(HIGH_PRESSURE),
            "samples": samples,
        },
        "explained": [],
    }
    measured = [f"{len(stalls)} host stalls"]
    measured.append(
        f"host pressure not measured: {why_not}" if why_not is not None else
        "max host pressure " + ", ".join(f"{_LABEL[k]} {shares[k].max():.0%}"
                                         for k in HIGH_PRESSURE))  # fmt: skip
    result.measured = "; ".join(measured)
    failed = [c for c in checks if check_fails(c)]
    if not failed:
        return result
    spans = _evidence_intervals(data, stalls, shares)
    reasons = [_explain(c, data, spans) for c in failed]
    if all(r is not None for r in reasons):
        result.verdict = FAIL
        result.details["explained"] = reasons
        result.evidence = ["the host stalled: the run is inconclusive"]
        result.evidence += [r for r in reasons if r is not None]
    return result


def judge(j: Journal, data: RunData) -> bool:
    """Record the overload and host figures in the journal; whether a failed run is
    inconclusive (an instance overloaded, or every failed check explained by the host)."""
    over = check_overload(data)
    j.overload.max_event_loop_lag_s = over.details.get("max_lag_s")
    j.overload.inconclusive = over.verdict == FAIL
    if over.verdict == FAIL:
        j.event("overload", "; ".join(over.evidence))
    host = check(data, j.checks)
    j.overload.host = {**host.details, "measured": host.measured}
    failed = any(check_fails(c) for c in j.checks)
    if j.overload.inconclusive and failed:
        return True
    if host.verdict == FAIL:
        j.overload.host_explains = True
        j.event("overload", "; ".join(host.evidence))
        return True
    return False
