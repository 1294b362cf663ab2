"""The one verdict rule (harness/verdict.py), and every reader of a journal agreeing with it."""

from __future__ import annotations

import pytest

from harness.checks.base import CheckResult
from harness.journal import Journal, ScenarioInfo
from harness.report.data import normalise_journal
from harness.summary import failure_summary
from harness.verdict import check_fails, final_verdict


def ok(verdict: str = "pass", allow: bool = False) -> dict:
    return CheckResult("c", "slo", verdict, allow_unknown=allow).to_dict()


@pytest.mark.parametrize(
    ("checks", "flags", "expected"),
    [
        ([ok(), ok()], {}, "pass"),
        ([ok(), ok("fail")], {}, "fail"),
        ([ok("unknown")], {}, "fail"),
        ([ok("unknown", allow=True)], {}, "pass"),
        ([ok("fail")], {"inconclusive": True}, "inconclusive"),
        ([ok()], {"aborted": True, "inconclusive": True}, "aborted"),
        ([ok("fail")], {"error": True, "aborted": True}, "error"),
        ([], {}, "pass"),
    ],
)
def test_final_verdict(checks: list, flags: dict, expected: str) -> None:
    assert final_verdict(checks, **flags) == expected


def test_final_verdict_accepts_results() -> None:
    assert final_verdict([CheckResult("c", "slo", "fail")]) == "fail"


# (verdict, allow_unknown) -> fails the scenario. An odd verdict is read as unknown.
CASES = [
    ("pass", False, False),
    ("pass", True, False),
    ("fail", False, True),
    ("fail", True, True),  # allow_unknown never excuses a failure
    ("unknown", False, True),
    ("unknown", True, False),
    ("garbled", False, True),
    ("garbled", True, False),
]


@pytest.mark.parametrize(("verdict", "allow", "fails"), CASES)
def test_every_reader_applies_the_same_rule(verdict: str, allow: bool, fails: bool) -> None:
    result = CheckResult("the check", "slo", verdict, allow_unknown=allow)
    as_dict = result.to_dict()
    assert check_fails(as_dict) is fails
    assert check_fails(result) is fails
    assert result.passed is not fails
    journal = Journal(run_id="r", scenario=ScenarioInfo(name="s"), checks=[as_dict])
    assert (journal.failed_checks() == [as_dict]) is fails
    assert ("the check" in failure_summary(journal)) is fails
    # the report normalises odd verdicts to "unknown" and still agrees
    (normalised,) = normalise_journal(journal.to_dict(), "s")["checks"]
    assert check_fails(normalised) is fails
