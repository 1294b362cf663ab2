"""The verdict rule, in one place: checks, journal, summary, report and JUnit all use it.

A check's verdict is ``pass``, ``fail`` or ``unknown`` (its data was missing). A check counts as
failed when it failed, or when it is unknown (or carries any other verdict) and its
expectation did not say ``allow_unknown: true``. A scenario's verdict adds, most serious first:
``error`` > ``aborted`` > ``not-steady`` > ``inconclusive`` > ``fail`` > ``pass``.

Pure: no imports from the rest of the harness, so the report may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
CHECK_VERDICTS = (PASS, FAIL, UNKNOWN)
NOT_STEADY = "not-steady"
VERDICTS = (PASS, FAIL, "inconclusive", NOT_STEADY, "aborted", "error")


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
