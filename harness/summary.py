"""Text a person reads at the terminal or in a pytest failure, from a journal."""

from __future__ import annotations

from typing import Any

from harness.journal import Journal
from harness.verdict import PASS

ICONS = {
    "pass": "PASS",
    "fail": "FAIL",
    "inconclusive": "INCONCLUSIVE",
    "not-steady": "NOT-STEADY",
    "aborted": "ABORTED",
    "flaky": "FLAKY",
}
MAX_EVIDENCE = 12


def check_lines(check: dict[str, Any], indent: str = "    ") -> list[str]:
    verdict = str(check.get("verdict", "?")).upper()
    lines = [f"{indent}{verdict:<7} {check.get('name', check.get('kind', 'check'))}"]
    if check.get("expected"):
        lines.append(f"{indent}  expected: {check['expected']}")
    if check.get("measured"):
        lines.append(f"{indent}  measured: {check['measured']}")
    evidence = list(check.get("evidence") or [])
    for e in evidence[:MAX_EVIDENCE]:
        for k, part in enumerate(str(e).splitlines()):
            lines.append(f"{indent}  {'- ' if k == 0 else '  '}{part}")
    if len(evidence) > MAX_EVIDENCE:
        lines.append(f"{indent}  ... and {len(evidence) - MAX_EVIDENCE} more (see the report)")
    return lines


def failure_summary(j: Journal) -> str:
    """Why a scenario did not pass: failed checks with their evidence, aborts, errors."""
    lines = [f"verdict: {j.verdict}"]
    for ev in j.events:
        if ev.kind in ("abort", "error", "not-steady"):
            lines.append(f"  {ev.kind}: {ev.message.splitlines()[0]}")
    for f in j.faults:
        if f.error:
            lines.append(f"  fault {f.id} ({f.kind} {f.target}): {f.error}")
    failed = j.failed_checks()
    if failed:
        lines.append(f"  {len(failed)} of {len(j.checks)} checks failed:")
        for c in failed:
            lines.extend(check_lines(c))
    for m in j.missing:
        lines.append(f"  missing data: {m}")
    return "\n".join(lines)


def inconclusive_reason(j: Journal) -> str:
    names = ", ".join(c.get("name", "?") for c in j.failed_checks())
    if j.overload.host_explains and not j.overload.inconclusive:
        return f"the host stalled, not the target; failed checks prove nothing: {names}"
    lag = j.overload.max_event_loop_lag_s
    lag_text = f"max event-loop lag {lag:.3f}s" if lag is not None else "event-loop lag unknown"
    return f"services were overloaded ({lag_text}); failed checks prove nothing: {names}"


def terminal_summary(j: Journal) -> str:
    verdict = ICONS.get(j.verdict or "", str(j.verdict).upper())
    took = (j.ended_at or 0) - (j.started_at or 0)
    passed = sum(1 for c in j.checks if c.get("verdict") == PASS)
    head = (
        f"{verdict} {j.scenario.name} ({took:.1f}s; {passed}/{len(j.checks)} checks passed; "
        f"{j.load.requests} requests, {j.load.failures} failed)"
    )
    if j.verdict == "pass":
        return head
    if j.verdict == "inconclusive":
        return head + "\n  " + inconclusive_reason(j)
    return head + "\n" + failure_summary(j)
