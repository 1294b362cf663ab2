"""The HTML report and JUnit XML rendered from saved run data (hand-made here)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd

from harness.report import render_report, update_latest, write_junit

T0 = 1_800_000_000.0


def journal(name: str, verdict: str, checks: list[dict], **extra) -> dict:
    return {
        "schema": 1,
        "run_id": "r1",
        "scenario": {
            "name": name,
            "file": f"scenarios/{name}.yaml",
            "line": 1,
            "tags": ["smoke"],
            "markers": ["latency", "smoke"],
            "seed": 7,
        },
        "versions": {"stormproof": "0.1.0", "toxiproxy": "2.12.0"},
        "started_at": T0 - 5,
        "clock_start": T0,
        "ended_at": T0 + 30,
        "phases": [
            {
                "name": "baseline",
                "planned_start": T0,
                "planned_end": T0 + 5,
                "start": T0,
                "end": T0 + 5,
            },
            {
                "name": "fault",
                "planned_start": T0 + 5,
                "planned_end": T0 + 20,
                "start": T0 + 5,
                "end": T0 + 20,
            },
        ],
        "faults": [
            {
                "id": "f1",
                "kind": "latency",
                "target": "orders->payments",
                "params": {"latency": 1.5},
                "planned_at": 5,
                "planned_for": 10,
                "injected_at": T0 + 5.02,
                "reverted_at": T0 + 15.01,
                "drift_ms": 20.0,
                "error": None,
            }
        ],
        "events": [],
        "checks": checks,
        "load": {"users": 8, "rate": 2, "requests": 40, "failures": 2},
        "overload": {"max_event_loop_lag_s": 0.01, "inconclusive": False},
        "verdict": verdict,
        "missing": [],
        **extra,
    }


def scenario_dir(run: Path, j: dict, data: bool = True) -> None:
    d = run / j["scenario"]["name"]
    (d / "prom").mkdir(parents=True)
    (d / "journal.json").write_text(json.dumps(j))
    if not data:
        return
    with open(d / "requests.jsonl", "w") as f:
        f.write(json.dumps({"event": "spawned", "t": T0}) + "\n")
        for i in range(40):
            f.write(
                json.dumps(
                    {
                        "t": T0 + i * 0.5,
                        "ms": 20 + i,
                        "name": "POST /orders",
                        "ok": i % 20 != 7,
                        "status": 201,
                    }
                )
                + "\n"
            )
    rows = [
        {
            "t": T0 + s,
            "value": 1.0 if 7 <= s < 15 else 0.0,
            "caller": "orders",
            "callee": "payments",
            "callee_instance": "payments-1",
        }
        for s in range(25)
    ]
    pd.DataFrame(rows).to_csv(d / "prom" / "breaker_state.csv", index=False)
    pd.DataFrame([{"t": T0 + s, "value": 0.0} for s in range(25)]).to_csv(
        d / "prom" / "sagas_in_flight.csv", index=False
    )
    pd.DataFrame(
        [
            {"t": T0 + s, "service": "payments", "instance": f"payments-{k}", "incarnation": "x"}
            for s in range(25)
            for k in (1, 2)
        ]
    ).to_csv(d / "registry.csv", index=False)


PASS = {
    "name": "saga consistency",
    "kind": "saga",
    "verdict": "pass",
    "expected": "all terminal",
    "measured": "40 sagas",
    "evidence": [],
}
FAIL = {
    "name": "breaker orders->payments",
    "kind": "breaker",
    "verdict": "fail",
    "expected": "opens within 5 s",
    "measured": "never opened",
    "violation_at": T0 + 10,
    "evidence": ["breaker orders->payments-1 never opened after the latency fault (limit 5 s)"],
}


def make_run(tmp_path: Path) -> Path:
    run = tmp_path / "r1"
    scenario_dir(run, journal("good", "pass", [PASS]))
    scenario_dir(run, journal("bad", "fail", [PASS, FAIL]))
    scenario_dir(
        run,
        journal(
            "stopped",
            "aborted",
            [],
            events=[
                {
                    "t": T0 + 9,
                    "kind": "abort",
                    "message": "client error rate 95% stayed above 90% for 5 s",
                }
            ],
        ),
    )
    scenario_dir(
        run,
        journal("partial", "error", [], missing=["prom/breaker_state.csv: Prometheus unreachable"]),
        data=False,
    )
    (run / "run.json").write_text(
        json.dumps({"run_id": "r1", "scenarios": ["good", "bad", "stopped", "partial"]})
    )
    return run


def test_report_has_verdicts_evidence_and_a_figure_per_timeline(tmp_path):
    run = make_run(tmp_path)
    html = render_report(run).read_text()
    for verdict in ("PASS", "FAIL", "ABORTED", "ERROR"):
        assert verdict in html
    assert "breaker orders-&gt;payments-1 never opened after the latency fault (limit 5 s)" in html
    assert "client error rate 95% stayed above 90% for 5 s" in html
    assert "prom/breaker_state.csv: Prometheus unreachable" in html
    assert "requests.jsonl missing or empty" in html  # the partial run says what is missing
    good = html.split('id="good"')[1].split('id="bad"')[0]
    assert good.count("<img ") == 5  # throughput, latency, breakers, registry, sagas
    assert 'href="good/journal.json"' in good
    # failed checks come first in a scenario's table
    bad = html.split('id="bad"')[1]
    assert bad.index("breaker orders-&gt;payments") < bad.index("saga consistency")


def test_junit_has_one_case_per_scenario_with_failures_and_errors(tmp_path):
    run = make_run(tmp_path)
    suite = ET.parse(write_junit(run)).getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("errors") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert "never opened" in cases["bad"].find("failure").text
    assert cases["good"].find("failure") is None
    assert cases["stopped"].find("error") is not None


def test_latest_points_at_the_newest_run(tmp_path):
    run = make_run(tmp_path)
    update_latest(tmp_path, run)
    assert (tmp_path / "latest").resolve() == run.resolve()
