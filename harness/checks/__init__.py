"""Pure checkers over recorded run data; ``run_checks`` dispatches expectations by type.

One module per check: ``saga``, ``breaker``, ``discovery``, ``slo``, ``promql``; ``overload``
(inconclusive runs) and ``abort`` (live abort conditions) are used by the runner directly.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from harness.checks import breaker, discovery, promql, saga, slo
from harness.checks.base import UNKNOWN, CheckResult, RunData
from harness.scenario import EXPECT_ADAPTER, PromqlExpect

CHECKERS: dict[str, Callable[[Any, RunData], CheckResult]] = {
    "saga_consistency": saga.check,
    "breaker": breaker.check,
    "discovery": discovery.check,
    "slo": slo.check,
}


def promql_queries(expectations: Iterable[Any], prefix: str = "promql_") -> dict[str, str]:
    """prom key -> query for every promql expectation: what the runner must collect."""
    return {
        promql.promql_key(e, i, prefix): e.query
        for i, e in enumerate(expectations)
        if isinstance(e, PromqlExpect)
    }


def run_checks(
    expectations: Iterable[Any], data: RunData, promql_prefix: str = "promql_"
) -> list[CheckResult]:
    """One result per expectation, in order. Expectations are models or raw `{type: params}`.

    An unknown type, or a checker that crashed, gives verdict "unknown"; a crash is never
    excused by allow_unknown.
    """
    results = []
    for i, raw in enumerate(expectations):
        expect = raw
        if isinstance(raw, dict):
            try:
                expect = EXPECT_ADAPTER.validate_python(raw)
            except ValidationError as exc:
                kind = next(iter(raw), "?")
                allow = bool((raw.get(kind) or {}).get("allow_unknown", False)) if isinstance(
                    raw.get(kind), dict) else False  # fmt: skip
                reason = f"cannot check {kind!r}: {exc.errors()[0]['msg']}"
                results.append(CheckResult(str(kind), str(kind), UNKNOWN, "", f"unknown: {reason}",
                                           [reason], allow_unknown=allow))  # fmt: skip
                continue
        kind = getattr(expect, "type", type(expect).__name__)
        try:
            if isinstance(expect, PromqlExpect):
                result = promql.check(expect, data, promql.promql_key(expect, i, promql_prefix))
            elif kind in CHECKERS:
                result = CHECKERS[kind](expect, data)
            else:
                reason = f"no checker for expectation type {kind!r}"
                result = CheckResult(str(kind), str(kind), UNKNOWN, "", f"unknown: {reason}",
                                     [reason], allow_unknown=getattr(expect, "allow_unknown",
                                                                     False))  # fmt: skip
        except Exception as exc:  # a checker bug must not hide the other checks' results
            reason = f"checker crashed: {type(exc).__name__}: {exc}"
            label = expect.label() if hasattr(expect, "label") else str(kind)
            result = CheckResult(label, str(kind), UNKNOWN, "", f"unknown: {reason}", [reason],
                                 details={"traceback": traceback.format_exc()})  # fmt: skip
        results.append(result)
    return results


__all__ = ["CheckResult", "RunData", "promql_queries", "run_checks"]
