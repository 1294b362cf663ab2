"""One percentile for every check, honest about its sample; the after-recovery window."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.checks import slo
from harness.checks.latency import (
    MIN_SAMPLES,
    reach_back,
    sample_note,
    window_requests,
    window_stats,
)
from harness.checks.steady import BASELINE, SETTLE_MARGIN, WINDOW, after_window, check
from harness.scenario import SloExpect, SteadyExpect
from tests.checks.rundata_builders import T0, data, journal, requests


def test_the_slo_check_and_the_steady_state_read_one_helper() -> None:
    d = data(requests=requests(per_s=10))
    assert slo.phase_stats(d, "baseline") == window_stats(d, T0, T0 + 5)
    assert window_stats(d, T0 + 30, T0 + 31) is None


@pytest.mark.parametrize(
    ("n", "stat", "honest"),
    [(80, "p99", False), (99, "p99", False), (100, "p99", True), (19, "p95", False),
     (20, "p95", True), (1, "p50", False), (2, "p50", True)],
)  # fmt: skip
def test_a_percentile_needs_one_request_in_1_over_1_minus_q_above_it(
    n: int, stat: str, honest: bool
) -> None:
    note = sample_note(n, stat)
    assert (note is None) == honest
    if note is not None:
        assert note.startswith(f"{n} requests, fewer than ")
        assert "one slow request can decide it" in note


def test_reach_back_takes_just_enough_requests_and_never_passes_the_floor() -> None:
    d = data(requests=requests(per_s=15))  # 75 requests in the last 5 s
    start = reach_back(d, T0 + 20, T0 + 25, floor=T0 + 10)
    assert len(window_requests(d, start, T0 + 25)) == MIN_SAMPLES
    assert T0 + 18 < start < T0 + 19
    # enough already: unchanged
    d = data(requests=requests(per_s=20))
    assert reach_back(d, T0 + 20, T0 + 25, floor=T0 + 10) == T0 + 20
    # the phase cannot supply them: back to the floor, no further
    d = data(requests=requests(per_s=10))
    assert reach_back(d, T0 + 20, T0 + 25, floor=T0 + 17) == T0 + 17
    # a floor inside the window never narrows it
    assert reach_back(d, T0 + 20, T0 + 25, floor=T0 + 22) == T0 + 20


def test_the_after_window_stays_clear_of_the_fault_and_its_settle_margin() -> None:
    # phases: baseline 0-5, fault 5-15, recovery 15-25
    reverted = journal([{"kind": "latency", "target": "orders->payments", "at": 5, "end": 12}])
    d = data(reverted, requests=requests(per_s=10))
    assert after_window(d) == (T0 + 12 + SETTLE_MARGIN, T0 + 25)
    d = data(reverted, requests=requests(per_s=15))
    start, end = after_window(d)
    assert T0 + 17 < start < T0 + 20 and end == T0 + 25
    # never into the last phase's predecessor, even long after the revert
    early = journal([{"kind": "latency", "target": "orders->payments", "at": 1, "end": 2}])
    assert after_window(data(early, requests=requests(per_s=5)))[0] == T0 + 15
    # a fault still in force at the end: the last 5 s, as before
    held = journal([{"kind": "crash", "target": "payments-2", "at": 5, "end": None}])
    assert after_window(data(held, requests=requests(per_s=10))) == (T0 + 20, T0 + 25)


def _after(per_s: int, slow_at: float | None = None, slow_ms: float = 400.0):
    j = journal([{"kind": "latency", "target": "orders->payments", "at": 5, "end": 12}])
    req = requests(per_s=per_s)
    if slow_at is not None:
        req.loc[(req["t"] >= T0 + slow_at) & (req["t"] < T0 + slow_at + 0.01), "ms"] = slow_ms
    d = data(j, requests=req, prom={}, registry=None)
    d.windows[WINDOW] = after_window(d)
    d.windows[BASELINE] = (T0, T0 + 5)
    return d


def test_one_slow_request_no_longer_decides_the_after_recovery_p99() -> None:
    expect = SteadyExpect(breakers_closed=False, registered=False)
    # 20 requests/s: 100 in the last 5 s, one of them slow -> p99 is the second slowest
    r = check(expect, _after(20, slow_at=22.0), "after")
    assert r.verdict == "pass", r.evidence
    assert "100 requests over 5.0 s" in r.measured
    # 10 requests/s: the window reaches back to 5 s after the revert, 80 requests; one slow
    # request weighs 21 % in numpy's p99 (0.79 x second slowest + 0.21 x slowest): a 1 s one
    # decides it, and the evidence says so
    r = check(expect, _after(10, slow_at=22.0, slow_ms=1000.0), "after")
    assert r.verdict == "fail"
    assert "80 requests over 8.0 s" in r.measured
    assert any(
        e.startswith("80 requests, fewer than 100: this p99 lies between the two slowest")
        and "no further than +17.0 s" in e
        and "judged over these" in e
        for e in r.evidence
    ), r.evidence
    assert r.details["latency"] == {"window": [T0 + 17, T0 + 25], "bounds_ms": {"p99": 137.0}}
    assert "other_failed" not in r.details


def test_an_error_rate_or_a_breaker_failure_is_not_latency() -> None:
    d = _after(20)
    d.requests.loc[d.requests.index[-5:], "ok"] = False
    r = check(SteadyExpect(breakers_closed=False, registered=False), d, "after")
    assert r.verdict == "fail" and r.details["other_failed"] is True


def test_slo_says_when_its_percentile_is_really_the_slowest_request() -> None:
    req = requests(per_s=10)
    req.loc[req["t"].between(T0 + 1, T0 + 1.15), "ms"] = 900.0  # two slow requests
    result = slo.check(SloExpect(phase="baseline", max_p99=0.5), data(requests=req))
    assert result.verdict == "fail"
    assert result.evidence[0].startswith("p99 ")
    assert "(n=50); 50 requests, fewer than 100: this p99 lies between" in result.evidence[0]
    assert result.details["latency"] == {"window": [T0, T0 + 5], "bounds_ms": {"p99": 500.0}}
    bad = slo.check(
        SloExpect(phase="baseline", min_success_rate=1.0, max_p99=0.5),
        data(requests=requests(failing=(1, 1.5))),
    )
    assert bad.details["other_failed"] is True


def test_requests_straddling_the_window_edge_belong_to_neither_side() -> None:
    req = pd.concat([requests(end=5)], ignore_index=True)
    req.loc[req.index[-1], "ms"] = 2000.0  # starts at 4.9 s, ends at 6.9 s
    assert len(window_requests(data(requests=req), T0, T0 + 5)) == 49
