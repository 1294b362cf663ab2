"""The fault kind registry: every table generated from it agrees with it, and the docs are fresh."""

from __future__ import annotations

import argparse
import typing
from types import SimpleNamespace
from typing import Any

import pytest

from harness import cli_stack
from harness.errors import InputInvalid
from harness.faults import KINDS
from harness.faults import tables as fault_tables
from harness.faults.kinds import (
    FAULT_KINDS,
    MARKER_HELP,
    PROCESS_KINDS,
    old_markers_in,
    with_aliases,
)
from harness.faults.network import ToxicFault
from harness.scenario import FAULT_ADAPTER, FAULT_MARKERS, RANDOM_PARAMS, RandomKind


def test_each_kind_declares_its_model_driver_and_marker() -> None:
    for name, kind in FAULT_KINDS.items():
        assert kind.model.model_fields["kind"].annotation == typing.Literal[name]
        assert KINDS[name] is kind.driver
        assert FAULT_MARKERS[name] == name == kind.marker  # markers equal kind names
        assert name in MARKER_HELP
    assert set(typing.get_args(RandomKind)) == {n for n, k in FAULT_KINDS.items() if k.randomizable}
    assert "config_change" not in typing.get_args(RandomKind)  # it needs values of its own
    assert set(RANDOM_PARAMS) == set(FAULT_KINDS)


def test_the_union_validates_every_kind_from_its_own_module() -> None:
    spec = FAULT_ADAPTER.validate_python(
        {"kind": "reset_peer", "link": "orders->payments", "at": "1s", "for": "2s"}
    )
    assert type(spec) is FAULT_KINDS["reset_peer"].model
    assert spec.target_name() == "orders->payments"


def test_old_markers_are_aliases_that_a_selection_names() -> None:
    assert with_aliases(["crash", "reset_peer"]) == ["crash", "reset", "reset_peer"]
    assert with_aliases(["registry_outage"]) == ["registry", "registry_outage"]
    assert old_markers_in("reset and not registry_outage") == {"reset": "reset_peer"}
    assert old_markers_in("registry or slow") == {"registry": "registry_outage"}
    assert old_markers_in(None) == {}


class FakeTopology:
    services = {"orders": object(), "payments": object()}
    links: list[Any] = []

    def instance(self, name: str) -> None:
        if name != "payments-1":
            raise InputInvalid(f"unknown instance {name}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli_stack.register(sub)
    return parser.parse_args(["fault", *argv])


def test_the_fault_command_takes_each_kinds_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "harness.faults.network.resolve_link", lambda topology, link: ["orders--payments-1"]
    )
    stack = SimpleNamespace(topology=FakeTopology())
    fault = cli_stack.build_fault(stack, parse(["latency", "orders->payments", "--ms", "1500"]))
    assert isinstance(fault, ToxicFault)
    assert fault.attributes == {"latency": 1500, "jitter": 0}
    assert fault.streams == ["downstream"]
    fault = cli_stack.build_fault(
        stack, parse(["slicer", "orders->payments", "--stream", "both", "--toxicity", "0.5"])
    )
    assert fault.attributes["average_size"] == 64 and fault.toxicity == 0.5
    with pytest.raises(InputInvalid, match="fault bandwidth needs --rate-kbps"):
        cli_stack.build_fault(stack, parse(["bandwidth", "orders->payments"]))
    with pytest.raises(InputInvalid, match="needs one instance"):
        cli_stack.build_fault(stack, parse(["crash"]))
    for name in PROCESS_KINDS:
        flags = [a for f in FAULT_KINDS[name].flags if f.required for a in (f.option, "2")]
        fault = cli_stack.build_fault(stack, parse([name, "payments-1", *flags]))
        assert fault.instance == "payments-1"
    assert (
        cli_stack.build_fault(stack, parse(["slow_start", "payments-1", "--delay", "2s"])).delay
        == 2.0
    )


def test_readme_and_architecture_tables_are_generated_from_the_registry() -> None:
    for (path, name), render in fault_tables.TABLES.items():
        assert fault_tables.current(path, name) == render(), (
            f"{path}: the fault-kind table is stale; run `python -m harness.faults.tables`"
        )
