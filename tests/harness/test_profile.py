"""The target profile: what the generic checks read, in the target's own names."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest

from harness.checks import breaker, discovery
from harness.checks.base import RunData
from harness.cli import main
from harness.errors import TopologyInvalid
from harness.facts import TopologyFacts
from harness.infra.etcd import _member
from harness.metrics import collect
from harness.profile import MAPPED, Profile, Registry
from harness.scenario import BreakerExpect, DiscoveryExpect
from harness.selftest import known_bugs, variant
from harness.targets import TargetStack, facts_of
from harness.topology import bundled_topology_path, json_schema, load_topology
from tests.checks.rundata_builders import T0, journal, requests, series

BUNDLED = load_topology(bundled_topology_path())
SERVICES = (
    "services:\n  api: {command: [x], audit: /dump}\n  db: {command: [y]}\nlinks: [api -> db]\n"
)


def _topology(tmp_path: Path, profile: str, head: str = "") -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(head + SERVICES + profile)
    return path


# ---------------------------------------------------------------------------- the bundled shop


def test_the_bundled_profile_maps_every_series_a_check_reads() -> None:
    queries = BUNDLED.profile.queries()
    assert set(MAPPED) | {"up", "sagas_in_flight"} <= set(queries)
    # the shop already speaks the canonical labels: its series are collected unchanged
    frame = pd.DataFrame([{"t": 1.0, "value": 1.0, "caller": "a", "callee": "b",
                           "callee_instance": "b-1", "to_state": "half_open"}])  # fmt: skip
    for key in ("breaker_state", "breaker_transitions"):
        assert queries[key].normalize(frame).equals(frame), key
    assert BUNDLED.profile.why_unmapped("breaker_state") is None
    assert facts_of(BUNDLED).metrics is not None and "up" in facts_of(BUNDLED).metrics


def test_selftest_reads_its_bugs_and_env_var_from_the_profile() -> None:
    bugs = known_bugs()
    assert bugs.env == "SHOP_BUGS" and bugs.scenarios["double_charge"] == ["blackhole-payments"]

    class S:
        name, target_env, source, line = "s", {"A": "1"}, None, None

        def model_copy(self, update):
            out = S()
            out.__dict__.update(update)
            return out

    v = variant(S(), "double_charge", "MY_BUGS")
    assert v.target_env == {"A": "1", "MY_BUGS": "double_charge"}


def test_the_topology_schema_includes_the_profile() -> None:
    schema = json_schema()
    assert "profile" in schema["properties"]
    assert "BreakerState" in schema["$defs"] and "Registry" in schema["$defs"]
    assert main(["validate", "target_system/topology.yaml"]) == 0


# ---------------------------------------------------------------------------- another system


def _other_profile() -> Profile:
    return Profile.model_validate({
        "breaker": {
            "caller": "src", "callee": "dst", "callee_instance": "dst_node",
            "state": {"query": "cb_state", "open": 2, "half_open": 1},
            "transitions": {"query": "cb_changes_total", "to_state": "state", "open": "OPEN",
                            "half_open": "HALF", "closed": "CLOSED"},
        },
        "calls": {"query": "rpc_total", "caller": "src", "callee": "dst",
                  "callee_instance": "dst_node", "outcome": "result", "ok": "success",
                  "rejected": "short_circuited"},
    })  # fmt: skip


def test_a_profile_naming_other_series_feeds_the_breaker_check() -> None:
    """The system's own names and values, collected into the canonical ones: the same check."""
    queries = _other_profile().queries()
    assert queries["breaker_transitions"].promql == "cb_changes_total"
    own = {"src": "orders", "dst": "payments", "dst_node": "payments-1"}

    def counter(at: float, state: str) -> pd.DataFrame:
        return series([(t, 1) for t in range(int(at), 29)], state=state, **own)

    raw_transitions = pd.concat(
        [counter(7, "OPEN"), counter(17, "HALF"), counter(18, "CLOSED")], ignore_index=True
    )
    raw_state = series([(t, 2 if 7 <= t < 17 else 1 if t == 17 else 0) for t in range(-2, 29)],
                       **own)  # fmt: skip
    raw_calls = series([(t, 10.0 * (t + 3)) for t in range(-2, 29)], result="success", **own)
    prom = {
        "breaker_transitions": queries["breaker_transitions"].normalize(raw_transitions),
        "breaker_state": queries["breaker_state"].normalize(raw_state),
        "outbound_requests": queries["outbound_requests"].normalize(raw_calls),
    }
    assert set(prom["breaker_transitions"]["to_state"]) == {"open", "half_open", "closed"}
    gauge = prom["breaker_state"].set_index("t")["value"]
    # the system's 2 means open, its 1 half-open: canonical 1 and 2
    assert (gauge[T0 + 7], gauge[T0 + 17], gauge[T0 + 18]) == (1.0, 2.0, 0.0)
    assert set(prom["outbound_requests"]["outcome"]) == {"ok"}
    d = RunData(journal=journal([{"kind": "latency", "target": "orders->payments", "at": 5,
                                  "end": 15}]), prom=prom)  # fmt: skip
    result = breaker.check(BreakerExpect(link="orders->payments", opens_within=5,
                                         closes_within=5), d)  # fmt: skip
    assert result.verdict == "pass", result.evidence
    assert "breaker orders->payments-1 opened 2.0 s after the latency fault" in result.evidence[0]


