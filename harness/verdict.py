"""The verdict rule, in one place: checks, journal, summary, report and JUnit all use it.

A check's verdict is ``pass``, ``fail`` or ``unknown`` (its data was missing). A check counts as
failed when it failed, or when it is unknown (or carries any other verdict) and its
expectation did not say ``allow_unknown: true``. A scenario's verdict adds, most serious first:
``error`` > ``aborted`` > ``not-steady`` > ``flaky`` > ``inconclusive`` > ``fail`` > ``pass``.
``flaky`` comes only from repeated runs of one scenario that disagree (``repeat_verdict``).

Pure: no imports from the rest of the harness, so the report may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
CHECK_VERDICTS = (PASS, FAIL, UNKNOWN)
NOT_STEADY = "not-steady"
FLAKY = "flaky"
# least serious first
VERDICTS = (PASS, FAIL, "inconclusive", FLAKY, NOT_STEADY, "aborted", "error")
# the verdicts that make ``stormproof run`` exit 1 (error exits 3)
FAILING = (FAIL, "aborted", NOT_STEADY, FLAKY)


def check_fails(check: Mapping[str, Any] | Any) -> bool:
    """Whether one check result fails its scenario: a dict (as in the journal) or a result."""
    if isinstance(check, Mapping):
        verdict, allowed = check.get("verdict"), check.get("allow_unknown", False)
    else:
        verdict, allowed = check.verdict, getattr(check, "allow_unknown", False)
    if verdict == FAIL:
        return True
    return verdict != PASS and not allowed


def combine(verdicts: Iterable[str]) -> str:
    """One check verdict from several: fail beats unknown beats pass."""
    verdicts = list(verdicts)
    if FAIL in verdicts:
        return FAIL
    if UNKNOWN in verdicts:
        return UNKNOWN
    return PASS


def final_verdict(
    checks: Iterable[Any],
    aborted: bool = False,
    inconclusive: bool = False,
    error: bool = False,
    not_steady: bool = False,
) -> str:
    """The scenario's verdict, most serious first.

    error (the harness could not do its job) > aborted (an abort condition fired) >
    not-steady (the system was not steady before the faults, so none was injected) >
    inconclusive (the services were overloaded, so a failed check proves nothing) >
    fail (a check failed, or was unknown without allow_unknown) > pass.
    """
    if error:
        return "error"
    if aborted:
        return "aborted"
    if not_steady:
        return NOT_STEADY
    if inconclusive:
        return "inconclusive"
    if any(check_fails(c) for c in checks):
        return FAIL
    return PASS


def repeat_verdict(verdicts: Iterable[str]) -> str:
    """One scenario's verdict over its repeated runs (``stormproof run --repeat N``).

    error (in any run: the harness could not do its job, so the runs prove nothing) >
    the verdict every conclusive run agrees on > flaky (conclusive runs disagree, e.g. one
    passed and one failed). Inconclusive runs (overloaded services) are left out of the
    agreement; when every run was inconclusive, the verdict is inconclusive.
    """
    verdicts = list(verdicts)
    if not verdicts or "error" in verdicts:
        return "error"
    conclusive = set(verdicts) - {"inconclusive"}
    if not conclusive:
        return "inconclusive"
    if len(conclusive) == 1:
        return conclusive.pop()
    return FLAKY
