from __future__ import annotations

from harness.checks import overload
from tests.checks.rundata_builders import data, frame, series


def lag(peak: float):
    return frame(
        series([(t, 0.01) for t in range(-2, 26)], instance="orders-1"),
        series([(t, peak if t == 12 else 0.02) for t in range(-2, 26)], instance="payments-1"),
    )


def test_low_lag_is_conclusive() -> None:
    result = overload.check(data(prom={"event_loop_lag": lag(0.05)}))
    assert result.verdict == "pass"
    assert result.details["max_lag_s"] == 0.05
    assert not result.details["inconclusive"]


def test_high_lag_makes_the_run_inconclusive() -> None:
    result = overload.check(data(prom={"event_loop_lag": lag(0.8)}))
    assert result.verdict == "fail"
    assert result.details["inconclusive"]
    assert result.evidence == [
        "services were overloaded: the run is inconclusive",
        "payments-1: event loop lagged 0.80 s at +12.0 s (bound 0.25 s)",
    ]


def test_lag_outside_the_scenario_is_ignored_and_missing_is_unknown() -> None:
    late = series([(40, 3.0)], instance="orders-1")
    assert overload.check(data(prom={"event_loop_lag": frame(lag(0.05), late)})).verdict == "pass"
    result = overload.check(data(prom={}))
    assert result.verdict == "unknown"
    assert not result.details["inconclusive"]


def test_a_paused_instance_is_not_overloaded() -> None:
    from tests.checks.rundata_builders import journal

    # payments-1 paused from +5 s to +11 s: its 0.8 s lag at +12 s is its catch-up
    paused = journal([{"kind": "pause", "target": "payments-1", "at": 5, "end": 11}])
    result = overload.check(data(paused, prom={"event_loop_lag": lag(0.8)}))
    assert result.verdict == "pass", result.evidence
    assert "samples of paused instances left out" in result.measured
    # another instance lagging in the same window still counts
    other = journal([{"kind": "pause", "target": "orders-1", "at": 5, "end": 11}])
    assert overload.check(data(other, prom={"event_loop_lag": lag(0.8)})).verdict == "fail"
