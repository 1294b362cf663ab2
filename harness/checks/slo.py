"""Service levels per phase, from the exact client request log (not Locust's smoothed stats).

Success rate = ok requests / requests started in the phase; p50/p95/p99 over every request's
duration (failures included: a timeout is the slowest answer of all); throughput = ok requests
per second of the phase.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictFloat

from harness.checks.base import FAIL, PASS, UNKNOWN, CheckResult, RunData
from harness.checks.kind import CheckKind, ExpectModel
from harness.checks.latency import latency_failed, sample_note, window_stats
from harness.durations import Duration


class SloExpect(ExpectModel):
    type: Literal["slo"] = "slo"
    phase: str | None = Field(
        default=None, description="required in expect; omitted in steady_state (its window)"
    )
    min_success_rate: StrictFloat | None = Field(default=None, ge=0, le=1)
    max_p50: Duration | None = None
    max_p95: Duration | None = None
    max_p99: Duration | None = None
    min_throughput: StrictFloat | None = Field(default=None, ge=0, description="ok requests/s")
    max_throughput: StrictFloat | None = Field(default=None, ge=0, description="ok requests/s")

    def label(self) -> str:
        return self.name or f"slo {self.phase}"


def phase_stats(data: RunData, phase: str) -> dict[str, float] | None:
    """n, success_rate, p50/p95/p99 (ms) and throughput (ok/s) of a phase; None without data.

    A request counts in a phase when it started and ended inside it: one that straddles the
    start of a fault window belongs to neither side, or a baseline would carry the fault.
    """
    window = data.phase_window(phase)
    if window is None:
        return None
    return window_stats(data, *window)


def check(expect: SloExpect, data: RunData) -> CheckResult:
    bounds: list[tuple[str, str, float, str]] = []  # (stat, op, bound, text)
    if expect.min_success_rate is not None:
        bounds.append(("success_rate", ">=", expect.min_success_rate,
                       f"success rate >= {expect.min_success_rate:.1%}"))  # fmt: skip
    for q in ("p50", "p95", "p99"):
        limit = getattr(expect, f"max_{q}")
        if limit is not None:
            bounds.append((q, "<=", limit * 1000, f"{q} <= {limit * 1000:g} ms"))
    if expect.min_throughput is not None:
        bounds.append(("throughput", ">=", expect.min_throughput,
                       f"throughput >= {expect.min_throughput:g} ok/s"))  # fmt: skip
    if expect.max_throughput is not None:
        bounds.append(("throughput", "<=", expect.max_throughput,
                       f"throughput <= {expect.max_throughput:g} ok/s"))  # fmt: skip
    expected = f"in phase {expect.phase}: " + (", ".join(b[3] for b in bounds) or "no bounds")
    result = CheckResult(expect.label(), "slo", PASS, expected, allow_unknown=expect.allow_unknown)
    stats = phase_stats(data, expect.phase)
    if stats is None:
        why = "no such phase in the journal" if data.phase_window(expect.phase) is None else (
            "no client requests in it")  # fmt: skip
        reason = f"phase {expect.phase}: {why}"
        result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
        result.evidence.append(reason)
        return result
    result.details = dict(stats)
    window = data.phase_window(expect.phase)
    result.measured = (
        f"n={stats['n']:.0f}, success {stats['success_rate']:.1%}, p50 {stats['p50']:.0f} ms, "
        f"p95 {stats['p95']:.0f} ms, p99 {stats['p99']:.0f} ms, "
        f"throughput {stats['throughput']:.1f} ok/s"
    )
    for stat, op, bound, text in bounds:
        value = stats[stat]
        held = value >= bound if op == ">=" else value <= bound
        shown = f"{value:.1%}" if stat == "success_rate" else (
            f"{value:.0f} ms" if stat.startswith("p") else f"{value:.1f} ok/s")  # fmt: skip
        if not held:
            result.verdict = FAIL
            note = sample_note(stats["n"], stat) if stat.startswith("p") else None
            result.evidence.append(
                f"{stat.replace('_', ' ')} {shown} in phase {expect.phase} breaks {text} "
                f"(n={stats['n']:.0f})" + (f"; {note}" if note else "")
            )
            if stat.startswith("p"):
                latency_failed(result, window, stat, bound)
            else:
                result.details["other_failed"] = True
    if result.verdict == FAIL:
        result.violation_at = window[0]  # type: ignore[index]
    return result


KIND = CheckKind(
    name="slo",
    model=SloExpect,
    check=check,
    series=(),
    data="`requests.jsonl`",
)
