from __future__ import annotations

from harness.checks import slo
from harness.checks.base import empty_requests
from harness.scenario import SloExpect
from tests.checks.rundata_builders import data, requests


def test_baseline_within_bounds() -> None:
    e = SloExpect(phase="baseline", min_success_rate=0.99, max_p99=0.5, min_throughput=9)
    result = slo.check(e, data(requests=requests()))
    assert result.verdict == "pass", result.evidence
    assert result.measured.startswith("n=50, success 100.0%, p50 24 ms")
    assert "throughput 10.0 ok/s" in result.measured


def test_fault_phase_breaks_success_rate_and_p99() -> None:
    e = SloExpect(phase="fault", min_success_rate=0.9, max_p99=0.5, max_p50=2)
    result = slo.check(e, data(requests=requests(failing=(5, 8))))
    assert result.verdict == "fail"
    assert result.evidence == [
        "success rate 70.0% in phase fault breaks success rate >= 90.0% (n=100)",
        "p99 900 ms in phase fault breaks p99 <= 500 ms (n=100)",
    ]


def test_throughput_bound_catches_a_bandwidth_effect() -> None:
    e = SloExpect(phase="fault", max_throughput=5)
    result = slo.check(e, data(requests=requests()))
    assert result.verdict == "fail"
    assert "throughput 10.0 ok/s in phase fault breaks throughput <= 5 ok/s" in result.evidence[0]


def test_no_requests_or_no_phase_is_unknown() -> None:
    result = slo.check(SloExpect(phase="baseline"), data(requests=empty_requests()))
    assert result.verdict == "unknown"
    assert result.evidence == ["phase baseline: no client requests in it"]
    result = slo.check(SloExpect(phase="nope"), data(requests=requests()))
    assert result.evidence == ["phase nope: no such phase in the journal"]