def test_collect_saves_the_canonical_names(tmp_path: Path) -> None:
    class Prom:
        def range(self, query: str, start: float, end: float) -> pd.DataFrame:
            assert query == "rpc_total"
            return series([(0, 1.0)], src="a", dst="b", dst_node="b-1", result="short_circuited")

    missing: list[tuple[str, str]] = []
    out = collect(Prom(), {"outbound_requests": _other_profile().queries()["outbound_requests"]},
                  0, 1, tmp_path, lambda what, why: missing.append((what, why)))  # fmt: skip
    saved = pd.read_csv(tmp_path / "outbound_requests.csv")
    assert {"caller", "callee", "callee_instance", "outcome"} <= set(saved.columns)
    assert saved["outcome"].tolist() == ["breaker_open"] and not missing
    assert out["outbound_requests"]["caller"].tolist() == ["a"]


def test_a_missing_mapping_makes_the_check_unknown_naming_it() -> None:
    profile = Profile()
    why = profile.why_unmapped("breaker_transitions")
    assert why == "not mapped: the target profile sets no breaker.transitions"
    missing = {f"prom/{k}.csv": profile.why_unmapped(k) for k in MAPPED}
    d = RunData(journal=journal([{"kind": "latency", "target": "orders->payments", "at": 5,
                                  "end": 15}]), missing=missing)  # fmt: skip
    result = breaker.check(BreakerExpect(link="orders->payments"), d)
    assert result.verdict == "unknown"
    assert result.evidence == [
        "no breaker series (prom/breaker_transitions.csv: not mapped: the target profile sets "
        "no breaker.transitions)"
    ]


def test_a_mapped_series_prometheus_never_returned_is_unknown_naming_the_query() -> None:
    never = {"prom/breaker_transitions.csv": "no samples for 'cb_changes_total'"}
    d = RunData(journal=journal([{"kind": "latency", "target": "orders->payments", "at": 5,
                                  "end": 15}]), missing=never)  # fmt: skip
    result = breaker.check(BreakerExpect(link="orders->payments"), d)
    assert result.verdict == "unknown"
    assert "no samples for 'cb_changes_total'" in result.evidence[0]


def test_a_target_stack_notes_what_its_profile_does_not_map(tmp_path: Path) -> None:
    stack = TargetStack.__new__(TargetStack)
    stack.topology = load_topology(_topology(tmp_path, "", "registry: etcd\n"))
    notes = stack.unmapped()
    assert notes["prom/breaker_state.csv"] == (
        "not mapped: the target profile sets no breaker.state"
    )
    assert notes["prom/sagas_in_flight.csv"] == (
        "not mapped: the target profile's series has no 'sagas_in_flight'"
    )
    assert notes["registry.csv"].startswith("not polled")
    # only what the scenario's checks (and the overload check) read
    assert set(stack.unmapped({"slo"})) == {"prom/event_loop_lag.csv", "registry.csv"}
    assert stack.registry_poller() is None
    assert set(stack.series_queries()) == {"up"}


def test_in_flight_counts_what_the_profile_names(tmp_path: Path) -> None:
    profile = "profile:\n  in_flight: {audit: api, list: jobs, state: phase, terminal: [done]}\n"
    stack = TargetStack.__new__(TargetStack)
    stack.topology = load_topology(_topology(tmp_path, profile))
    asked = []

    def audit(services=None):  # only the audit the profile names is read
        asked.append(list(services))
        return {"api": {"jobs": [{"phase": "done"}, {"phase": "running"}]}}

    stack.audit = audit
    assert stack.in_flight() == 1
    assert asked == [["api"]]
    stack.audit = lambda services=None: {"api": {"other": []}}
    assert stack.in_flight() is None  # the named list is absent: unknown, not zero
    stack.topology = load_topology(_topology(tmp_path, ""))
    assert stack.in_flight() == 0  # nothing named: nothing to wait for


# ---------------------------------------------------------------------------- the registry


def _kv(key: str, value: object, lease: str = "77") -> dict:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return {"key": base64.b64encode(key.encode()).decode(),
            "value": base64.b64encode(raw).decode(), "lease": lease}  # fmt: skip


