"""retry_amplification: outbound calls per entry request in a phase against the baseline, from a
fake traces.json; a storm fails naming its traces, a missing file or too few traces is unknown."""

from __future__ import annotations

import dataclasses
import itertools
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CHECK_KINDS, run_checks
from harness.checks.base import FAIL, PASS, UNKNOWN
from harness.checks.retry_amplification import DEFAULT_MAX_RATIO, entry_traces
from harness.errors import ScenarioInvalid
from harness.scenario import load_scenario
from tests.checks.rundata_builders import SHOP, T0, data, journal

FACTS = dataclasses.replace(SHOP, entry="gateway")
ORDER = [("gateway", "inventory"), ("gateway", "orders"), ("orders", "inventory"),
         ("orders", "payments"), ("orders", "shipping")]  # fmt: skip
_ids = itertools.count(1)


def _span(service: str, kind: str, op: str, start: float, parent: str | None) -> dict[str, Any]:
    sid = f"{next(_ids):016x}"
    refs = [] if parent is None else [{"refType": "CHILD_OF", "spanID": parent}]
    return {"spanID": sid, "operationName": op, "references": refs,
            "startTime": int((T0 + start) * 1e6), "duration": 1000, "processID": service,
            "tags": [{"key": "span.kind", "type": "string", "value": kind}]}  # fmt: skip


def trace(
    at: float,
    calls: list[tuple[str, str]] = ORDER,
    op: str = "POST /orders",
    root: str = "gateway",
    answered: bool = True,
) -> dict[str, Any]:
    """One trace at scenario offset `at`: the root's server span (its parent is Locust's, never
    exported), then per (caller, callee) a client span and, if `answered`, the callee's server
    span under it."""
    top = _span(root, "server" if root == "gateway" else "internal", op, at, "locust0000000000")
    spans = [top]
    for i, (caller, callee) in enumerate(calls):
        client = _span(caller, "client", "POST", at + 0.001 * i, top["spanID"])
        spans.append(client)
        if answered:
            spans.append(_span(callee, "server", f"POST /{callee}", at, client["spanID"]))
    procs = {s: {"serviceName": s} for s in ("gateway", "orders", "inventory", "payments",
                                             "shipping")}  # fmt: skip
    return {"traceID": f"{next(_ids):032x}", "spans": spans, "processes": procs}


def write_traces(tmp: Path, traces: list[dict[str, Any]], **bounds: Any) -> Path:
    (tmp / "traces.json").write_text(json.dumps({"data": traces, "bounds": bounds}))
    return tmp


def run(tmp: Path, expect: dict[str, Any] | None = None, **kw: Any):
    d = data(journal(), facts=kw.pop("facts", FACTS), directory=tmp, **kw)
    return run_checks([{"retry_amplification": {"phase": "fault", **(expect or {})}}], d)[0]


def steady_traces(storm_calls: int = 0) -> list[dict[str, Any]]:
    """30 orders in the baseline (0-5 s), 40 in the fault phase (5-15 s), each fault-phase
    order making `storm_calls` more calls to payments."""
    base = [trace(0.1 * k) for k in range(30)]
    storm = ORDER + [("orders", "payments")] * storm_calls
    return base + [trace(5 + 0.2 * k, storm) for k in range(40)]


def test_no_amplification_passes_with_the_ratio_and_per_operation_means(tmp_path: Path) -> None:
    r = run(write_traces(tmp_path, steady_traces()))
    assert r.verdict == PASS, r.evidence
    assert r.details["ratio"] == 1.0 and r.details["matched"] == 40
    assert r.measured.startswith("1.00x: 200 outbound calls (client spans) in 40 entry requests")
    assert "POST /orders: 5.00 -> 5.00 over 40" in r.evidence[0]


