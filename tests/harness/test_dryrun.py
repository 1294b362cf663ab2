"""``stormproof run --dry-run``: the plan the engine would execute, with nothing started."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from harness.dryrun import plan, render_text
from harness.scenario import load_scenario
from harness.targets import facts_for_scenario
from tests.checks.rundata_builders import SHOP


def _scenario(tmp_path: Path, text: str):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    return load_scenario(f)


BASE = """name: t
seed: 5
load: {users: 4, rate: 2}
phases: [{name: baseline, duration: 5s}, {name: fault, duration: 10s}, {name: after, duration: 5s}]
"""


def test_faults_have_planned_start_end_and_target(tmp_path):
    s = _scenario(
        tmp_path,
        BASE + "faults:\n"
        "  - {at: 5s, for: 10s, kind: latency, link: orders->payments, latency: 1500ms}\n"
        "  - {at: 6s, kind: crash, instance: payments-1, restart_after: 4s}\n"
        "  - {at: 7s, kind: restart, instance: shipping-1}\n"
        "  - {at: 8s, kind: pause, instance: inventory-1}\n"
        "expect:\n  - breaker: {link: orders->payments, opens_within: 2s}\n",
    )
    p = plan(s, SHOP)
    f1, f2, f3, f4 = p["faults"]
    assert (f1["target"], f1["start"], f1["end"], f1["ends"]) == (
        "orders->payments",
        5.0,
        15.0,
        "reverted",
    )
    assert f1["params"]["latency"] == 1.5
    assert (f2["target"], f2["end"], f2["ends"]) == ("payments-1", 10.0, "reverted")
    assert (f3["end"], f3["ends"]) == (7.0, "instantaneous")
    assert (f4["end"], f4["ends"]) == (20.0, "at the end of the scenario")
    assert p["phases"][1] == {"name": "fault", "start": 5.0, "end": 15.0}
    assert p["load"]["requests_per_s"] == 8.0
    (check,) = p["checks"]
    assert check["bounds"]["opens_within"] == 2.0 and "opens_within=2s" in check["text"]
    text = render_text(p)
    assert "   5.0s  inject f1 latency 1.5s on orders->payments" in text
    assert "  10.0s  restart f2 crash on payments-1" in text
    assert "  20.0s  revert f4 pause on inventory-1 (scenario end)" in text


def test_picks_and_random_schedules_resolve_the_same_way_every_time(tmp_path):
    s = _scenario(
        tmp_path,
        BASE + "faults:\n"
        "  - {at: 5s, kind: crash, pick: {service: payments}, restart_after: 3s}\n"
        "  - {at: 9s, for: 2s, kind: random, count: 2, kinds: [latency, pause],\n"
        "     window: [9s, 15s]}\n",
    )
    first, again = plan(s, SHOP), plan(s, SHOP)
    assert first == again and first["drawn_by_seed"]
    assert first["faults"][0]["target"] in ("payments-1", "payments-2")
    assert len(first["faults"]) == 3 and all(9 <= f["start"] < 15 for f in first["faults"][1:])


def test_the_target_default_steady_state_is_shown(tmp_path):
    s = load_scenario("scenarios/latency-orders-payments.yaml")
    p = plan(s, facts_for_scenario(s, s.source))
    assert [e["type"] for e in p["steady_state"]] == ["steady"]
    none = s.model_copy(update={"steady_state": "none"})
    assert plan(none, facts_for_scenario(s, s.source))["steady_state"] == []


def test_cli_dry_run_prints_text_and_json_and_starts_nothing(tmp_path, capsys):
    rep = tmp_path / "rep"
    path = "scenarios/latency-orders-payments.yaml"
    assert main(["run", "--dry-run", path, "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "latency-orders-payments  (27s, seed 7)" in out and "inject f1" in out
    assert main(["run", "--dry-run", "--json", path]) == 0
    (p,) = json.loads(capsys.readouterr().out)
    assert p["plan_version"] == 1 and p["faults"][0]["end"] == 15.0
    assert not rep.exists()


def test_json_without_dry_run_is_bad_input(capsys):
    assert main(["run", "--json", "scenarios/latency-orders-payments.yaml"]) == 2
    assert "--json goes with --dry-run" in capsys.readouterr().err


def test_the_plan_names_the_locustfile_and_host_and_a_pace_left_to_the_locustfile(tmp_path):
    (tmp_path / "users.py").write_text("")
    s = _scenario(
        tmp_path,
        BASE.replace(
            "{users: 4, rate: 2}", "{users: 4, locustfile: users.py, host: 'http://{addr:orders}'}"
        ),
    )
    p = plan(s, SHOP)
    assert p["load"]["rate_per_user"] is None and p["load"]["requests_per_s"] is None
    assert p["load"]["host"] == "http://{addr:orders}"
    assert p["load"]["locustfile"].endswith("users.py")
    text = render_text(p)
    assert "  load: 4 users (spawn 4/s) at the locustfile's own pace" in text
    assert "users.py, host http://{addr:orders}" in text
