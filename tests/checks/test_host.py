"""The host rule: a failed latency check that the host explains makes the run inconclusive,
and nothing else does (one instance lagging, a paused instance, slow requests the host does
not account for, a check that failed on more than latency)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.checks import host
from harness.checks.base import CheckResult
from harness.checks.steady import BASELINE, WINDOW, after_window, check
from harness.scenario import SloExpect, SteadyExpect
from tests.checks.rundata_builders import SHOP, T0, data, frame, journal, requests, series

EVERYONE = [i for insts in SHOP.services.values() for i in insts]
QUIET = 0.005
STALL = {"payments-2": 0.19, "inventory-1": 0.11, "orders-1": 0.07, "payments-1": 0.06,
         "shipping-1": 0.04}  # fmt: skip


def lag(at: float = 23, who: dict[str, float] | None = None) -> pd.DataFrame:
    who = who or {}
    points = {i: [(t, who.get(i, QUIET) if t == at else QUIET) for t in range(-2, 26)]
              for i in EVERYONE}  # fmt: skip
    return frame(*(series(p, instance=i) for i, p in points.items()))


def slow_requests(*at: float, ms: float = 500.0) -> pd.DataFrame:
    """20 requests/s; four slow requests starting together at each `at` (like a host stall)."""
    req = requests(per_s=20)
    for a in at:
        hit = req["t"].between(T0 + a, T0 + a + 0.16)
        req.loc[hit, "ms"] = ms
    return req


def run(
    faults: list[dict[str, Any]] | None = None,
    prom_lag: pd.DataFrame | None = None,
    req: pd.DataFrame | None = None,
    **kw: Any,
):
    """A run whose steady state after recovery was judged: (journal with its checks, data)."""
    faults = faults or [{"kind": "latency", "target": "orders->payments", "at": 5, "end": 12}]
    j = journal(faults)
    prom = {"event_loop_lag": prom_lag} if prom_lag is not None else {}
    d = data(j, requests=slow_requests(22.0) if req is None else req, prom=prom, **kw)
    d.windows[WINDOW] = after_window(d)
    d.windows[BASELINE] = (T0, T0 + 5)
    j.add_check(check(SteadyExpect(breakers_closed=False, registered=False), d, "after"))
    assert j.checks[-1]["verdict"] == "fail", j.checks[-1]["evidence"]
    return j, d


def test_a_stall_nearly_every_instance_shared_explains_the_slow_requests() -> None:
    j, d = run(prom_lag=lag(23, STALL))
    r = host.check(d, j.checks)
    assert r.verdict == "fail"
    assert r.evidence[0] == "the host stalled: the run is inconclusive"
    assert r.evidence[1].startswith(
        "steady state after recovery: 4 requests over 137 ms (p99 bound) started at "
        "+22.0 s..+22.2 s; the "
    )
    assert "requests clear of it: p99 29 ms" in r.evidence[1]
    assert (
        "during host stall at +23.0 s: 5 of 7 instances lagged (payments-2 0.19 s, "
        "inventory-1 0.11 s, orders-1 0.07 s, payments-1 0.06 s, shipping-1 0.04 s)"
    ) in r.evidence[1]
    assert r.details["stalls"] == [{"t": T0 + 23, "lagged": STALL, "of": 7}]

    assert host.judge(j, d) is True
    assert j.overload.host_explains and not j.overload.inconclusive
    assert j.events[-1].kind == "overload" and "5 of 7 instances lagged" in j.events[-1].message
    assert j.overload.host["stalls"][0]["of"] == 7
    assert j.overload.host["pressure"]["measured"] is False


def test_one_lagging_instance_is_a_blocking_call_not_a_host_stall() -> None:
    j, d = run(prom_lag=lag(23, {"orders-1": 0.2}))
    assert host.host_stalls(d) == []
    assert host.check(d, j.checks).verdict == "pass"
    assert host.judge(j, d) is False and not j.overload.host_explains


def test_slow_requests_the_stall_does_not_cover_are_the_targets() -> None:
    j, d = run(prom_lag=lag(23, STALL), req=slow_requests(22.0, 24.5))
    assert len(host.host_stalls(d)) == 1
    assert host.check(d, j.checks).verdict == "pass"


def test_a_paused_instance_counts_neither_way() -> None:
    # payments-1 paused until +21 s: its lag at +23 s is its catch-up, not the host's; three
    # others lagging of the six left is not (nearly) every instance
    pause = [{"kind": "pause", "target": "payments-1", "at": 5, "end": 21}]
    who = {"payments-1": 2.5, "orders-1": 0.07, "gateway-1": 0.05, "inventory-1": 0.11}
    j, d = run(pause, prom_lag=lag(23, who))
    assert host.host_stalls(d) == []
    assert host.check(d, j.checks).verdict == "pass"


def test_a_stall_on_the_faulted_path_alone_is_the_faults() -> None:
    faults = [
        {"kind": "latency", "target": "orders->payments", "at": 5, "end": 12},
        {"kind": "latency", "target": "gateway->inventory", "at": 5, "end": 12},
    ]
    on_path = {i: 0.1 for i in EVERYONE if i != "shipping-1"}
    _, d = run(faults, prom_lag=lag(23, on_path))
    assert host.faulted_path(d) == set(on_path)
    assert host.host_stalls(d) == []
    _, d = run(faults, prom_lag=lag(23, {**on_path, "shipping-1": 0.04}))
    assert len(host.host_stalls(d)) == 1


def pressure_counters(high: tuple[float, float] | None, share: float = 0.95) -> pd.DataFrame:
    """PSI counters every 0.5 s; cpu some 10 % of the time, `share` inside `high`."""
    rows, total = [], 0
    for k in range(-4, 53):
        t = k / 2
        inside = high is not None and high[0] < t <= high[1]
        total += int((share if inside else 0.1) * 0.5e6)
        rows.append({"t": T0 + t, "cpu_some": total, "io_some": 0, "io_full": 0})
    return pd.DataFrame(rows)


def test_high_host_pressure_at_the_slow_requests_explains_them() -> None:
    j, d = run(host_pressure=pressure_counters((22.0, 23.0)))
    r = host.check(d, j.checks)
    assert r.verdict == "fail", r.evidence
    assert "during host pressure +22.0 s..+22.5 s: cpu some 95%" in r.evidence[1]
    peaks = r.details["pressure"]["max"]
    assert peaks == {"cpu_some": 0.95, "io_some": 0.0, "io_full": 0.0}
    assert len(r.details["pressure"]["samples"]) > 50
    assert "max host pressure cpu some 95%, io full 0%" in r.measured
    # the same pressure elsewhere explains nothing, nor does a busy host's everyday 80 %
    j, d = run(host_pressure=pressure_counters((10.0, 12.0)))
    assert host.check(d, j.checks).verdict == "pass"
    j, d = run(host_pressure=pressure_counters((22.0, 23.0), share=0.8))
    assert host.check(d, j.checks).verdict == "pass"


def test_a_host_without_psi_says_not_measured() -> None:
    j, d = run(missing={"host_pressure.csv": "this host has no PSI (no /proc/pressure/cpu)"})
    r = host.check(d, j.checks)
    assert r.verdict == "pass"
    assert "host pressure not measured: this host has no PSI (no /proc/pressure/cpu)" in (
        r.measured
    )


def test_a_check_that_failed_on_more_than_latency_is_never_excused() -> None:
    req = slow_requests(22.0)
    req.loc[req.index[-3:], "ok"] = False  # errors after recovery too
    j, d = run(prom_lag=lag(23, STALL), req=req)
    assert j.checks[-1]["details"]["other_failed"] is True
    assert host.check(d, j.checks).verdict == "pass"
    # nor is a run in which another kind of check failed beside an explained one
    j, d = run(prom_lag=lag(23, STALL))
    j.add_check(CheckResult("saga consistency", "saga", "fail", evidence=["stock lost"]))
    assert host.check(d, j.checks).verdict == "pass"
    assert host.judge(j, d) is False


def test_a_failed_slo_p99_is_judged_the_same_way() -> None:
    from harness.checks import slo

    j = journal()
    d = data(j, requests=slow_requests(17.0, ms=900.0), prom={"event_loop_lag": lag(18, STALL)})
    result = slo.check(SloExpect(phase="recovery", max_p99=0.5), d)
    assert result.verdict == "fail"
    j.add_check(result)
    r = host.check(d, j.checks)
    assert r.verdict == "fail"
    assert r.evidence[1].startswith("slo recovery: 4 requests over 500 ms (p99 bound)")
