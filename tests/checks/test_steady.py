"""The steady-state hypothesis on small hand-made runs."""

from __future__ import annotations

import pandas as pd

from harness.checks.steady import BASELINE, WINDOW, check, hypothesis
from harness.scenario import SloExpect, SteadyExpect
from tests.checks.rundata_builders import SHOP, T0, data, frame, journal, requests, steady

EVERYONE = [i for insts in SHOP.services.values() for i in insts]


def registry(until: float, without: tuple[str, ...] = (), step: float = 0.5) -> pd.DataFrame:
    rows = [
        {"t": T0 + k * step, "service": i.rsplit("-", 1)[0], "instance": i, "incarnation": "a"}
        for k in range(int(until / step) + 1)
        for i in EVERYONE
        if i not in without
    ]
    return pd.DataFrame(rows)


def healthy(j=None, **over):
    breakers = frame(
        steady(0, instance="orders-1", caller="orders", callee_instance="payments-1"),
        steady(0, instance="orders-1", caller="orders", callee_instance="payments-2"),
    )
    seen = frame(
        steady(1, instance="orders-1", caller="orders", callee_instance="payments-1"),
        steady(1, instance="orders-1", caller="orders", callee_instance="payments-2"),
    )
    kw = {
        "prom": {"breaker_state": breakers, "discovery_seen": seen},
        "requests": requests(),
        "registry": registry(28),
        **over,
    }
    d = data(j, **kw)
    d.windows[WINDOW] = (T0, T0 + 5)
    d.windows[BASELINE] = (T0, T0 + 5)
    return d


def test_a_healthy_baseline_holds() -> None:
    r = check(SteadyExpect(), healthy())
    assert r.verdict == "pass", r.evidence
    assert "50 requests over 5.0 s, error rate 0.000" in r.measured
    assert "2/2 breakers closed" in r.measured and "7/7 instances registered" in r.measured


def test_errors_open_breakers_and_missing_instances_each_break_it() -> None:
    d = healthy(requests=requests(failing=(1, 2)))
    r = check(SteadyExpect(), d)
    assert r.verdict == "fail"
    assert r.evidence[0] == "the stack was not steady when the scenario began"
    assert any("error rate 0.200 over 50 requests (bound 0.01)" in e for e in r.evidence)

    open_ = frame(
        steady(0, instance="orders-1", caller="orders", callee_instance="payments-2"),
        steady(1, instance="orders-1", caller="orders", callee_instance="payments-1"),
    )
    d = healthy()
    d.prom["breaker_state"] = open_
    r = check(SteadyExpect(), d)
    assert any("breaker orders-1 -> payments-1 was open" in e for e in r.evidence)

    d = healthy(registry=registry(28, without=("inventory-2",)))
    r = check(SteadyExpect(), d)
    assert r.verdict == "fail"
    assert any("not in the registry at +5.0 s: inventory-2" in e for e in r.evidence)


def test_an_empty_registry_is_not_steady() -> None:
    d = healthy(registry=registry(2))  # nothing listed after +2 s
    r = check(SteadyExpect(), d)
    assert any("the registry listed no instance near +5.0 s" in e for e in r.evidence)


def test_an_instance_a_fault_holds_down_is_not_expected() -> None:
    j = journal([{"kind": "crash", "target": "inventory-2", "at": 2, "end": None}])
    d = healthy(j, registry=registry(28, without=("inventory-2",)))
    assert check(SteadyExpect(), d).verdict == "pass"


def test_after_recovery_p99_is_compared_with_the_baseline() -> None:
    slow = requests(start=20, end=25)
    slow["ms"] = 400.0
    d = healthy(requests=pd.concat([requests(end=5), slow], ignore_index=True))
    d.windows[WINDOW] = (T0 + 20, T0 + 25)
    r = check(SteadyExpect(p99_margin=3), d, stage="after")
    assert r.verdict == "fail"
    assert r.evidence[0] == "did not return to steady state"
    assert any("p99 400 ms after recovery, baseline 29 ms" in e for e in r.evidence)
    assert check(SteadyExpect(p99_margin=20), d, stage="after").verdict == "pass"


def test_missing_data_is_unknown_never_a_silent_pass() -> None:
    d = healthy(prom={})
    r = check(SteadyExpect(), d)
    assert r.verdict == "unknown"
    assert any("callers' views not measured" in e for e in r.evidence)
    # a system that exports no breaker has none open: that part holds, and says why
    assert "no breaker exported" in r.measured


def test_breakers_the_profile_does_not_map_are_unknown_naming_the_mapping() -> None:
    d = healthy(prom={})
    d.missing["prom/breaker_state.csv"] = "not mapped: the target profile sets no breaker.state"
    r = check(SteadyExpect(registered=False), d)
    assert r.verdict == "unknown"
    assert r.evidence == [
        "breakers not measured (prom/breaker_state.csv: not mapped: the target profile sets no "
        "breaker.state); a system without breakers says `breakers_closed: false`"
    ]


class _Scenario:
    def __init__(self, steady_state):
        self.steady_state = steady_state


def test_hypothesis_is_the_targets_default_plus_the_scenarios_own() -> None:
    from dataclasses import replace

    facts = replace(SHOP, steady={"max_error_rate": 0.05})
    own = SloExpect(max_p99=0.5)
    (default, extra) = hypothesis(_Scenario([own]), facts)
    assert default.max_error_rate == 0.05 and extra is own
    assert hypothesis(_Scenario("none"), facts) == []
    assert hypothesis(_Scenario([]), SHOP) == []  # no default on this target