def test_a_storm_fails_and_names_its_worst_traces(tmp_path: Path) -> None:
    traces = steady_traces()
    # five fault-phase orders retry payments 10 more times each: 250 calls for 200 expected
    worst = []
    for k in range(5):
        t = trace(6 + k, ORDER + [("orders", "payments")] * 10)
        worst.append(t["traceID"])
        traces.append(t)
    r = run(write_traces(tmp_path, traces), {"max_ratio": 1.2})
    assert r.verdict == FAIL
    assert r.details["ratio"] == pytest.approx((40 * 5 + 5 * 15) / (45 * 5), abs=1e-4)
    named = [e for e in r.evidence if e.startswith("trace ")]
    assert len(named) == 5 and {e.split()[1] for e in named} == set(worst)
    # the same traces as violations: the report draws their waterfalls
    assert {v["trace_id"] for v in r.details["violations"]} == set(worst)
    assert "15 outbound calls (client spans), 3.0x its baseline mean" in named[0]
    assert "orders->payments x11" in named[0]
    assert r.violation_at is not None and T0 + 6 <= r.violation_at <= T0 + 11


def test_the_bound_is_a_parameter(tmp_path: Path) -> None:
    write_traces(tmp_path, steady_traces(storm_calls=1))  # 6 calls for 5: 1.2x
    assert run(tmp_path).verdict == (PASS if DEFAULT_MAX_RATIO >= 1.2 else FAIL)
    assert run(tmp_path, {"max_ratio": 1.1}).verdict == FAIL
    assert run(tmp_path, {"max_ratio": 1.25}).verdict == PASS


def test_a_phase_sampling_more_expensive_requests_is_not_an_amplification(tmp_path: Path) -> None:
    """The baseline has as many one-call reads as orders; the fault phase's sample is nearly
    all orders: the plain mean would rise 1.7x, the per-operation comparison stays at 1."""
    base = [trace(0.1 * k) for k in range(20)]
    base += [trace(0.1 * k + 0.05, [("gateway", "orders")], op="GET /orders/{id}")
             for k in range(20)]  # fmt: skip
    fault = [trace(5 + 0.2 * k) for k in range(38)]
    fault += [trace(14, [("gateway", "orders")], op="GET /orders/{id}") for _ in range(2)]
    r = run(write_traces(tmp_path, base + fault))
    assert r.verdict == PASS and r.details["ratio"] == 1.0, r.measured


def test_traces_not_rooted_at_the_entry_are_not_counted(tmp_path: Path) -> None:
    background = [trace(6 + 0.1 * k, [("orders", "payments")] * 6, op="saga", root="orders")
                  for k in range(30)]  # fmt: skip
    r = run(write_traces(tmp_path, steady_traces() + background))
    assert r.verdict == PASS
    assert r.details["not_entry"] == {"orders: saga": 30}
    assert any("not rooted at the entry, not counted: orders: saga x30" in e for e in r.evidence)


def test_calls_without_an_answer_still_count(tmp_path: Path) -> None:
    """A call whose callee never saw it (dropped request, dead instance) is still a call."""
    traces = [trace(0.1 * k) for k in range(30)]
    traces += [trace(5 + 0.2 * k, ORDER + [("orders", "payments")] * 5, answered=False)
               for k in range(40)]  # fmt: skip
    r = run(write_traces(tmp_path, traces))
    assert r.verdict == FAIL and r.details["ratio"] == 2.0
    named = next(e for e in r.evidence if e.startswith("trace"))
    assert named.endswith("orders->(no answer traced) x8, gateway->(no answer traced) x2")


def test_count_spans_for_a_target_without_client_spans(tmp_path: Path) -> None:
    traces = [trace(0.1 * k) for k in range(30)] + [trace(5 + 0.2 * k) for k in range(40)]
    for t in traces:  # drop the client spans: the callee's server spans hang off the root
        t["spans"] = [s for s in t["spans"] if s["tags"][0]["value"] != "client"]
    write_traces(tmp_path, traces)
    r = run(tmp_path)
    assert r.verdict == UNKNOWN and "use count: spans" in r.measured
    r = run(tmp_path, {"count": "spans"})
    assert r.verdict == PASS and r.details["ratio"] == 1.0


@pytest.mark.parametrize(
    ("missing", "why"),
    [
        ({"traces.json": "not collected: this backend runs no Jaeger"},
         "traces.json: not collected: this backend runs no Jaeger"),
        ({}, "traces.json: not written"),
    ],
)  # fmt: skip
def test_no_traces_file_is_unknown_with_the_reason(
    tmp_path: Path, missing: dict[str, str], why: str
) -> None:
    r = run(tmp_path, missing=missing)
    assert r.verdict == UNKNOWN and r.measured == f"unknown: {why}"
    assert not r.passed
    assert run(tmp_path, {"allow_unknown": True}, missing=missing).passed


