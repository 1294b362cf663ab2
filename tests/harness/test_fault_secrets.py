"""secret_rotate and config_store_outage: validation against the target's `secrets:` and
`config:`, the drivers on a real secrets folder and a store whose write waits out a pause, the
journal's records, the revert on every path, the CLI forms."""

from __future__ import annotations

import dataclasses
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.cli import build_parser
from harness.cli_stack import build_fault
from harness.errors import FaultError, InputInvalid, ScenarioInvalid, TopologyInvalid
from harness.facts import ConfigFacts
from harness.faults.kinds import FAULT_KINDS
from harness.faults.kinds.config_store_outage import ConfigStoreOutage
from harness.faults.kinds.secret_rotate import SecretRotate
from harness.infra.secrets import SecretVolume
from harness.scenario import load_scenario, markers
from harness.scenario.faultspec import FAULT_ADAPTER
from harness.targets import FaultDriver, facts_of
from harness.topology import bundled_topology_path, load_topology
from tests.checks.rundata_builders import SHOP

TOPOLOGY = load_topology(bundled_topology_path())
FACTS = dataclasses.replace(
    SHOP,
    load_locustfile=TOPOLOGY.load_locustfile,
    load_host=TOPOLOGY.load_host,
    config=ConfigFacts("/shop/config/", {"call_timeout": "number"}, "shop_config_version"),
    secrets={"payments_token": ("orders", "payments")},
)

SCENARIO = """\
name: sr
load: {users: 1, rate: 1}
phases:
  - {name: a, duration: 5s}
  - {name: b, duration: 15s}
faults:
  - at: 5s
FAULT
"""


def load(tmp_path: Path, fault: str, facts=FACTS) -> Any:
    text = SCENARIO.replace("FAULT", textwrap.indent(textwrap.dedent(fault).strip(), "    "))
    p = tmp_path / "sr.yaml"
    p.write_text(text, encoding="utf-8")
    return load_scenario(p, facts_for_target=lambda _s, _p: facts)


def error(tmp_path: Path, fault: str, **kw: Any) -> str:
    with pytest.raises(ScenarioInvalid) as info:
        load(tmp_path, fault, **kw)
    return str(info.value)


# ------------------------------------------------------------------------ secret_rotate model


def test_a_rotation_loads_with_its_marker(tmp_path: Path) -> None:
    s = load(tmp_path, "kind: secret_rotate\nsecret: payments_token\ngrace: 5s")
    assert s.faults[0].grace == 5.0 and s.faults[0].revert_after() == 5.0
    assert not s.faults[0].instant()
    assert "secret_rotate" in markers(s)
    bare = load(tmp_path, "kind: secret_rotate")
    assert bare.faults[0].secret is None and bare.faults[0].instant()


def test_an_unknown_secret_or_key_is_named(tmp_path: Path) -> None:
    msg = error(tmp_path, "kind: secret_rotate\nsecret: payment_token")
    assert "sr.yaml:9: faults[0].secret: unknown secret 'payment_token'; known: payments_token" in (
        msg
    )
    msg = error(tmp_path, "kind: secret_rotate\ngrase: 5s")
    assert "sr.yaml:9: faults[0].grase: unknown field" in msg


def test_a_target_without_secrets_refuses_the_rotation(tmp_path: Path) -> None:
    msg = error(tmp_path, "kind: secret_rotate", facts=SHOP)
    assert "faults[0].kind: the target declares no secrets" in msg


def test_a_negative_grace_is_refused(tmp_path: Path) -> None:
    assert "grace" in error(tmp_path, "kind: secret_rotate\ngrace: -1s")


# ------------------------------------------------------------------------ secret_rotate driver


class SecretStack:
    def __init__(self, root: Path) -> None:
        self.topology = TOPOLOGY
        self.secrets = SecretVolume(root / "secrets", {"payments_token": 32})
        self.secrets.create()
        self.etcd = None


def test_rotate_with_grace_and_the_revert_ends_the_grace(tmp_path: Path) -> None:
    stack = SecretStack(tmp_path)
    old = stack.secrets.current()["payments_token"]
    driver = FaultDriver(stack)  # type: ignore[arg-type]
    spec = FAULT_ADAPTER.validate_python(
        {"kind": "secret_rotate", "at": 1, "grace": "3s", "secret": "payments_token"}
    )
    assert driver.needs_revert(spec)
    recorded = driver.inject("f1", spec)
    assert recorded == {"generations": {"payments_token": 2}, "grace_s": 3.0}
    assert old not in str(recorded)
    assert stack.secrets.current()["payments_token.previous"] == old
    driver.revert("f1")
    assert "payments_token.previous" not in stack.secrets.current()


