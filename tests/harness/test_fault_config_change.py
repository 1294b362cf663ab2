"""config_change: validated against the target's declared keys, one transaction to set and one to
revert (previous values back, absent keys deleted), revisions in the journal, CLI form."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.cli import build_parser
from harness.cli_stack import build_fault
from harness.errors import FaultError, InputInvalid, ScenarioInvalid, TopologyInvalid
from harness.facts import ConfigFacts
from harness.faults.kinds.config_change import ConfigChange, undo_config_changes
from harness.scenario import load_scenario, markers
from harness.targets import FaultDriver, facts_of
from harness.topology import bundled_topology_path, load_topology
from tests.checks.rundata_builders import SHOP

TOPOLOGY = load_topology(bundled_topology_path())
FACTS = dataclasses.replace(
    SHOP,
    load_locustfile=TOPOLOGY.load_locustfile,
    load_host=TOPOLOGY.load_host,
    config=ConfigFacts(
        "/shop/config/", {"call_timeout": "number", "retry_attempts": "integer",
                          "gateway_stock_check": "boolean"}, "shop_config_version"),
)  # fmt: skip

SCENARIO = """\
name: cc
load: {users: 1, rate: 1}
phases:
  - {name: a, duration: 5s}
  - {name: b, duration: 10s}
faults:
  - at: 5s
    for: 5s
    kind: config_change
    set: {SET}
expect:
  - config_applied: {within: 2s}