def test_unreadable_traces_file_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "traces.json").write_text("{not json")
    assert run(tmp_path).measured.startswith("unknown: traces.json: unreadable: ")
    (tmp_path / "traces.json").write_text("[]")
    assert run(tmp_path).measured == 'unknown: traces.json: expected {"data": [trace, ...]}'
    (tmp_path / "traces.json").write_text('{"data": ["x", 1, {"spans": "y"}], "bounds": []}')
    assert "too few entry requests" in run(tmp_path).measured


def test_too_few_traces_is_unknown_with_the_counts(tmp_path: Path) -> None:
    traces = [trace(0.1 * k) for k in range(30)] + [trace(5 + k) for k in range(7)]
    r = run(write_traces(tmp_path, traces))
    assert r.verdict == UNKNOWN
    assert "too few entry requests (gateway server roots) in traces.json to judge: 7 in fault " \
        "(min_traces 20)" in r.measured  # fmt: skip
    assert run(tmp_path, {"min_traces": 5}).verdict == PASS


def test_no_entry_service_is_unknown(tmp_path: Path) -> None:
    r = run(write_traces(tmp_path, steady_traces()), facts=SHOP)
    assert r.verdict == UNKNOWN and "no entry service" in r.measured


def test_an_explicit_baseline_phase(tmp_path: Path) -> None:
    traces = steady_traces() + [trace(15 + 0.2 * k) for k in range(40)]  # recovery: 5 calls
    r = run(write_traces(tmp_path, traces), {"phase": "recovery", "baseline": "fault"})
    assert r.verdict == PASS and r.details["baseline"] == "fault"
    assert r.expected.endswith("the fault phase's")


def test_entry_traces_reads_the_root_whose_parent_was_never_exported() -> None:
    t = trace(1.0)
    found, others = entry_traces({"data": [t, {"traceID": "x", "spans": []}]}, "gateway")
    assert [(e.operation, e.count) for e in found] == [("POST /orders", 5)] and not others
    assert found[0].calls["orders->payments"] == 1


def test_the_kind_reads_no_prometheus_series() -> None:
    assert CHECK_KINDS["retry_amplification"].series == ()


SCENARIO = """\
name: s
load: {users: 8, rate: 2}
phases:
  - {name: baseline, duration: 5s}
  - {name: fault, duration: 10s}
faults:
  - {at: 5s, for: 10s, kind: latency, link: orders->payments, latency: 900ms}
expect:
  - retry_amplification: {phase: fault}
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("{phase: fault}", "{phase: faults}",
         "s.yaml:9: expect[0].retry_amplification.phase: unknown phase 'faults'; phases: "
         "baseline, fault"),
        ("{phase: fault}", "{phase: fault, baseline: base}",
         "s.yaml:9: expect[0].retry_amplification.baseline: unknown phase 'base'"),
        ("{phase: fault}", "{phase: baseline}",
         "s.yaml:9: expect[0].retry_amplification.phase: 'baseline' is the baseline itself"),
        ("{phase: fault}", "{}", "s.yaml:9: expect[0].retry_amplification.phase: missing"),
        ("{phase: fault}", "{phase: fault, max_ratio: 0}",
         "s.yaml:9: expect[0].retry_amplification.max_ratio: input should be greater than 0"),
        ("{phase: fault}", "{phase: fault, count: requests}",
         "s.yaml:9: expect[0].retry_amplification.count: input should be 'calls' or 'spans'"),
    ],
)  # fmt: skip
def test_bad_expectations_are_refused_with_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("s.yaml").write_text(textwrap.dedent(SCENARIO.replace(old, new)), encoding="utf-8")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(Path("s.yaml"))
    assert str(info.value).startswith(expected), str(info.value)
    Path("s.yaml").write_text(SCENARIO, encoding="utf-8")
    assert load_scenario(Path("s.yaml")).expect[0].max_ratio == DEFAULT_MAX_RATIO