def test_rotate_without_grace_is_done_when_injected(tmp_path: Path) -> None:
    stack = SecretStack(tmp_path)
    driver = FaultDriver(stack)  # type: ignore[arg-type]
    spec = FAULT_ADAPTER.validate_python({"kind": "secret_rotate", "at": 1})
    assert not driver.needs_revert(spec)
    driver.inject("f1", spec)
    assert driver.active == {} and len(stack.secrets.values()["payments_token"]) == 2


def test_revert_all_ends_a_grace_on_an_early_exit(tmp_path: Path) -> None:
    stack = SecretStack(tmp_path)
    driver = FaultDriver(stack)  # type: ignore[arg-type]
    spec = FAULT_ADAPTER.validate_python({"kind": "secret_rotate", "at": 1, "grace": "60s"})
    driver.inject("f1", spec)
    assert stack.secrets.in_grace("payments_token")
    driver.revert_all()
    assert not stack.secrets.in_grace("payments_token")


def test_the_driver_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    stack = SecretStack(tmp_path)
    with pytest.raises(FaultError, match="unknown secret 'x'; known: payments_token"):
        SecretRotate(stack, secret="x")  # type: ignore[arg-type]
    stack.secrets = None  # type: ignore[assignment]
    with pytest.raises(FaultError, match="no secrets folder"):
        SecretRotate(stack)  # type: ignore[arg-type]


def test_the_cli_form(tmp_path: Path) -> None:
    stack = SecretStack(tmp_path)
    args = build_parser().parse_args(["fault", "secret-rotate", "--grace", "10s"])
    assert args.kind == "secret_rotate"
    fault = build_fault(stack, args)  # type: ignore[arg-type]
    assert fault.grace == 10.0 and fault.revert_delay == 10.0 and fault.names == ["payments_token"]
    bad = build_parser().parse_args(["fault", "secret-rotate", "payments_token"])
    with pytest.raises(InputInvalid, match="takes no target; name the secret with --secret"):
        build_fault(stack, bad)  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fault", "secret-rotate", "--grace", "soon"])


# ------------------------------------------------------------------ the topology's secrets:


def test_the_bundled_topology_declares_the_shops_secret() -> None:
    facts = facts_of(TOPOLOGY)
    assert facts.secrets == {"payments_token": ("orders", "payments")}
    assert TOPOLOGY.services["orders"].env["SHOP_SECRETS_DIR"] == "{secrets_dir}"
    assert "SHOP_SECRETS_DIR" not in TOPOLOGY.services["gateway"].env