"""


def load(tmp_path: Path, set_: str, facts=FACTS, expect: str | None = None) -> Any:
    text = SCENARIO.replace("{SET}", set_)
    if expect is not None:
        text = text.replace("  - config_applied: {within: 2s}\n", expect)
    p = tmp_path / "cc.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_scenario(p, facts_for_target=lambda _s, _p: facts)


def error(tmp_path: Path, set_: str, **kw: Any) -> str:
    with pytest.raises(ScenarioInvalid) as info:
        load(tmp_path, set_, **kw)
    return str(info.value)


def test_a_good_change_loads(tmp_path: Path) -> None:
    s = load(tmp_path, "{call_timeout: 3, retry_attempts: '5', gateway_stock_check: false}")
    assert s.faults[0].set == {
        "call_timeout": 3,
        "retry_attempts": "5",
        "gateway_stock_check": False,
    }
    assert "config_change" in markers(s)


def test_an_unknown_key_is_named_with_the_known_keys_and_its_line(tmp_path: Path) -> None:
    msg = error(tmp_path, "{call_timeut: 3}")
    assert "cc.yaml:10: faults[0].set.call_timeut: unknown config key 'call_timeut'; " in msg
    assert "known keys: call_timeout, retry_attempts, gateway_stock_check" in msg


@pytest.mark.parametrize(
    ("set_", "message"),
    [
        ("{call_timeout: 3s}", "call_timeout: expected a number, got '3s'"),
        ("{retry_attempts: 2.5}", "retry_attempts: expected an integer, got '2.5'"),
        ("{retry_attempts: true}", "retry_attempts: expected an integer, not a boolean"),
        ("{gateway_stock_check: 1}", "gateway_stock_check: expected true or false"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(tmp_path: Path, set_: str, message: str) -> None:
    assert message in error(tmp_path, set_)


def test_a_target_without_config_refuses_the_fault_and_the_check(tmp_path: Path) -> None:
    msg = error(tmp_path, "{call_timeout: 3}", facts=SHOP)
    assert "faults[0].kind: the target declares no live settings" in msg
    assert "expect[0].config_applied: the target declares no `config:`" in msg


def test_config_applied_needs_a_config_change(tmp_path: Path) -> None:
    text = SCENARIO.split("faults:")[0] + "expect:\n  - config_applied: {within: 2s}\n"
    p = tmp_path / "x.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(p, facts_for_target=lambda _s, _p: FACTS)
    assert "no config_change or config_store_outage fault; the check measures from one" in str(
        info.value
    )


def test_an_empty_change_is_refused(tmp_path: Path) -> None:
    assert "cc.yaml:10: faults[0].set: dictionary should have at least 1 item" in error(
        tmp_path, "{}"
    )


def test_the_bundled_topology_declares_the_shops_config() -> None:
    facts = facts_of(TOPOLOGY)
    assert facts.config is not None and "call_timeout" in facts.config.keys
    assert "shop_config_version" in (facts.metrics or set())


def test_a_topology_config_is_validated(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(
        "registry: none\nservices:\n  a: {command: [x]}\n"
        "config: {prefix: conf, keys: {k: float}, version_metric: v}\n",
        encoding="utf-8",
    )
    with pytest.raises(TopologyInvalid) as info:
        load_topology(p)
    msg = str(info.value)
    assert "t.yaml:4: config.prefix: string should match pattern" in msg
    assert "config.keys.k: input should be 'number', 'integer', 'boolean' or 'string'" in msg


# ------------------------------------------------------------------------------- the driver


class FakeStore:
    def __init__(self, kvs: dict[str, str]) -> None:
        self.kvs = dict(kvs)
        self.revision = 10
        self.writes: list[tuple[dict[str, str], list[str]]] = []

    def members(self) -> list[dict]:
        return []

    def read(self, keys: list[str]) -> tuple[int, dict[str, str | None]]:
        return self.revision, {k: self.kvs.get(k) for k in keys}

    def write(self, put: dict[str, str], delete: Sequence[str] = ()) -> int:
        self.revision += 1
        self.writes.append((dict(put), list(delete)))
        self.kvs.update(put)
        for k in delete:
            self.kvs.pop(k, None)
        return self.revision


class FakeStack:
    def __init__(self, kvs: dict[str, str] | None = None) -> None:
        self.topology = TOPOLOGY
        self.etcd = FakeStore(kvs or {})


def test_inject_sets_every_key_at_once_and_revert_restores_or_deletes() -> None:
    stack = FakeStack({"/shop/config/retry_attempts": "4", "/other": "x"})
    fault = ConfigChange(stack, set={"retry_attempts": 5, "gateway_stock_check": False})  # type: ignore[arg-type]
    fault.inject()
    assert stack.etcd.writes == [
        ({"/shop/config/retry_attempts": "5", "/shop/config/gateway_stock_check": "false"}, [])
    ]
    assert fault.undo() == {
        "/shop/config/retry_attempts": "4", "/shop/config/gateway_stock_check": None
    }  # fmt: skip
    fault.revert()
    assert stack.etcd.kvs == {"/shop/config/retry_attempts": "4", "/other": "x"}
    assert fault.recorded() == {"revision": 11, "reverted_revision": 12}
    fault.revert()  # a second revert does nothing
    assert len(stack.etcd.writes) == 2


def test_the_engine_records_the_revisions_in_the_journal() -> None:
    from harness.scenario.faultspec import FAULT_ADAPTER

    stack = FakeStack()
    driver = FaultDriver(stack)  # type: ignore[arg-type]
    spec = FAULT_ADAPTER.validate_python(
        {"kind": "config_change", "at": 1, "for": 2, "set": {"call_timeout": 3}}
    )
    assert driver.inject("f1", spec) == {"revision": 11}
    assert driver.revert("f1") == {"revision": 11, "reverted_revision": 12}
    assert stack.etcd.kvs == {}


def test_the_driver_refuses_an_unknown_key_naming_the_known_ones() -> None:
    with pytest.raises(FaultError) as info:
        ConfigChange(FakeStack(), set={"call_timeut": 3})  # type: ignore[arg-type]
    assert "unknown config key 'call_timeut'; known keys: call_timeout, retry_attempts" in str(
        info.value
    )


def test_the_cli_takes_key_value_pairs_and_the_hyphenated_name() -> None:
    args = build_parser().parse_args(
        ["fault", "config-change", "call_timeout=3", "gateway_stock_check=false", "--for", "5s"]
    )
    assert args.kind == "config_change"
    fault = build_fault(FakeStack(), args)  # type: ignore[arg-type]
    assert fault.values == {
        "/shop/config/call_timeout": "3", "/shop/config/gateway_stock_check": "false"
    }  # fmt: skip
    bad = build_parser().parse_args(["fault", "config-change", "call_timeout"])
    with pytest.raises(InputInvalid, match=r"needs KEY=VALUE pairs, e\.g\. call_timeout=3"):
        build_fault(FakeStack(), bad)  # type: ignore[arg-type]
    typo = build_parser().parse_args(["fault", "config-change", "timeout=3"])
    with pytest.raises(FaultError, match="unknown config key 'timeout'; known keys: "):
        build_fault(FakeStack(), typo)  # type: ignore[arg-type]


def test_faults_clear_writes_back_what_recorded_changes_replaced() -> None:
    store = FakeStore({"/shop/config/call_timeout": "2"})
    first = ConfigChange(FakeStack(), set={"call_timeout": 3})  # type: ignore[arg-type]
    first.stack.etcd = store
    first.inject()
    second = ConfigChange(FakeStack(), set={"call_timeout": 4, "retry_attempts": 5})  # type: ignore[arg-type]
    second.stack.etcd = store
    second.inject()
    recorded = [{"kind": "config_change", "undo": first.undo()},
                {"kind": "latency"}, {"kind": "config_change", "undo": second.undo()}]  # fmt: skip
    assert undo_config_changes(store, recorded) == 2
    assert store.kvs == {"/shop/config/call_timeout": "2"}  # as before either change