def test_registry_layouts_read_json_values_or_key_paths() -> None:
    js = Registry(prefix="/svc/", service="svc", instance="id", incarnation="boot")
    assert _member(js, _kv("/svc/a/a-1", {"svc": "a", "id": "a-1", "boot": 9})) == {
        "service": "a", "instance": "a-1", "incarnation": "9"}  # fmt: skip
    no_inc = Registry(prefix="/svc/", incarnation=None)
    got = _member(no_inc, _kv("/svc/a/a-1", {"service": "a", "instance": "a-1"}, lease="5"))
    assert got == {"service": "a", "instance": "a-1", "incarnation": "5"}
    path = Registry(prefix="/nodes/", format="path")
    assert _member(path, _kv("/nodes/db/db-2", b"10.0.0.2:5432", lease="42")) == {
        "service": "db", "instance": "db-2", "incarnation": "42"}  # fmt: skip
    assert _member(path, _kv("/nodes/stray", b"x")) is None


# ---------------------------------------------------------------------------- registry: none


def test_without_a_registry_discovery_judges_from_process_state_and_up() -> None:
    facts = TopologyFacts(services={"db": ["db-1", "db-2"]}, links=[], registry="none")
    crash = [{"kind": "crash", "target": "db-1", "at": 5, "end": 15}]  # restarted at +15

    def up(down: tuple[float, float], inst: str) -> pd.DataFrame:
        return series([(t, 0 if down[0] <= t < down[1] else 1) for t in range(-2, 29)],
                      instance=inst, job="db")  # fmt: skip

    ok = series([(t, 5.0 * (t + 3) if t < 5 or t >= 16 else 35.0) for t in range(-2, 29)],
                caller="api", callee_instance="db-1", outcome="ok")  # fmt: skip
    prom = {"up": pd.concat([up((6, 16), "db-1"), up((99, 99), "db-2")], ignore_index=True),
            "outbound_requests": ok}  # fmt: skip
    d = RunData(journal=journal(crash), prom=prom, requests=requests(), facts=facts)
    e = DiscoveryExpect(instance="db-1", leaves_within=3, returns_within=3)
    result = discovery.check(e, d)
    assert result.verdict == "unknown", result.evidence  # callers' views: not mapped here
    assert "db-1 (incarnation 0) left the scraped targets 1.0 s after the crash (limit 3.0 s)" in (
        result.evidence
    )
    assert any(x.startswith("db-1 back in the scraped targets (incarnation 1) 1.0 s after")
               for x in result.evidence)  # fmt: skip
    assert any("callers' views not measured" in x for x in result.evidence)
    # returns alone needs no view: it passes from process state and up
    alone = discovery.check(DiscoveryExpect(instance="db-1", returns_within=3), d)
    assert alone.verdict == "pass", alone.evidence
    # never back: a failure, not a silent pass
    d.prom["up"] = pd.concat([up((6, 99), "db-1"), up((99, 99), "db-2")], ignore_index=True)
    late = discovery.check(DiscoveryExpect(instance="db-1", returns_within=3), d)
    assert late.verdict == "fail"
    assert (
        "db-1 never back in the scraped targets after its restart at +15.0 s" in (late.evidence[0])
    )