def test_a_topology_secrets_section_is_validated(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(
        "registry: none\nservices:\n  a: {command: [x]}\n  b: {command: [x, '{secrets_dir}']}\n"
        "secrets:\n  tok: {readers: [a, c]}\n  ok: {readers: [b]}\n  x.previous: {readers: [b]}\n",
        encoding="utf-8",
    )
    with pytest.raises(TopologyInvalid) as info:
        load_topology(p)
    msg = str(info.value)
    assert "t.yaml:6: secrets.tok.readers[0]: a reads tok but its command and env never use" in msg
    assert "secrets.tok.readers[1]: unknown service 'c'; known: a, b" in msg
    assert "secrets.x.previous: a name ending in .previous is the grace copy's" in msg
    p.write_text("registry: none\nservices:\n  b: {command: [x, '{secrets_dir}']}\n")
    with pytest.raises(TopologyInvalid, match=r"secrets_dir.* is used but the topology declares"):
        load_topology(p)


# -------------------------------------------------------------------- config_store_outage


def test_an_outage_loads_and_is_validated(tmp_path: Path) -> None:
    s = load(tmp_path, "kind: config_store_outage\noutage: 3s\nfor: 8s\nset: {call_timeout: 3}")
    assert s.faults[0].outage == 3.0 and "config_store_outage" in markers(s)
    msg = error(tmp_path, "kind: config_store_outage\noutage: 8s\nfor: 8s\nset: {call_timeout: 3}")
    assert "outage (8s) must end before `for` (8s)" in msg
    msg = error(tmp_path, "kind: config_store_outage\noutage: 1s\nset: {call_timout: 3}")
    assert "faults[0].set.call_timout: unknown config key 'call_timout'; known keys: " in msg
    msg = error(tmp_path, "kind: config_store_outage\nset: {call_timeout: 3}")
    assert "sr.yaml:7: faults[0].outage: missing required field" in msg


class PausableStore:
    """A store whose write, sent while paused, waits (unanswered) until the resume."""

    def __init__(self) -> None:
        self.kvs: dict[str, str] = {"/shop/config/call_timeout": "1"}
        self.revision = 10
        self.running = threading.Event()
        self.running.set()
        self.writes: list[tuple[dict[str, str], list[str]]] = []

    def members(self) -> list[dict]:
        return []

    def read(self, keys: list[str]) -> tuple[int, dict[str, str | None]]:
        return self.revision, {k: self.kvs.get(k) for k in keys}

    def write(
        self, put: dict[str, str], delete: Sequence[str] = (), timeout: float | None = None
    ) -> int:
        assert self.running.wait(timeout), "the write was not answered in time"
        self.revision += 1
        self.writes.append((dict(put), list(delete)))
        self.kvs.update(put)
        for k in delete:
            self.kvs.pop(k, None)
        return self.revision


class OutageStack:
    def __init__(self) -> None:
        self.topology = TOPOLOGY
        self.etcd = PausableStore()
        self.paused: set[str] = set()

    def pause_registry(self) -> None:
        self.paused.add("etcd")
        self.etcd.running.clear()

    def resume_registry(self) -> None:
        self.paused.discard("etcd")
        self.etcd.running.set()


def _until(probe, timeout: float = 5.0) -> None:
    t0 = time.monotonic()
    while not probe():
        assert time.monotonic() - t0 < timeout
        time.sleep(0.01)


def test_the_change_is_pending_during_the_outage_and_lands_on_resume() -> None:
    stack = OutageStack()
    fault = ConfigStoreOutage(stack, set={"call_timeout": 3}, outage=0.3)  # type: ignore[arg-type]
    t0 = time.time()
    fault.inject()
    assert stack.paused == {"etcd"}
    time.sleep(0.1)
    assert stack.etcd.writes == []  # pending
    _until(lambda: "landed_at" in fault.recorded())
    rec = fault.recorded()
    assert rec["revision"] == 11 and rec["landed_at"] - t0 >= 0.3 and stack.paused == set()
    assert stack.etcd.kvs["/shop/config/call_timeout"] == "3"
    assert fault.undo() == {"/shop/config/call_timeout": "1"}
    fault.revert()
    assert stack.etcd.kvs["/shop/config/call_timeout"] == "1"
    assert fault.recorded()["reverted_revision"] == 12


def test_an_early_revert_resumes_the_store_lands_and_reverts() -> None:
    stack = OutageStack()
    fault = ConfigStoreOutage(stack, set={"call_timeout": 3}, outage=60)  # type: ignore[arg-type]
    fault.inject()
    fault.revert()  # the scenario ended (or was interrupted) during the outage
    assert stack.paused == set()
    assert [w[0] for w in stack.etcd.writes] == [
        {"/shop/config/call_timeout": "3"}, {"/shop/config/call_timeout": "1"}
    ]  # fmt: skip
    assert stack.etcd.kvs["/shop/config/call_timeout"] == "1"


def test_the_outage_cli_form() -> None:
    stack = OutageStack()
    args = build_parser().parse_args(
        ["fault", "config-store-outage", "call_timeout=3", "--outage", "2s", "--for", "5s"]
    )
    fault = build_fault(stack, args)  # type: ignore[arg-type]
    assert fault.outage == 2.0 and fault.values == {"/shop/config/call_timeout": "3"}
    missing = build_parser().parse_args(["fault", "config-store-outage", "call_timeout=3"])
    with pytest.raises(InputInvalid, match="needs --outage"):
        build_fault(stack, missing)  # type: ignore[arg-type]
    assert FAULT_KINDS["config_store_outage"].randomizable is False


def test_secret_leak_in_expect_needs_a_target_with_secrets(tmp_path: Path) -> None:
    text = SCENARIO.replace("faults:\n  - at: 5s\nFAULT\n", "expect:\n  - secret_leak: {}\n")
    p = tmp_path / "sl.yaml"
    p.write_text(text + "secret_leak: none\n", encoding="utf-8")
    s = load_scenario(p, facts_for_target=lambda _s, _p: FACTS)
    assert s.secret_leak == "none" and s.expect[0].type == "secret_leak"
    with pytest.raises(ScenarioInvalid, match=r"sl.yaml:7: expect\[0\].secret_leak: the target "
                       r"declares no secrets"):  # fmt: skip
        load_scenario(p, facts_for_target=lambda _s, _p: SHOP)
    p.write_text(text.replace("expect:\n  - secret_leak: {}\n", "secret_leak: off\n"))
    with pytest.raises(ScenarioInvalid, match="secret_leak"):
        load_scenario(p, facts_for_target=lambda _s, _p: FACTS)
