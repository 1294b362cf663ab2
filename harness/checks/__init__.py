"""Pure checkers over recorded run data, and the check kind registry.

One module per check kind (``saga``, ``breaker``, ``discovery``, ``slo``, ``promql``,
``invariant``, ``steady``, ``config_applied``, ``secret_leak``,
``retry_amplification``), each declaring its expectation model, its
checker and the series it reads in a ``KIND``; the list below is the registry, and the
scenario's expectation union, ``CHECKERS``, and the series the runner collects
(``series_queries``) come from it. ``overload`` (inconclusive runs) and ``abort`` (live abort
conditions) are used by the runner directly.
"""

from __future__ import annotations

import functools
import operator
import traceback
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Discriminator, TypeAdapter, ValidationError

from harness.checks import (
    breaker,
    config_applied,
    discovery,
    invariant,
    promql,
    retry_amplification,
    saga,
    secret_leak,
    slo,
    steady,
)
from harness.checks.base import UNKNOWN, CheckResult, RunData
from harness.checks.kind import CheckKind
from harness.facts import TopologyFacts

CHECK_KINDS: dict[str, CheckKind] = {
    k.name: k
    for k in (
        saga.KIND,
        breaker.KIND,
        discovery.KIND,
        slo.KIND,
        promql.KIND,
        invariant.KIND,
        steady.KIND,
        config_applied.KIND,
        secret_leak.KIND,
        retry_amplification.KIND,
    )
}
CHECKERS: dict[str, Callable[..., CheckResult]] = {n: k.check for n, k in CHECK_KINDS.items()}
EXPECT_MODELS: dict[str, type] = {n: k.model for n, k in CHECK_KINDS.items()}


def _unwrap_entry(value: Any) -> Any:
    """`{breaker: {...}}` -> `{"type": "breaker", ...}` so pydantic can discriminate on type."""
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "each entry is a one-key mapping {type: params}; types: " + ", ".join(EXPECT_MODELS)
        )
    ((kind, params),) = value.items()
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"the params of {kind!r} must be a mapping")
    return {**params, "type": kind}


Expectation = Annotated[
    functools.reduce(operator.or_, EXPECT_MODELS.values()),  # type: ignore[valid-type]
    Discriminator("type"),
]
ExpectEntry = Annotated[Expectation, BeforeValidator(_unwrap_entry)]
EXPECT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ExpectEntry)


def series_queries(
    expectations: Iterable[Any], prefix: str = "promql_", facts: TopologyFacts | None = None
) -> dict[str, str]:
    """prom key -> query for the extra series the expectations' kinds ask for: their own
    (`queries`), and with `facts` those the target names (`target_queries`)."""
    out: dict[str, str] = {}
    for i, e in enumerate(expectations):
        kind = CHECK_KINDS.get(getattr(e, "type", ""))
        if kind is not None and kind.queries is not None:
            out.update(kind.queries(e, i, prefix))
        if kind is not None and kind.target_queries is not None and facts is not None:
            out.update(kind.target_queries(facts))
    return out


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
            if kind in CHECK_KINDS:
                check = CHECK_KINDS[kind]
                result = check.check(expect, data, *check.keys(expect, i, promql_prefix))
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


__all__ = [
    "CHECKERS",
    "CHECK_KINDS",
    "EXPECT_ADAPTER",
    "EXPECT_MODELS",
    "CheckResult",
    "ExpectEntry",
    "Expectation",
    "RunData",
    "run_checks",
    "series_queries",
]
