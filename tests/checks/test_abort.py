from __future__ import annotations

from harness.checks.abort import AbortTracker, evaluate
from harness.scenario import AbortCondition
from tests.checks.rundata_builders import T0, requests

COND = AbortCondition.model_validate({"error_rate_above": 0.9, "for": "5s"})


def test_sustained_errors_abort() -> None:
    req = requests(end=20, failing=(5, 20))
    assert evaluate([COND], req, T0 + 9) is None  # windows still hold good requests
    reason = evaluate([COND], req, T0 + 16)
    assert reason is not None
    assert reason.startswith("client error rate stayed above 90% for 5 s (lowest 100%")


def test_a_short_burst_or_too_few_requests_does_not_abort() -> None:
    assert evaluate([COND], requests(end=20, failing=(5, 8)), T0 + 12) is None
    assert evaluate([COND], requests(end=20, per_s=0), T0 + 12) is None
    sparse = requests(end=20, per_s=1, failing=(0, 20))
    few = AbortCondition.model_validate({"error_rate_above": 0.9, "for": "5s",
                                         "min_requests": 10})  # fmt: skip
    assert evaluate([few], sparse, T0 + 15) is None
    assert evaluate([COND], sparse, T0 + 15) is not None


def test_live_tracker_needs_the_bound_held_for_the_duration() -> None:
    tracker = AbortTracker([COND])
    bad = lambda _w: (20, 19)  # noqa: E731
    good = lambda _w: (20, 1)  # noqa: E731
    assert tracker.observe(100.0, bad) is None
    assert tracker.observe(103.0, good) is None  # the streak breaks
    assert tracker.observe(104.0, bad) is None
    assert tracker.observe(108.9, bad) is None
    reason = tracker.observe(109.0, bad)
    assert reason == "client error rate 95% over the last 5 s stayed above 90% for 5 s"


class _Tail:
    def recent(self, seconds: float) -> tuple[int, int]:
        return (10, 10)


def test_tracker_reads_a_request_tail() -> None:
    tracker = AbortTracker([COND])
    assert tracker.update(0.0, _Tail()) is None
    assert tracker.update(5.0, _Tail()) is not None
