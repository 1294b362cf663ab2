"""Abort conditions, evaluated live by the runner over the requests seen so far.

``error_rate_above: 0.9, for: 5s`` aborts when the client error rate over a sliding window
(default 5 s, at least ``min_requests`` requests) stayed above 0.9 at every second of the last
5 s. Pure: the runner passes the requests and the current time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
import pandas as pd
from pydantic import Field, StrictFloat, StrictInt

from harness.durations import PositiveDuration
from harness.facts import Strict


class AbortCondition(Strict):
    """Abort when the client error rate over a sliding `window` stays above the bound for `for`."""

    error_rate_above: StrictFloat = Field(gt=0, le=1)
    for_: PositiveDuration = Field(alias="for")
    window: PositiveDuration = 5.0
    min_requests: StrictInt = Field(default=5, ge=1)


def evaluate(
    conditions: Iterable[AbortCondition], requests: pd.DataFrame, now: float
) -> str | None:
    """The reason to abort, or None. `requests` needs columns t (start, unix s) and ok."""
    if requests.empty:
        return None
    t = requests["t"].to_numpy(dtype=float)
    failed = ~requests["ok"].to_numpy(dtype=bool)
    for cond in conditions:
        steps = np.arange(now - cond.for_, now + 1e-9, 1.0)
        rates = []
        for end in steps:
            in_w = (t > end - cond.window) & (t <= end)
            n = int(in_w.sum())
            if n < cond.min_requests:
                break
            rates.append(failed[in_w].sum() / n)
        if len(rates) == len(steps) and rates and min(rates) > cond.error_rate_above:
            return (
                f"client error rate stayed above {cond.error_rate_above:.0%} for "
                f"{cond.for_:g} s (lowest {min(rates):.0%} over {cond.window:g} s windows)"
            )
    return None


class RecentCounts(Protocol):
    def recent(self, seconds: float) -> tuple[int, int]: ...


class AbortTracker:
    """The live form: fed (requests, failures) of the last `window` seconds at every tick.

    Each condition remembers since when its bound has been exceeded without a break; it fires
    once that lasted `for`. A tick with fewer than `min_requests` requests breaks the streak
    (too little evidence to abort on).
    """

    def __init__(self, conditions: Iterable[AbortCondition]) -> None:
        self.conditions = list(conditions)
        self._above_since: list[float | None] = [None] * len(self.conditions)

    def observe(self, now: float, counts: Callable[[float], tuple[int, int]]) -> str | None:
        for i, cond in enumerate(self.conditions):
            n, failed = counts(cond.window)
            if n >= cond.min_requests and failed / n > cond.error_rate_above:
                since = self._above_since[i]
                if since is None:
                    self._above_since[i] = since = now
                if now - since >= cond.for_:
                    return (
                        f"client error rate {failed / n:.0%} over the last {cond.window:g} s "
                        f"stayed above {cond.error_rate_above:.0%} for {cond.for_:g} s"
                    )
            else:
                self._above_since[i] = None
        return None

    def update(self, now: float, tail: RecentCounts) -> str | None:
        """`tail` is the runner's request log reader (``harness.load.RequestTail``)."""
        return self.observe(now, tail.recent)
