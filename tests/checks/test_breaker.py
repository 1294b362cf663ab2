from __future__ import annotations

import pandas as pd

from harness.checks import breaker
from harness.checks.base import increases
from harness.scenario import BreakerExpect
from tests.checks.rundata_builders import T0, data, frame, journal, series, steady

LATENCY = [{"kind": "latency", "target": "orders->payments", "at": 5, "end": 15}]
L = {"caller": "orders", "callee": "payments"}


def transition(at: float, frm: str, to: str, inst: str = "payments-1", **labels: str):
    """A counter series created by its first transition at offset `at` (value 1 from then on)."""
    lab = {**L, "callee_instance": inst, "from_state": frm, "to_state": to, **labels}
    return series([(t, 1) for t in range(int(at), 29)], **lab)


def healthy_cycle(opened: float = 7, half: float = 17, closed: float = 18) -> pd.DataFrame:
    return frame(
        # a transition from an earlier scenario: present from the first sample, not counted
        steady(3, callee_instance="payments-2", from_state="closed", to_state="open", **L),
        transition(opened, "closed", "open"),
        transition(half, "open", "half_open"),
        transition(closed, "half_open", "closed"),
    )


def calls(per_s_open: int) -> pd.DataFrame:
    pts, total = [], 0.0
    for t in range(-2, 29):
        total += per_s_open if 7 < t < 18 else 10
        pts.append((t, total))
    return series(pts, callee_instance="payments-1", outcome="ok", **L)


def expect(**kw) -> BreakerExpect:
    base = {"link": "orders->payments", "opens_within": 5, "closes_within": 5,
            "max_calls_while_open": 10}  # fmt: skip
    return BreakerExpect(**{**base, **kw})


def run(prom: dict, e: BreakerExpect | None = None, faults=LATENCY):
    return breaker.check(e or expect(), data(journal(faults), prom=prom))


def test_open_and_close_cycle_passes_with_readable_evidence() -> None:
    result = run({"breaker_transitions": healthy_cycle(), "outbound_requests": calls(0)})
    assert result.verdict == "pass", result.evidence
    assert result.evidence[0] == (
        "breaker orders->payments-1 opened 2.0 s after the latency fault (limit 5.0 s)"
    )
    assert "breaker orders->payments-1 closed 3.0 s after the latency fault was reverted " \
        "(limit 5.0 s)" in result.evidence  # fmt: skip
    assert result.measured.startswith("opened after 2.0 s; closed within 3.0 s of the revert")


def test_opens_too_late() -> None:
    result = run({"breaker_transitions": healthy_cycle(opened=12), "outbound_requests": calls(0)})
    assert result.verdict == "fail"
    assert "opened 7.0 s after the latency fault (limit 5.0 s)" in result.evidence[0]
    assert result.violation_at == T0 + 10


def test_never_opens() -> None:
    result = run({"breaker_transitions": steady(0, from_state="closed", to_state="open",
                                                callee_instance="payments-1", **L)})  # fmt: skip
    assert result.verdict == "fail"
    assert result.evidence == [
        "breaker orders->payments never opened during the latency fault (+5.0 s to +15.0 s)"
    ]


def test_never_closes() -> None:
    trans = frame(transition(7, "closed", "open"), transition(17, "open", "half_open"),
                  transition(18, "half_open", "open", ))  # fmt: skip
    result = run({"breaker_transitions": trans, "outbound_requests": calls(0)})
    assert result.verdict == "fail"
    assert any("breaker orders->payments-1 still not closed" in e and "limit 5.0 s" in e
               for e in result.evidence)  # fmt: skip


def test_too_many_calls_while_open() -> None:
    result = run({"breaker_transitions": healthy_cycle(), "outbound_requests": calls(3)})
    assert result.verdict == "fail"
    assert any(e.startswith("payments-1 got 30 calls from orders while its breaker was open")
               and "limit 10" in e for e in result.evidence)  # fmt: skip
    assert result.details["calls_while_open"]["payments-1"] == 30


def test_breaker_open_outcomes_do_not_count_as_calls() -> None:
    rejected = calls(3).assign(outcome="breaker_open")
    prom = {"breaker_transitions": healthy_cycle(),
            "outbound_requests": frame(calls(0), rejected)}  # fmt: skip
    assert run(prom).verdict == "pass"


def test_another_breaker_opening_fails_others_stay_closed() -> None:
    other = series([(t, 1) for t in range(9, 29)], caller="gateway", callee="inventory",
                   callee_instance="inventory-1", from_state="closed", to_state="open")  # fmt: skip
    prom = {"breaker_transitions": frame(healthy_cycle(), other), "outbound_requests": calls(0)}
    result = run(prom)
    assert result.verdict == "fail"
    assert "breaker gateway->inventory-1 opened at +9.0 s; no fault touched that link" in (
        result.evidence
    )
    assert run(prom, expect(others_stay_closed=False)).verdict == "pass"


def test_crash_of_callee_instance_is_a_fault_on_the_link() -> None:
    crash = [{"kind": "crash", "target": "payments-1", "at": 5, "end": 15}]
    result = run({"breaker_transitions": healthy_cycle(), "outbound_requests": calls(0)},
                 faults=crash)  # fmt: skip
    assert result.verdict == "pass", result.evidence
    assert "after the crash fault" in result.evidence[0]


def test_gauge_alone_is_enough() -> None:
    gauge = series([(t, 1 if 8 <= t < 17 else 2 if t == 17 else 0) for t in range(-2, 29)],
                   callee_instance="payments-1", **L)  # fmt: skip
    result = run({"breaker_state": gauge}, expect(max_calls_while_open=None))
    assert result.verdict == "pass", result.evidence
    assert "opened 3.0 s after" in result.evidence[0]


def test_missing_series_and_missing_fault_are_unknown() -> None:
    result = run({})
    assert result.verdict == "unknown"
    assert "no breaker series" in result.evidence[0]
    result = run({"breaker_transitions": healthy_cycle()}, faults=[])
    assert result.verdict == "unknown"
    assert result.evidence == ["no injected fault touches orders->payments in the journal"]


def test_increases_handle_resets_and_new_series() -> None:
    old = steady(5, end=3, name="a")
    reset = series([(-2, 4), (-1, 5), (0, 1), (1, 1), (2, 3)], name="b")
    new = series([(1, 2), (2, 2)], name="c")
    inc = increases(frame(old, reset, new))
    got = sorted((r.name, r.t - T0, r.increase) for r in inc.itertuples())
    assert got == [("b", -1.0, 1.0), ("b", 0.0, 1.0), ("b", 2.0, 2.0), ("c", 1.0, 2.0)]
