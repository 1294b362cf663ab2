"""Latency statistics over client requests, one way for every check that judges a percentile.

The slo check (per phase), the steady-state hypothesis (before the faults, its baseline, and
after recovery) and the recovery figures all read a window's requests through
:func:`window_stats`: a request counts when it started and ended inside the window, and
p50/p95/p99 are numpy's linear-interpolation percentiles over every request's duration
(failures included: a timeout is the slowest answer of all).

A percentile needs a sample to be one: over fewer than ``MIN_SAMPLES`` requests "p99" sits
between the two slowest requests, so one stalled request can decide it (:func:`sample_note`
says so in the evidence). The after-recovery window reaches back for them
(:func:`reach_back`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks.base import CheckResult, RunData

# 1 / (1 - 0.99): the smallest sample in which one request in a hundred lies above the p99;
# from 101 requests on, numpy's p99 is the second slowest, never the slowest.
MIN_SAMPLES = 100


def window_requests(data: RunData, start: float, end: float) -> pd.DataFrame:
    """The requests that started and ended inside [start, end]."""
    req = data.requests
    ends = req["t"] + req["ms"] / 1000.0
    return req[(req["t"] >= start) & (ends <= end)]


def window_stats(data: RunData, start: float, end: float) -> dict[str, float] | None:
    """n, success_rate, p50/p95/p99 (ms) and throughput (ok/s) over [start, end]; None when no
    request started and ended in it."""
    req = window_requests(data, start, end)
    if req.empty or end <= start:
        return None
    ms = req["ms"].to_numpy(dtype=float)
    ok = req["ok"].to_numpy(dtype=bool)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "n": float(len(req)),
        "success_rate": float(ok.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "throughput": float(ok.sum()) / (end - start),
    }


def sample_note(n: float, stat: str = "p99") -> str | None:
    """What a percentile (``p50``, ``p95``, ``p99``) over `n` requests really is, when `n` is
    too small for one request in 1/(1 - q) to lie above it."""
    q = int(stat[1:]) / 100
    least = round(1 / (1 - q))
    if n >= least:
        return None
    return (
        f"{n:.0f} requests, fewer than {least}: this {stat} lies between the two slowest "
        "requests, so one slow request can decide it"
    )


def reach_back(data: RunData, start: float, end: float, floor: float) -> float:
    """The start of a window ending at `end` that holds at least ``MIN_SAMPLES`` requests:
    `start` when it already does, else the start of the ``MIN_SAMPLES``-th latest request that
    ended by `end`, never earlier than `floor` (and never later than `start`)."""
    if floor >= start:
        return start
    req = data.requests
    done = req[(req["t"] + req["ms"] / 1000.0 <= end) & (req["t"] >= floor)]
    if len(done) < MIN_SAMPLES:
        return floor  # the phase cannot supply them: everything back to the floor
    nth = float(np.sort(done["t"].to_numpy(dtype=float))[-MIN_SAMPLES])
    return min(start, nth)


def latency_failed(
    result: CheckResult, window: tuple[float, float] | None, stat: str, bound_ms: float
) -> None:
    """Record in `result` that its `stat` over `window` broke `bound_ms`: the host rule
    (``harness.checks.host``) reads ``details["latency"]`` to look for the slow requests, and
    excuses a check only when latency is all it failed on (``details["other_failed"]`` unset)."""
    if window is None:
        result.details["other_failed"] = True
        return
    lat = result.details.setdefault("latency", {"window": list(window), "bounds_ms": {}})
    bounds = lat["bounds_ms"]
    bounds[stat] = min(bound_ms, bounds.get(stat, bound_ms))
