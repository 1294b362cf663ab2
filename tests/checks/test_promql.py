from __future__ import annotations

import pytest

from harness.checks import promql, run_checks
from harness.scenario import PromqlExpect
from tests.checks.rundata_builders import data, frame, series


def e(**kw) -> PromqlExpect:
    base = {"query": "sum(shop_sagas_in_flight)", "op": "<=", "value": 0}
    return PromqlExpect(**{**base, **kw})


IN_FLIGHT = series([(t, 4 if t < 20 else 0) for t in range(-2, 26)])


def test_at_end_of_phase() -> None:
    d = data(prom={"promql_0": IN_FLIGHT})
    result = promql.check(e(phase="recovery", at="end"), d, "promql_0")
    assert result.verdict == "pass", result.evidence
    assert result.measured == "value: 0"


def test_max_over_the_phase_fails_with_the_value() -> None:
    d = data(prom={"promql_0": IN_FLIGHT})
    result = promql.check(e(phase="recovery"), d, "promql_0")
    assert result.verdict == "fail"
    assert result.evidence == [
        "max(sum(shop_sagas_in_flight)) over phase recovery = 4 for value, expected <= 0"
    ]


def test_each_series_must_hold() -> None:
    per = frame(series([(t, 0.1) for t in range(0, 25)], instance="orders-1"),
                series([(t, 0.4) for t in range(0, 25)], instance="payments-1"))  # fmt: skip
    expect = e(query="shop_event_loop_lag_seconds", agg="avg", op="<", value=0.25)
    result = promql.check(expect, data(prom={"promql_0": per}), "promql_0")
    assert result.verdict == "fail"
    got = result.details["series"]
    assert got == {
        "instance=orders-1": pytest.approx(0.1),
        "instance=payments-1": pytest.approx(0.4),
    }
    assert "for instance=payments-1, expected < 0.25" in result.evidence[0]


def test_missing_series_is_unknown() -> None:
    result = promql.check(e(), data(prom={}, missing={"prom/promql_0.csv": "Prometheus down"}))
    assert result.verdict == "unknown"
    assert result.evidence == ["no samples (prom/promql_0.csv: Prometheus down)"]


def test_run_checks_uses_the_position_as_key_and_accepts_raw_entries() -> None:
    d = data(prom={"promql_1": IN_FLIGHT, "promql_in_flight": IN_FLIGHT})
    results = run_checks(
        [{"slo": {"phase": "baseline", "allow_unknown": True}},
         {"promql": {"query": "sum(shop_sagas_in_flight)", "phase": "baseline", "op": ">=",
                     "value": 4}},
         e(name="in flight", phase="recovery", at="end"),
         {"chaos_monkey": {"allow_unknown": True}}],
        d,
    )  # fmt: skip
    assert [r.verdict for r in results] == ["unknown", "pass", "pass", "unknown"]
    assert results[0].passed and results[3].passed
    assert "cannot check 'chaos_monkey'" in results[3].evidence[0]
    assert results[2].name == "in flight"
