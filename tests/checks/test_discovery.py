from __future__ import annotations

import pandas as pd

from harness.checks import discovery
from harness.scenario import DiscoveryExpect
from tests.checks.rundata_builders import T0, data, frame, journal, requests, series

CRASH = [{"kind": "crash", "target": "payments-1", "at": 5, "end": 15}]
EXPECT = DiscoveryExpect(instance="payments-1", leaves_within=6, recovers_within=5,
                         returns_within=4)  # fmt: skip


def registry(inc_of) -> pd.DataFrame:
    """Polls every second; inc_of(offset) -> payments-1's incarnation or None (absent)."""
    rows = []
    for t in range(-2, 29):
        rows.append({"t": T0 + t, "service": "payments", "instance": "payments-2",
                     "incarnation": "p2"})  # fmt: skip
        inc = inc_of(t)
        if inc is not None:
            rows.append({"t": T0 + t, "service": "payments", "instance": "payments-1",
                         "incarnation": inc})  # fmt: skip
    return pd.DataFrame(rows)


def crash_then_back(t: float) -> str | None:
    return "a" if t < 10 else None if t < 16 else "b"


def seen(drop: float = 10, back: float = 17) -> pd.DataFrame:
    pts = [(t, 0 if drop <= t < back else 1) for t in range(-2, 29)]
    return series(pts, caller="orders", callee="payments", callee_instance="payments-1",
                  instance="orders-1")  # fmt: skip


def ok_calls(serving_again: float = 17) -> pd.DataFrame:
    # counter of ok calls to payments-1: rises, flat while it is dead, reset by the restart
    pts, total = [], 0.0
    for t in range(-2, 29):
        if t < 5:
            total += 5
        elif t >= serving_again:
            total = total + 5 if total < 1000 else 5.0
        pts.append((t, total if t < serving_again else 1000.0))
    return series(pts, caller="orders", callee="payments", callee_instance="payments-1",
                  outcome="ok")  # fmt: skip


def run(e=EXPECT, inc_of=crash_then_back, prom=None, req=None, faults=CRASH, reg=True):
    prom = {"discovery_seen": seen(), "outbound_requests": ok_calls()} if prom is None else prom
    d = data(journal(faults), prom=prom, registry=registry(inc_of) if reg else None,
             requests=requests(failing=(5, 8)) if req is None else req)  # fmt: skip
    return discovery.check(e, d)


def test_crash_and_return_passes() -> None:
    result = run()
    assert result.verdict == "pass", result.evidence
    assert "payments-1 (incarnation a) left the registry 5.0 s after the crash (limit 6.0 s)" in (
        result.evidence
    )
    assert any(e.startswith("client error rate back under 2.0% (baseline 0.0% + 2%) 2.9 s after")
               for e in result.evidence)  # fmt: skip
    assert "payments-1 registered again (incarnation b) 1.0 s after its restart and served ok " \
        "calls 2.0 s after it (limit 4.0 s)" in result.evidence  # fmt: skip


def test_never_leaves_the_registry() -> None:
    result = run(inc_of=lambda t: "a")
    assert result.verdict == "fail"
    assert result.evidence[0] == (
        "payments-1 (incarnation a) never left the registry after the crash at +5.0 s (limit 6.0 s)"
    )


def test_restart_within_the_ttl_is_a_new_incarnation_not_a_stay() -> None:
    quick = [{"kind": "crash", "target": "payments-1", "at": 5, "end": 7}]
    e = DiscoveryExpect(instance="payments-1", leaves_within=6, returns_within=4)
    result = run(
        e,
        inc_of=lambda t: "a" if t < 8 else "b",
        faults=quick,
        prom={"discovery_seen": seen(drop=99), "outbound_requests": ok_calls(9)},
    )
    assert result.verdict == "pass", result.evidence
    assert "left the registry 3.0 s after the crash" in result.evidence[0]
    assert "replaced in place by a new incarnation" in result.evidence[1]


def test_a_gap_shorter_than_the_limit_need_not_show_in_callers_views() -> None:
    # a graceful restart: the lease is revoked, the key is gone for 1 s, a new incarnation
    # registers; a caller polling the registry may never have seen the gap
    restart = [{"kind": "restart", "target": "payments-1", "at": 5, "end": 5}]
    e = DiscoveryExpect(instance="payments-1", leaves_within=3, returns_within=4)
    prom = {"discovery_seen": seen(drop=99), "outbound_requests": ok_calls(9)}
    gap = run(e, inc_of=lambda t: "a" if t < 6 else None if t < 7 else "b", faults=restart,
              prom=prom)  # fmt: skip
    assert gap.verdict == "pass", gap.evidence
    assert "payments-1 was back in the registry (new incarnation) 2.0 s after the restart, " \
        "within the limit; callers' views are not expected to drop it" in gap.evidence  # fmt: skip
    # still absent when the limit ran out: a caller that never dropped it is stale
    long = run(e, inc_of=lambda t: "a" if t < 6 else None if t < 9 else "b", faults=restart,
               prom=prom)  # fmt: skip
    assert long.verdict == "fail"
    assert "orders orders-1 still saw payments-1 after the restart (limit 3.0 s)" in long.evidence


def test_a_caller_that_keeps_seeing_the_dead_instance_fails() -> None:
    stale = seen(drop=99)
    result = run(prom={"discovery_seen": stale, "outbound_requests": ok_calls()})
    assert result.verdict == "fail"
    assert "orders orders-1 still saw payments-1 after the crash (limit 6.0 s)" in result.evidence


def test_errors_that_do_not_stop_fail_recovery() -> None:
    result = run(req=requests(failing=(5, 14)))
    assert result.verdict == "fail"
    assert any("8.9 s after the crash (limit 5.0 s)" in e for e in result.evidence)


def test_never_back_or_never_serving() -> None:
    result = run(inc_of=lambda t: "a" if t < 10 else None)
    assert result.verdict == "fail"
    assert "payments-1 never registered again after its restart at +15.0 s (limit 4.0 s)" in (
        result.evidence
    )
    flat = series([(t, 1000) for t in range(-2, 29)], caller="orders", callee="payments",
                  callee_instance="payments-1", outcome="ok")  # fmt: skip
    result = run(prom={"discovery_seen": seen(), "outbound_requests": flat})
    assert result.verdict == "fail"
    assert any("never served an ok call" in e for e in result.evidence)


def test_missing_data_is_unknown() -> None:
    result = run(reg=False, e=DiscoveryExpect(instance="payments-1", leaves_within=6))
    assert result.verdict == "unknown"
    assert result.evidence[0].startswith("registry poll missing")
    result = run(faults=[])
    assert result.verdict == "unknown"
    assert result.evidence == ["no process fault on payments-1 in the journal"]


def test_pause_returns_with_the_same_incarnation() -> None:
    pause = [{"kind": "pause", "target": "payments-1", "at": 5, "end": 15}]
    e = DiscoveryExpect(instance="payments-1", leaves_within=6, returns_within=4)
    result = run(
        e,
        inc_of=lambda t: None if 10 <= t < 16 else "a",
        faults=pause,
        prom={"discovery_seen": frame(seen()), "outbound_requests": ok_calls()},
    )
    assert result.verdict == "pass", result.evidence
    assert "registered again (incarnation a)" in result.evidence[-1]