def test_without_a_registry_and_without_up_discovery_is_unknown() -> None:
    facts = TopologyFacts(services={"db": ["db-1"]}, links=[], registry="none")
    d = RunData(journal=journal([{"kind": "crash", "target": "db-1", "at": 5, "end": 15}]),
                requests=requests(), facts=facts)  # fmt: skip
    result = discovery.check(DiscoveryExpect(instance="db-1", leaves_within=3), d)
    assert result.verdict == "unknown"
    assert result.evidence == [
        "no registry, and scrape health not measured (prom/up.csv: no samples)"
    ]


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (
            "profile:\n  breaker: {state: {query: x}}\n",
            "t.yaml:7: profile.breaker.state.open: missing required field",
        ),
        ("profile:\n  breaker: {caller: 'not a label'}\n", "t.yaml:7: profile.breaker.caller: "),
        (
            "profile:\n  calls: {query: x, colour: red}\n",
            "t.yaml:7: profile.calls.colour: unknown field",
        ),
        (
            "profile:\n  series: {breaker_state: x}\n",
            "t.yaml:7: profile.series.breaker_state: key 'breaker_state' is set by "
            "profile.breaker.state",
        ),
        (
            "profile:\n  in_flight: {audit: db, list: jobs, terminal: [done]}\n",
            "t.yaml:7: profile.in_flight.audit: service 'db' has no `audit:` endpoint",
        ),
        (
            "profile:\n  in_flight: {audit: web, list: jobs, terminal: [done]}\n",
            "t.yaml:7: profile.in_flight.audit: unknown service 'web'; known: api, db",
        ),
        (
            "profile:\n  registry: {prefix: /x/}\n",
            "t.yaml:7: profile.registry: a registry layout needs `registry: etcd`",
        ),
        (
            "profile:\n  compose: {env: {HOST: '{hostname}'}}\n",
            "t.yaml:7: profile.compose.env.HOST: unknown template variable {hostname}",
        ),
        (
            "profile:\n  metrics: [cb_state]\n  breaker: {state: {query: 'max(cb_stat)', "
            "open: 1}}\n",
            "t.yaml:8: profile.breaker.state.query: unknown metric 'cb_stat' (did you mean "
            "'cb_state'?); not in profile.metrics",
        ),
        (
            "profile:\n  breaker: {transitions: {query: x, open: o, half_open: o}}\n",
            "t.yaml:7: profile.breaker.transitions: open and half_open are both 'o'; they must "
            "differ",
        ),
        (
            "profile:\n  calls: {query: x, caller: a, callee: a}\n",
            "t.yaml:7: profile.calls: caller and callee are both 'a'; they must differ",
        ),
        (
            "steady_state: {max_error_rate: 0.01, registered: false}\n",
            "t.yaml:6: steady_state.breakers_closed: needs profile.breaker.state",
        ),
    ],
)
def test_bad_profile_names_file_line_and_field(tmp_path, profile, message):
    path = _topology(tmp_path, profile, "registry: none\n")
    with pytest.raises(TopologyInvalid) as err:
        load_topology(path)
    assert message in str(err.value).replace(str(tmp_path) + "/", ""), str(err.value)


def test_validate_refuses_a_bad_profile_with_exit_2(tmp_path, capsys):
    path = _topology(tmp_path, "profile:\n  event_loop_lag: ''\n", "registry: none\n")
    assert main(["validate", str(path)]) == 2
    assert "t.yaml:7: profile.event_loop_lag" in capsys.readouterr().err


def test_steady_without_a_registry_wants_every_running_instance_scraped() -> None:
    from harness.checks.steady import WINDOW, SteadyExpect
    from harness.checks.steady import check as steady_check

    facts = TopologyFacts(services={"db": ["db-1", "db-2"]}, links=[], registry="none")
    up = pd.concat([series([(t, 1) for t in range(-2, 10)], instance="db-1"),
                    series([(t, 1 if t < 6 else 0) for t in range(-2, 10)], instance="db-2")],
                   ignore_index=True)  # fmt: skip
    missing = {"prom/discovery_seen.csv": Profile().why_unmapped("discovery_seen")}
    d = RunData(journal=journal(), prom={"up": up}, requests=requests(), facts=facts,
                missing=missing)  # fmt: skip
    d.windows[WINDOW] = (T0, T0 + 5)
    e = SteadyExpect(breakers_closed=False)
    ok = steady_check(e, d)
    assert ok.verdict == "pass", ok.evidence
    assert "2/2 instances scraped" in ok.measured
    d.windows[WINDOW] = (T0 + 2, T0 + 8)
    bad = steady_check(e, d)
    assert bad.verdict == "fail"
    assert "not scraped (up) at +8.0 s: db-2" in bad.evidence


def test_steady_without_a_registry_skips_services_with_no_metrics_endpoint() -> None:
    """A node scraped through an exporter beside it has no `up` of its own: not wanted."""
    from harness.checks.steady import WINDOW, SteadyExpect
    from harness.checks.steady import check as steady_check

    up = series([(t, 1) for t in range(-2, 10)], instance="exporter-1")
    missing = {"prom/discovery_seen.csv": Profile().why_unmapped("discovery_seen")}
    for unscraped, verdict in ((frozenset({"db"}), "pass"), (frozenset(), "fail")):
        facts = TopologyFacts(
            services={"db": ["db-1"], "exporter": ["exporter-1"]},
            links=[],
            registry="none",
            unscraped=unscraped,
        )
        d = RunData(journal=journal(), prom={"up": up}, requests=requests(), facts=facts,
                    missing=missing)  # fmt: skip
        d.windows[WINDOW] = (T0, T0 + 5)
        result = steady_check(SteadyExpect(breakers_closed=False), d)
        assert result.verdict == verdict, result.evidence
        if verdict == "fail":
            assert "not scraped (up) at +5.0 s: db-1" in result.evidence


def test_facts_name_the_services_without_a_metrics_endpoint() -> None:
    t = load_topology(Path(__file__).parents[2] / "examples/redis-cluster/topology.yaml")
    assert facts_of(t).unscraped == frozenset({"redis"})
