from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.errors import ScenarioInvalid
from harness.scenario import (
    CrashFault,
    LatencyFault,
    TopologyFacts,
    drawn_by_seed,
    json_schema,
    load_files,
    load_scenario,
    markers,
    promql_metric_names,
    random_schedule,
    resolve_picks,
    validate_files,
)

REPO = Path(__file__).resolve().parents[2]
SHOP_LOCUSTFILE = REPO / "target_system" / "locustfile.py"
SHOP = TopologyFacts(
    services={
        "gateway": ["gateway-1"], "orders": ["orders-1"],
        "inventory": ["inventory-1", "inventory-2"], "payments": ["payments-1", "payments-2"],
        "shipping": ["shipping-1"],
    },
    links=[("gateway", "orders"), ("gateway", "inventory"), ("orders", "inventory"),
           ("orders", "payments"), ("orders", "shipping")],
    metrics={"shop_sagas_in_flight", "shop_breaker_state", "shop_http_requests_total"},
    entry="gateway",
    load_locustfile=SHOP_LOCUSTFILE,
    load_host="http://{entry}",
)  # fmt: skip

GOOD = """\
name: latency-orders-payments
description: slow payments
tags: [smoke]
seed: 7
load: {users: 8, rate: 2}
phases:
  - {name: baseline, duration: 5s}
  - {name: fault, duration: 10s}
  - {name: recovery, duration: 10s}
faults:
  - at: 5s
    for: 10s
    kind: latency
    link: orders->payments
    latency: 1500ms
expect:
  - saga_consistency: {settle_within: 20s}
  - breaker: {link: orders->payments, opens_within: 5s, closes_within: 15s}
  - slo: {phase: baseline, min_success_rate: 0.99, max_p99: 500ms}
  - promql: {query: 'sum(shop_sagas_in_flight)', phase: recovery, at: end, op: "<=", value: 0}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = "x.yaml") -> Path:
    p = Path(name)
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def facts(_scenario, _path) -> TopologyFacts:
    return SHOP


def error_of(text: str, **kw) -> str:
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(write(text), **kw)
    return str(info.value)


def test_good_file_parses_with_durations_in_seconds_and_its_line() -> None:
    s = load_scenario(write("# a comment\n" + GOOD), facts)
    assert s.name == "latency-orders-payments"
    assert s.line == 2 and s.source == Path("x.yaml")
    fault = s.faults[0]
    assert isinstance(fault, LatencyFault)
    assert (fault.at, fault.for_, fault.latency, fault.stream, fault.toxicity) == (
        5.0, 10.0, 1.5, "downstream", 1.0,
    )  # fmt: skip
    assert [e.type for e in s.expect] == ["saga_consistency", "breaker", "slo", "promql"]
    assert s.expect[2].max_p99 == 0.5
    assert s.duration == 25 and s.load.spawn_rate == 8
    assert s.phase_offsets()[1] == ("fault", 5.0, 15.0)


def _bundled() -> list:
    from harness.targets import facts_for_scenario

    problems, scenarios = load_files(sorted((REPO / "scenarios").glob("*.yaml")),
                                     facts_for_scenario)  # fmt: skip
    assert problems == []
    return scenarios


def test_bundled_scenarios_validate() -> None:
    scenarios = _bundled()
    names = {s.name for s in scenarios}
    assert {"latency-orders-payments", "crash-payments", "partition-orders-inventory",
            "blackhole-payments"} <= names  # fmt: skip
    for s in scenarios:
        # each short enough for CI (never over a minute) unless it is a soak marked slow
        assert s.duration <= 60 or "slow" in markers(s), s.name
        assert s.load.users == 8 and s.load.rate == 2


def test_bundled_suite_uses_every_fault_kind_outside_the_soak() -> None:
    from harness.faults import KINDS

    used = {f.kind for s in _bundled() if "slow" not in markers(s) for f in s.faults}
    assert set(KINDS) - used == set()


def test_unknown_link_names_file_line_field_and_known_links() -> None:
    msg = error_of(GOOD.replace("link: orders->payments\n", "link: orders->paymnts\n"),
                   facts_for_target=facts)  # fmt: skip
    assert msg.startswith(
        "x.yaml:14: faults[0].link: unknown link 'orders->paymnts' (did you mean "
        "'orders->payments'?); known links: gateway->inventory, gateway->orders,"
    )


def test_yaml_syntax_error_gives_the_line() -> None:
    msg = error_of(GOOD.replace("  - {name: fault, duration: 10s}", "  - {name: fault, duration"))
    # the wording is libyaml's (PyYAML's pure-Python parser words it differently)
    assert msg.startswith("x.yaml:9: YAML syntax error: ")
    assert msg.endswith("(while parsing a flow mapping that starts on line 8)")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    latency: 1500ms\n", "    latency: 1500ms\n    jiter: 5ms\n",
         "x.yaml:16: faults[0].jiter: unknown field 'jiter' (did you mean 'jitter'?); allowed:"),
        ("    latency: 1500ms\n", "", "x.yaml:11: faults[0].latency: missing required field"),
        ("latency: 1500ms", "latency: fast",
         "x.yaml:15: faults[0].latency: expected a duration like 500ms, 30s or 2m, got 'fast'"),
        ("kind: latency", "kind: lightning",
         "x.yaml:11: faults[0]: unknown kind 'lightning'; known: 'latency', 'bandwidth'"),
        ("  - at: 5s\n    for: 10s", "  - at: 20s\n    for: 10s",
         "x.yaml:12: faults[0].for: ends at 30s, after the scenario ends at 25s"),
        ("  - at: 5s\n", "  - at: 25s\n",
         "x.yaml:11: faults[0].at: starts at 25s, not before the scenario ends at 25s"),
        ("tags: [smoke]", "tags: [smoky]", "x.yaml:3: tags[0]: unknown tag 'smoky'; registered"),
        ("slo: {phase: baseline", "slo: {phase: base",
         "x.yaml:19: expect[2].slo.phase: unknown phase 'base'; phases: baseline, fault, recovery"),
        ("  - saga_consistency: {settle_within: 20s}", "  - saga_consistency: {}\n    extra: 1",
         "x.yaml:17: expect[0]: each entry is a one-key mapping {type: params}"),
        ("  - saga_consistency: {settle_within: 20s}", "  - sagas: {}",
         "x.yaml:17: expect[0]: unknown type 'sagas'; known: 'saga_consistency'"),
        ("name: latency-orders-payments", "name: Latency Orders",
         "x.yaml:1: name: string should match pattern"),
        ("  - {name: fault, duration: 10s}", "  - {name: baseline, duration: 10s}",
         "x.yaml:8: phases[1].name: duplicate phase name 'baseline'"),
        ("  - {name: fault, duration: 10s}", "  - {name: fault, duration: 0s}",
         "x.yaml:8: phases[1].duration: input should be greater than 0"),
        ("load: {users: 8, rate: 2}", "load: {rate: 2}",
         "x.yaml:5: load: give either users (with spawn_rate) or stages, not both"),
        ("seed: 7", "seed: 7\nseed: 8", "x.yaml:5: seed: duplicate key 'seed'"),
        ("breaker: {link: orders->payments", "breaker: {link: orders->shipping",
         "x.yaml:18: expect[1].breaker.link: no fault touches orders->shipping"),
    ],
)  # fmt: skip
def test_bad_input_names_file_line_and_field(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert error_of(GOOD.replace(old, new, 1)).startswith(expected)


def test_reference_errors_against_the_topology() -> None:
    crash = GOOD.replace("  - at: 5s\n    for: 10s\n    kind: latency\n    link: orders->payments"
                         "\n    latency: 1500ms\n",
                         "  - {at: 5s, kind: crash, instance: payments-9}\n")  # fmt: skip
    crash = crash.replace("  - breaker: {link: orders->payments, opens_within: 5s, "
                          "closes_within: 15s}\n", "")  # fmt: skip
    msg = error_of(crash, facts_for_target=facts)
    assert msg.startswith("x.yaml:11: faults[0].instance: unknown instance 'payments-9'")
    assert "known instances: gateway-1, inventory-1" in msg
    bad_metric = GOOD.replace("sum(shop_sagas_in_flight)", "sum(shop_sagas_inflight)")
    msg = error_of(bad_metric, facts_for_target=facts)
    assert msg.startswith(
        "x.yaml:20: expect[3].promql.query: unknown metric 'shop_sagas_inflight' "
        "(did you mean 'shop_sagas_in_flight'?)"
    )


def test_partition_groups_checked() -> None:
    part = GOOD.replace("kind: latency\n    link: orders->payments\n    latency: 1500ms",
                        "kind: partition\n    groups: [[gateway], [shipping]]")  # fmt: skip
    part = part.replace("  - breaker: {link: orders->payments, opens_within: 5s, "
                        "closes_within: 15s}\n", "")  # fmt: skip
    assert error_of(part, facts_for_target=facts).startswith(
        "x.yaml:14: faults[0].groups: the groups cut no link"
    )
    ok = part.replace("[[gateway], [shipping]]", "[[orders], [payments-1, inventory]]")
    assert load_scenario(write(ok), facts).faults[0].groups[1] == ["payments-1", "inventory"]


def test_empty_file_and_not_a_mapping() -> None:
    assert error_of("").startswith("x.yaml:1: expected a mapping with name, load, phases; got an")
    assert error_of("- 1\n").startswith("x.yaml:1: expected a mapping")


def test_validate_files_collects_every_problem_and_duplicate_names(tmp_path: Path) -> None:
    a = write(GOOD, "a.yaml")
    b = write(GOOD, "b.yaml")
    c = write(GOOD.replace("seed: 7", "seed: seven"), "c.yaml")
    problems = validate_files([a, b, c], facts)
    assert [str(p) for p in problems] == [
        "b.yaml:1: name: duplicate scenario name 'latency-orders-payments' (also in a.yaml:1)",
        "c.yaml:4: seed: input should be a valid integer, got 'seven'",
    ]


def test_markers_follow_the_kind_table() -> None:
    text = GOOD.replace("latency: 1500ms", "latency: 1500ms\n    jitter: 100ms").replace(
        "  - {name: recovery, duration: 10s}", "  - {name: recovery, duration: 50s}"
    )
    text += "  - discovery: {instance: payments-1}\n"
    text = text.replace(
        "faults:\n",
        "faults:\n  - {at: 1s, kind: registry_outage, for: 2s}\n"
        "  - {at: 30s, kind: crash, pick: {service: payments}}\n"
        "  - {at: 40s, kind: reset_peer, link: orders->payments-1, for: 1s}\n",
    )
    s = load_scenario(write(text), facts)
    assert markers(s) == [
        "crash", "jitter", "latency", "registry_outage", "reset_peer", "slow", "smoke",
    ]  # fmt: skip


def test_seeded_picks_are_deterministic() -> None:
    text = GOOD.replace("faults:\n", "faults:\n  - {at: 2s, kind: crash, pick: {service: "
                        "payments}, restart_after: 5s}\n"
                        "  - {at: 10s, kind: random, count: 4, kinds: [latency, crash, "
                        "partition, pause], for: 2s, window: [10s, 25s]}\n")  # fmt: skip
    s = load_scenario(write(text), facts)
    runs = [resolve_picks(s, SHOP) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    first = runs[0]
    assert isinstance(first[0], CrashFault) and first[0].instance in ("payments-1", "payments-2")
    assert first[0].pick is None
    assert len(first) == 6  # the crash, 4 generated, the latency
    generated = first[1:5]
    assert all(10 <= f.at < 25 for f in generated)
    assert [f.at for f in generated] == sorted(f.at for f in generated)
    assert not any(getattr(f, "instance", None) == "gateway-1" for f in generated)
    seeds = {
        tuple(
            f.model_dump_json() for f in random_schedule(n, SHOP, ["latency", "crash"], (0, 20), 3)
        )
        for n in range(8)
    }
    assert len(seeds) > 1  # the seed matters
    assert drawn_by_seed(s)
    assert not drawn_by_seed(load_scenario(write(GOOD), facts))


def test_json_schema_describes_the_file_format() -> None:
    schema = json_schema()
    json.dumps(schema)
    props = schema["properties"]
    assert {"name", "load", "phases", "faults", "expect", "abort", "steady_state"} <= set(props)
    entry = props["expect"]["items"]["oneOf"]
    assert {next(iter(e["properties"])) for e in entry} == {
        "saga_consistency", "breaker", "discovery", "slo", "promql", "invariant",
        "config_applied", "secret_leak", "retry_amplification",
    }  # fmt: skip
    assert "pattern" in schema["$defs"]["InvariantExpect"]["properties"]["function"]
    assert "type" not in schema["$defs"]["BreakerExpect"]["properties"]
    assert schema["$defs"]["LatencyFault"]["properties"]["latency"]["anyOf"][0]["type"] == "string"
    assert schema["$defs"]["Load"]["additionalProperties"] is False
    assert "for" in schema["$defs"]["LatencyFault"]["properties"]


def test_promql_metric_names() -> None:
    q = 'sum by (caller) (rate(shop_http_requests_total{route="/x"}[5m])) / on(a) up offset 1m'
    assert promql_metric_names(q) == ["shop_http_requests_total", "up"]


FAULTS_AT = "faults:\n  - at: 5s\n"


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (
            "faults:\n  - {at: 5s, for: 10s, kind: down, link: orders->payments}\n"
            "  - {at: 8s, for: 2s, kind: down, link: orders->payments-1}\n",
            "x.yaml:12: faults[1].at: overlaps faults[0], also down on orders->payments; "
            "merge them into one fault",
        ),
        (
            "faults:\n  - {at: 5s, for: 10s, kind: partition, groups: [[gateway], [orders-1]]}\n",
            "faults[0].groups: orders-1 is an instance of a calling service; proxies are per "
            "caller service, so only all of orders can be cut off",
        ),
    ],
)
def test_faults_that_cannot_work_together_are_refused(faults: str, expected: str) -> None:
    text = GOOD[: GOOD.index("faults:")] + faults + GOOD[GOOD.index("expect:") :]
    assert expected in error_of(text, facts_for_target=facts)


def test_faults_that_compose_are_accepted() -> None:
    # two latencies on one link get their own toxics; different instances never collide
    faults = (
        "faults:\n  - {at: 5s, for: 10s, kind: latency, link: orders->payments, latency: 1s}\n"
        "  - {at: 6s, for: 2s, kind: latency, link: orders->payments, latency: 1s}\n"
        "  - {at: 5s, for: 10s, kind: down, link: orders->payments-1}\n"
        "  - {at: 5s, for: 10s, kind: down, link: orders->payments-2}\n"
        "  - {at: 5s, for: 10s, kind: partition, groups: [[orders], [inventory-1]]}\n"
    )
    text = GOOD[: GOOD.index("faults:")] + faults + GOOD[GOOD.index("expect:") :]
    assert len(load_scenario(write(text), facts).faults) == 5


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("name: latency-orders-payments", "name: stack-2",
         "x.yaml:1: name: 'stack-2' is reserved for the run folder's stacks"),
        ("seed: 7", "seed: 7\ntarget: \"a\\0b.yaml\"", "x.yaml:5: target: string should match"),
        ("seed: 7", f"seed: 7\ntarget: {'x' * 300}.yaml", "x.yaml:5: target: string should match"),
        ("users: 8", "users: true", "x.yaml:5: load.users: input should be a valid integer"),
        ("rate: 2", "rate: .nan", "x.yaml:5: refused: '.nan': not a finite number"),
        ("duration: 5s", "duration: .inf", "x.yaml:7: refused: '.inf': not a finite number"),
        ("duration: 5s", "duration: 1.0e+300", "x.yaml:7: refused: 1.0e+300: larger than 1e+15"),
        ("seed: 7", "seed: " + "9" * 5000, "x.yaml:4: refused: '9999999999"),
        ("duration: 5s", "duration: 25h", "expected a duration of at most 24h"),
        ("seed: 7", "seed: 7\ntarget_env: {'A=B': x}",
         "x.yaml:5: target_env.A=B: key 'A=B': string should"),
    ],
)  # fmt: skip
def test_nonsense_values_are_refused(old: str, new: str, expected: str) -> None:
    assert expected in error_of(GOOD.replace(old, new, 1), facts_for_target=facts)


def test_two_thousand_phases_are_refused() -> None:
    phases = "".join(f"  - {{name: p{i}, duration: 1s}}\n" for i in range(2_000))
    text = GOOD[: GOOD.index("phases:")] + "phases:\n" + phases + GOOD[GOOD.index("faults:") :]
    assert "phases: list should have at most 200 items" in error_of(text)
