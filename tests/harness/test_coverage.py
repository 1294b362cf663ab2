"""The coverage map from scenario files alone: which family each fault covers on which link."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.coverage import REGISTRY_ROW, coverage, render_text
from harness.scenario import TopologyFacts, load_scenario

FACTS = TopologyFacts(
    services={"gateway": ["gateway-1"], "orders": ["orders-1"],
              "payments": ["payments-1", "payments-2"]},
    links=[("gateway", "orders"), ("orders", "payments")],
    timeouts={("gateway", "orders"): 8.0, ("orders", "payments"): 1.0},
    lease_ttl=5.0,
    entry="gateway",
    load_locustfile=Path(__file__).resolve().parents[2] / "target_system" / "locustfile.py",
)  # fmt: skip


def scenario(tmp_path, name: str, faults: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nload: {{users: 1}}\nphases: [{{name: all, duration: 30s}}]\n"
        + "faults:\n"
        + textwrap.indent(textwrap.dedent(faults), "  ")
    )
    return load_scenario(path, lambda s, p: FACTS)


SLOW = """\
- {kind: latency, link: orders->payments-1, latency: 1500ms, for: 5s}
- {kind: latency, link: gateway->orders, latency: 1500ms, for: 5s}
"""
LOST = """\
- {kind: blackhole, link: orders->payments, for: 5s}
- {kind: partition, groups: [[orders], [payments-2]], direction: request, for: 5s}
"""
PROCS = """\
- {kind: crash, instance: payments-1, restart_after: 3s}
- {kind: pause, pick: {service: orders}, for: 5s}
- {kind: down, link: gateway->orders, for: 5s}
"""


def test_each_fault_lands_in_its_family(tmp_path) -> None:
    scenarios = [
        scenario(tmp_path, "slow", SLOW),
        scenario(tmp_path, "lost", LOST),
        scenario(tmp_path, "procs", PROCS),
        scenario(tmp_path, "short-outage", "- {kind: registry_outage, at: 1s, for: 4s}\n"),
        scenario(tmp_path, "long-outage", "- {kind: registry_outage, at: 1s, for: 8s}\n"),
    ]
    cmap = coverage("t", FACTS, scenarios)
    assert cmap.cells == {
        # 1.5 s is beyond orders' 1 s timeout, not beyond gateway's 8 s
        ("orders->payments", "slow"): ["slow"],
        # the default stream is downstream: the callee acted, the response was lost
        ("orders->payments", "response_lost"): ["lost"],
        ("orders->payments", "request_lost"): ["lost"],
        ("orders->payments", "crashed"): ["procs"],
        ("gateway->orders", "paused"): ["procs"],
        ("gateway->orders", "refused_reset"): ["procs"],
        # 4 s is within the 5 s lease: nothing expires, so it does not count
        (REGISTRY_ROW, "registry_outage"): ["long-outage"],
    }
    gaps = cmap.gaps()
    assert ("gateway->orders", "slow") in gaps and ("orders->payments", "paused") in gaps
    assert len(gaps) == 2 * 6 + 1 - 7
    text = render_text(cmap)
    assert "GAP" in text and f"{len(gaps)} gaps:" in text


def test_a_link_without_a_declared_timeout_says_so(tmp_path) -> None:
    facts = TopologyFacts(services=FACTS.services, links=FACTS.links, registry="none")
    slow = "- {kind: latency, link: orders->payments, latency: 9s, for: 5s}\n"
    cmap = coverage("t", facts, [scenario(tmp_path, "slow", slow)])
    assert ("orders->payments", "slow") in cmap.gaps()
    assert REGISTRY_ROW not in cmap.rows
    assert any("orders->payments: no timeout declared" in n for n in cmap.notes)


def test_a_live_config_change_makes_latency_not_count_as_beyond_the_timeout():
    from harness.targets import coverage_maps, load_scenarios

    [cmap] = coverage_maps(load_scenarios(["scenarios/config-change-timeouts.yaml"]))
    assert not cmap.cells.get(("orders->payments", "slow"))
    assert any("config-change-timeouts: changes configuration live" in n for n in cmap.notes)


def test_config_and_secret_rows_on_a_target_that_declares_them(tmp_path) -> None:
    import dataclasses

    from harness.facts import ConfigFacts

    facts = dataclasses.replace(
        FACTS,
        config=ConfigFacts("/c/", {"t": "number"}, "v"),
        secrets={"tok": ("orders",), "other": ("payments",)},
    )

    def load(name: str, faults: str):
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"name: {name}\nload: {{users: 1}}\nphases: [{{name: all, duration: 30s}}]\n"
            + "faults:\n"
            + textwrap.indent(textwrap.dedent(faults), "  ")
        )
        return load_scenario(path, lambda s, p: facts)

    scenarios = [
        load("live", "- {kind: config_change, set: {t: 3}, for: 5s}\n"),
        load("grace", "- {kind: secret_rotate, secret: tok, grace: 5s}\n"),
        load("all", "- {kind: secret_rotate}\n"),
    ]
    cmap = coverage("t", facts, scenarios)
    assert cmap.rows[-3:] == ["config", "secret:tok", "secret:other"]
    assert cmap.cells[("config", "config_live")] == ["live"]
    assert cmap.cells[("secret:tok", "secret_grace")] == ["grace"]
    assert cmap.cells[("secret:tok", "secret_no_grace")] == ["all"]
    assert cmap.cells[("secret:other", "secret_no_grace")] == ["all"]
    assert ("config", "config_outage") in cmap.gaps()
    assert ("secret:other", "secret_grace") in cmap.gaps()
    assert "changed, store down" in render_text(cmap)
    # a target without them has no such rows or columns
    plain = render_text(coverage("t", FACTS, []))
    assert "config" not in plain and "rotated" not in plain


def test_the_map_as_data_lists_only_the_columns_its_rows_have() -> None:
    assert list(coverage("t", FACTS, []).as_dict()["families"]) == [
        "slow", "request_lost", "response_lost", "refused_reset", "crashed", "paused",
        "registry_outage",
    ]  # fmt: skip
