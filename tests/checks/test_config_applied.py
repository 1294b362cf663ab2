"""config_applied: every instance reports the change's version within the bound; the late ones
are named with their last version; a missing series is unknown, never a pass."""

from __future__ import annotations

import dataclasses

from harness.checks import CHECK_KINDS, EXPECT_ADAPTER, run_checks, series_queries
from harness.checks.base import FAIL, PASS, UNKNOWN
from harness.facts import ConfigFacts
from tests.checks.rundata_builders import SHOP, data, frame, journal, series

CONFIG = ConfigFacts("/shop/config/", {"call_timeout": "number"}, "shop_config_version")
FACTS = dataclasses.replace(
    SHOP, services={"orders": ["orders-1"], "payments": ["payments-1", "payments-2"]}
)
FACTS = dataclasses.replace(FACTS, config=CONFIG)
INSTANCES = ("orders-1", "payments-1", "payments-2")


def change_journal(revision: int | None = 40, reverted: int | None = 55):
    j = journal([{"kind": "config_change", "target": "config", "at": 5, "end": 20}])
    if revision is not None:
        j.faults[0].recorded["revision"] = revision
    if reverted is not None:
        j.faults[0].recorded["reverted_revision"] = reverted
    return j


def versions(applied_at: dict[str, float | None], reverted_at: float | None = 21) -> object:
    """Per instance: version 10 until `applied_at` (offset; None: never), 40 after, 55 after
    `reverted_at`; one sample a second from -2 to 28."""
    parts = []
    for inst in INSTANCES:
        if inst not in applied_at:
            continue
        at = applied_at[inst]
        points = []
        for t in range(-2, 29):
            v = 10.0
            if at is not None and t >= at:
                v = 40.0
            if at is not None and reverted_at is not None and t >= reverted_at:
                v = 55.0
            points.append((float(t), v))
        parts.append(series(points, instance=inst, service=inst.rsplit("-", 1)[0]))
    return frame(*parts)


def check(expect: dict, j=None, prom=None):
    d = data(j or change_journal(), facts=FACTS, prom={} if prom is None else prom)
    return run_checks([{"config_applied": expect}], d)[0]


def test_every_instance_applied_the_change_and_the_revert_in_time() -> None:
    r = check(
        {"within": "2s", "reverted_within": "2s"},
        prom={"config_version": versions({i: 6 for i in INSTANCES})},
    )
    assert r.verdict == PASS, r.evidence
    assert "applied by all 3 instances" in r.evidence[0]
    assert r.details["slowest_s"] == {"f1 set": 1.0, "f1 revert": 1.0}


def test_an_instance_that_never_applied_is_named_with_its_last_version() -> None:
    r = check(
        {"within": "2s"},
        prom={"config_version": versions({"orders-1": 6, "payments-1": 6, "payments-2": None})},
    )
    assert r.verdict == FAIL
    text = " ".join(r.evidence)
    assert "payments-2 (last applied version 10, never 40)" in text
    assert "payments-1" not in text and "orders-1" not in text


def test_an_instance_that_applied_too_late_fails_with_its_delay() -> None:
    r = check(
        {"within": "2s"},
        prom={"config_version": versions({"orders-1": 6, "payments-1": 6, "payments-2": 12})},
    )
    assert r.verdict == FAIL
    assert "payments-2 (after 7.0 s)" in " ".join(r.evidence)
    # one sample step of slack: 3 s after the change with a 2 s bound and 1 s samples passes
    ok = check(
        {"within": "2s"},
        prom={"config_version": versions({"orders-1": 6, "payments-1": 6, "payments-2": 8})},
    )
    assert ok.verdict == PASS, ok.evidence


def test_a_missing_series_is_unknown_naming_the_instance() -> None:
    r = check({"within": "2s"}, prom={"config_version": versions({"orders-1": 6, "payments-1": 6})})
    assert r.verdict == UNKNOWN and not r.passed
    assert "payments-2 (no series)" in " ".join(r.evidence)
    none = check({"within": "2s"})
    assert none.verdict == UNKNOWN and not none.passed
    assert "no shop_config_version series for orders-1, payments-1, payments-2" in none.evidence[0]


def test_a_late_instance_fails_even_when_another_is_unknown() -> None:
    r = check({"within": "2s"}, prom={"config_version": versions({"orders-1": None})})
    assert r.verdict == FAIL


def test_without_a_change_or_its_revision_the_check_is_unknown() -> None:
    prom = {"config_version": versions({i: 6 for i in INSTANCES})}
    assert check({"within": "2s"}, j=journal([]), prom=prom).verdict == UNKNOWN
    r = check({"within": "2s"}, j=change_journal(revision=None), prom=prom)
    assert r.verdict == UNKNOWN
    assert "no store revision" in " ".join(r.evidence)


def test_services_limits_the_instances_judged() -> None:
    r = check(
        {"within": "2s", "services": ["payments"]},
        prom={"config_version": versions({"orders-1": None, "payments-1": 6, "payments-2": 6})},
    )
    assert r.verdict == PASS, r.evidence


def test_the_series_comes_from_the_target_not_the_scenario() -> None:
    expect = [EXPECT_ADAPTER.validate_python({"config_applied": {"within": "2s"}})]
    assert series_queries(expect) == {}
    assert series_queries(expect, facts=FACTS) == {"config_version": "shop_config_version"}
    assert series_queries(expect, facts=SHOP) == {}  # a target without config: nothing to read
    assert CHECK_KINDS["config_applied"].series == ()
