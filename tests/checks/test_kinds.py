"""The check kind registry: one module per kind declares its model, checker and series."""

from __future__ import annotations

import typing

from harness.checks import CHECK_KINDS, CHECKERS, EXPECT_ADAPTER, series_queries
from harness.topology import bundled_topology_path, load_topology


def test_each_kind_declares_its_model_checker_and_the_series_it_reads() -> None:
    for name, kind in CHECK_KINDS.items():
        assert kind.model.model_fields["type"].annotation == typing.Literal[name]
        assert CHECKERS[name] is kind.check
        # every series a check reads is one the bundled target's profile maps
        mapped = set(load_topology(bundled_topology_path()).profile.queries())
        assert set(kind.series) <= mapped, name


def test_extra_series_come_from_the_kind_not_from_the_runner() -> None:
    expect = [
        EXPECT_ADAPTER.validate_python({"slo": {"phase": "a", "min_success_rate": 0.9}}),
        EXPECT_ADAPTER.validate_python({"promql": {"query": "sum(up)", "op": ">", "value": 0}}),
    ]
    assert series_queries(expect) == {"promql_1": "sum(up)"}
