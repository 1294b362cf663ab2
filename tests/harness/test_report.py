"""The HTML report and JUnit XML, rendered from small hand-made run data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from harness.report import render_report, update_latest, write_junit
from harness.report.data import read_journal
from harness.report.figures import Timeline

T0 = 1_800_000_000.0
EVIDENCE = "breaker orders->payments-1 never opened after the latency fault (limit 5 s)"
ABORT_MESSAGE = "client error rate 95% stayed above 90% for 5 s"


def journal(name: str, verdict: str | None, checks: list[dict], **extra) -> dict:
    j = {
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
        "versions": {
            "stormproof": "0.1.0",
            "toxiproxy": "2.12.0",
            "prometheus": "2.42.0",
            "etcd": "3.4.23",
            "locust": "2.47.0",
            "python": "3.11.7",
        },
        "target": {"name": "bundled", "topology": "target_system/topology.yaml", "env": {}},
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
                "planned_end": T0 + 25,
                "start": T0 + 5,
                "end": T0 + 25.1,
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
            },
        ],
        "events": [{"t": T0, "kind": "load", "message": "all 8 users spawned; clock started"}],
        "checks": checks,
        "load": {"users": 8, "rate": 2, "requests": 40, "failures": 2},
        "overload": {"max_event_loop_lag_s": 0.01, "inconclusive": False},
        "verdict": verdict,
        "missing": [],
    }
    j.update(extra)
    return j


def write_data(d: Path) -> None:
    """Requests, breaker states, registry polls and saga series for 25 s of scenario clock."""
    (d / "prom").mkdir(parents=True, exist_ok=True)
    with open(d / "requests.jsonl", "w") as f:
        f.write(json.dumps({"event": "spawned", "t": T0, "users": 8}) + "\n")
        for i in range(50):
            rec = {
                "t": T0 + i * 0.5,
                "ms": 20 + i,
                "name": "POST /orders",
                "ok": i % 20 != 7,
                "status": 201,
                "error": None,
                "state": "COMPLETED",
            }
            f.write(json.dumps(rec) + "\n")
    rows = [
        {
            "t": T0 + s,
            "value": (1.0 if 7 <= s < 12 else 2.0 if s == 12 else 0.0) if k == 1 else 0.0,
            "callee": "payments",
            "callee_instance": f"payments-{k}",
            "caller": "orders",
            "instance": "orders-1",
            "service": "orders",
        }
        for s in range(25)
        for k in (1, 2)
    ]
    pd.DataFrame(rows).to_csv(d / "prom" / "breaker_state.csv", index=False)
    pd.DataFrame(
        [{"t": T0 + s, "value": float(s % 3), "instance": "orders-1"} for s in range(25)]
    ).to_csv(d / "prom" / "sagas_in_flight.csv", index=False)
    # a counter with a reset at 10 s (the orders instance restarted)
    total = [
        {
            "t": T0 + s,
            "value": float(2 * s if s < 10 else s - 10),
            "outcome": o,
            "instance": "orders-1",
        }
        for s in range(25)
        for o in ("completed", "cancelled")
    ]
    pd.DataFrame(total).to_csv(d / "prom" / "sagas_total.csv", index=False)
    pd.DataFrame(
        [
            {"t": T0 + s, "service": "payments", "instance": f"payments-{k}", "incarnation": "x"}
            for s in range(25)
            for k in (1, 2)
            if not (k == 1 and 8 <= s < 14)
        ]
    ).to_csv(d / "registry.csv", index=False)
    (d / "audit_before.json").write_text("{}")
    (d / "locust").mkdir()
    (d / "locust" / "report.html").write_text("<html></html>")


def scenario(run: Path, j: dict, data: bool = True) -> Path:
    d = run / j["scenario"]["name"]
    d.mkdir(parents=True)
    (d / "journal.json").write_text(json.dumps(j))
    if data:
        write_data(d)
    return d


PASS = {
    "name": "saga consistency",
    "kind": "saga",
    "verdict": "pass",
    "expected": "all terminal",
    "measured": "40 sagas",
    "evidence": [],
    "violation_at": None,
    "details": {},
    "allow_unknown": False,
}
FAIL = {
    "name": "breaker orders->payments",
    "kind": "breaker",
    "verdict": "fail",
    "expected": "opens within 5 s",
    "measured": "never opened",
    "violation_at": T0 + 10,
    "evidence": [EVIDENCE],
    "details": {"links": ["orders->payments-1"]},
    "allow_unknown": False,
}
UNKNOWN_ALLOWED = {
    "name": "discovery payments-1",
    "kind": "discovery",
    "verdict": "unknown",
    "expected": "leaves within 9 s",
    "measured": "no registry data",
    "evidence": [],
    "allow_unknown": True,
}


def make_run(tmp_path: Path) -> Path:
    """Four scenarios: passing, failing, aborted and partially collected."""
    run = tmp_path / "r1"
    scenario(run, journal("good", "pass", [PASS, UNKNOWN_ALLOWED]))
    scenario(run, journal("bad", "fail", [PASS, FAIL]))
    scenario(
        run,
        journal(
            "stopped",
            "aborted",
            [],
            events=[{"t": T0 + 9, "kind": "abort", "message": ABORT_MESSAGE}],
        ),
    )
    partial = journal(
        "partial",
        None,
        [],
        clock_start=None,
        ended_at=None,
        missing=["prom/breaker_state.csv: Prometheus unreachable"],
    )
    partial["faults"][0].update(reverted_at=None)
    partial["faults"].append(
        {
            "id": "f2",
            "kind": "crash",
            "target": "payments-1",
            "planned_at": 20,
            "injected_at": None,
            "reverted_at": None,
        }
    )
    partial["phases"][1].update(start=None, end=None)
    scenario(run, partial, data=False)
    (run / "run.json").write_text(
        json.dumps(
            {
                "run_id": "r1",
                "started_at": T0 - 10,
                "ended_at": T0 + 200,
                "scenarios": ["good", "bad", "stopped", "partial"],
            }
        )
    )
    return run


def section(html: str, name: str) -> str:
    return html.split(f'id="s-{name}"')[1].split("</section>")[0]


@pytest.fixture(scope="module")
def html_of_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    # rendered once: the tests below only read the page (and write junit.xml beside it)
    run = make_run(tmp_path_factory.mktemp("report"))
    return run, render_report(run).read_text()


def test_summary_lists_every_scenario_with_its_verdict(html_of_run):
    _, html = html_of_run
    summary = html.split("<h2>Summary</h2>")[1].split("</table>")[0]
    for name, verdict in (
        ("good", "PASS"),
        ("bad", "FAIL"),
        ("stopped", "ABORTED"),
        ("partial", "UNFINISHED"),
    ):
        row = summary.split(f'href="#s-{name}"')[1].split("</tr>")[0]
        assert f">{verdict}<" in row
    assert "latency orders-&gt;payments" in summary
    assert "latency, smoke" in summary


def test_environment_shows_versions_and_target(html_of_run):
    _, html = html_of_run
    env = html.split("<h2>Environment</h2>")[1].split("</table>")[0]
    for v in (
        "0.1.0",
        "2.12.0",
        "2.42.0",
        "3.4.23",
        "2.47.0",
        "3.11.7",
        "bundled",
        "target_system/topology.yaml",
    ):
        assert v in env


def test_passing_scenario_has_one_figure_per_timeline_and_links(html_of_run):
    _, html = html_of_run
    good = section(html, "good")
    assert good.count('<svg class="tl"') == 5  # throughput, latency, breakers, registry, sagas
    assert "f1 latency orders-&gt;payments" in good  # the fault's label beside the figures
    assert "+5.0 s → +15.0 s" in good
    for link in (
        "good/journal.json",
        "good/requests.jsonl",
        "good/registry.csv",
        "good/audit_before.json",
        "good/prom/breaker_state.csv",
        "good/prom/sagas_total.csv",
        "good/locust/report.html",
    ):
        assert f'href="{link}"' in good
    assert "Locust&#39;s HTML report" in good
    # an allowed unknown is shown as such and does not count as failed
    assert "allowed" in good
    summary_row = html.split('href="#s-good"')[1].split("</tr>")[0]
    assert re.findall(r'class="num">(\d+)<', summary_row) == ["1", "0"]  # passed, failed


def test_failing_scenario_shows_failed_checks_first_with_evidence_and_violation(html_of_run):
    _, html = html_of_run
    bad = section(html, "bad")
    assert bad.index("breaker orders-&gt;payments") < bad.index("saga consistency")
    assert EVIDENCE.replace(">", "&gt;") in bad
    assert "violation at +10.00 s" in bad
    assert "red dashed line" in bad
    assert "orders-&gt;payments-1" in bad  # details folded under the evidence


def test_aborted_scenario_shows_the_abort_event(html_of_run):
    _, html = html_of_run
    stopped = section(html, "stopped")
    assert ABORT_MESSAGE in stopped
    assert "+9.00 s" in stopped
    assert "No checks ran." in stopped


def test_partial_scenario_describes_what_is_missing(html_of_run):
    _, html = html_of_run
    partial = section(html, "partial")
    assert "prom/breaker_state.csv: Prometheus unreachable" in partial
    assert "requests.jsonl is missing or has no requests" in partial
    assert "registry.csv is missing or empty" in partial
    assert "clock never started" in partial
    assert "never injected" in partial  # f2
    assert "not reverted" in partial  # f1 with reverted_at null
    assert "<svg" not in partial


def test_junit_has_one_testcase_per_scenario(html_of_run):
    run, _ = html_of_run
    root = ET.parse(write_junit(run)).getroot()
    suite = root.find("testsuite")
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "1" and suite.get("errors") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"good", "bad", "stopped", "partial"}
    assert cases["good"].get("classname") == "stormproof.scenarios"
    assert cases["good"].get("file") == "scenarios/good.yaml"
    assert cases["good"].get("time") == "35.000"
    assert len(cases["good"]) == 0
    failure = cases["bad"].find("failure")
    assert EVIDENCE in failure.get("message") and EVIDENCE in failure.text
    assert "saga consistency" not in failure.get("message")
    assert ABORT_MESSAGE in cases["stopped"].find("error").get("message")
    assert "did not finish" in cases["partial"].find("error").get("message")


def test_junit_skips_an_inconclusive_scenario_with_the_reason(tmp_path):
    run = tmp_path / "r2"
    scenario(
        run,
        journal(
            "hot",
            "inconclusive",
            [FAIL],
            overload={"max_event_loop_lag_s": 0.8, "inconclusive": True},
            events=[
                {"t": T0 + 3, "kind": "overload", "message": "orders-1 event loop lagged 0.800 s"}
            ],
        ),
        data=False,
    )
    case = ET.parse(write_junit(run)).getroot().find("testsuite/testcase")
    skipped = case.find("skipped")
    assert "overloaded" in skipped.get("message")
    assert "orders-1 event loop lagged 0.800 s" in skipped.get("message")
    assert "0.800 s" in skipped.get("message")


def test_junit_says_when_the_host_stalled_not_the_target(tmp_path):
    from harness.journal import Journal
    from harness.summary import inconclusive_reason

    run = tmp_path / "r2h"
    stalled = "the host stalled: the run is inconclusive; steady state after recovery: 4 requests"
    j = journal(
        "stalled",
        "inconclusive",
        [FAIL],
        overload={"max_event_loop_lag_s": 0.19, "inconclusive": False, "host_explains": True},
        events=[{"t": T0 + 3, "kind": "overload", "message": stalled}],
    )
    scenario(run, j, data=False)
    skipped = ET.parse(write_junit(run)).getroot().find("testsuite/testcase/skipped")
    assert skipped.get("message").startswith("inconclusive: the host stalled, not the target: ")
    assert "overloaded" not in skipped.get("message") and stalled in skipped.get("message")
    reason = inconclusive_reason(Journal.model_validate(j))
    assert reason.startswith("the host stalled, not the target; failed checks prove nothing: ")
    # the page says it beside the overload figure; a journal without host figures says nothing
    j["overload"]["host"] = {"measured": "1 host stalls; max host pressure cpu some 97%"}
    scenario(tmp_path / "r2p", j, data=False)
    page = section(render_report(tmp_path / "r2p").read_text(), "stalled")
    assert "Host: 1 host stalls; max host pressure cpu some 97%" in page
    assert "the host stalled, not the target: the failed latency checks prove nothing" in page
    j["overload"] = {"max_event_loop_lag_s": 0.01, "host": "garbled"}
    scenario(tmp_path / "r2g", j, data=False)
    assert "Host:" not in section(render_report(tmp_path / "r2g").read_text(), "stalled")


def test_run_without_run_json_finds_scenarios_and_survives_a_missing_one(tmp_path):
    run = tmp_path / "r3"
    scenario(run, journal("only", "pass", [PASS]), data=False)
    (run / "junk").mkdir()  # a stack dir or leftovers: no journal, not a scenario
    html = render_report(run).read_text()
    assert 'id="s-only"' in html and 'id="s-junk"' not in html
    (run / "run.json").write_text(json.dumps({"run_id": "r3", "scenarios": ["only", "gone"]}))
    html = render_report(run).read_text()
    assert "directory missing" in section(html, "gone")
    cases = ET.parse(write_junit(run)).getroot().findall("testsuite/testcase")
    assert len(cases) == 2 and cases[1].find("error") is not None


def test_malformed_and_empty_data_become_notes(tmp_path):
    run = tmp_path / "r4"
    d = scenario(run, journal("odd", "pass", [PASS, "not a check"]), data=False)
    (d / "requests.jsonl").write_text(
        '{"event": "spawned", "t": 1}\n{"t": "soon", "ms": 3}\n{"t": 1800000001, "ms'
    )
    (d / "prom").mkdir()
    (d / "prom" / "breaker_state.csv").write_text("t,value,caller\n1800000001,0,orders\n")
    (d / "prom" / "sagas_total.csv").write_text("")
    (d / "registry.csv").write_text("t,service,instance,incarnation\n")
    html = section(render_report(run).read_text(), "odd")
    assert "requests.jsonl is missing or has no requests" in html
    assert "prom/breaker_state.csv has no callee label" in html
    assert "registry.csv is missing or empty" in html
    assert "<svg" not in html


def test_names_from_the_data_are_escaped(tmp_path):
    run = tmp_path / "r5"
    bad = {**FAIL, "name": "<script>alert(1)</script>", "evidence": ["<b>x</b>"]}
    scenario(run, journal("esc", "fail", [bad]), data=False)
    html = render_report(run).read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;x" in html


def test_detection_matrix_is_rendered_from_selftest_json(tmp_path):
    run = make_run(tmp_path)
    (run / "selftest.json").write_text(
        json.dumps(
            {
                "bugs": ["correct", "no-tombstone"],
                "scenarios": ["good", "bad"],
                "cells": [
                    {
                        "bug": "correct",
                        "scenario": "good",
                        "caught": False,
                        "checks": [],
                        "evidence": "",
                        "verdict": "pass",
                    },
                    {
                        "bug": "no-tombstone",
                        "scenario": "bad",
                        "caught": True,
                        "checks": ["saga consistency"],
                        "evidence": "saga 17 charged after refund",
                    },
                    {
                        "bug": "no-tombstone",
                        "scenario": "good",
                        "caught": False,
                        "checks": [],
                        "evidence": "",
                    },
                ],
            }
        )
    )
    html = render_report(run).read_text()
    matrix = html.split('id="detection-matrix"')[1].split('id="s-good"')[0]
    assert "CAUGHT" in matrix and "MISSED" in matrix
    assert "saga 17 charged after refund" in matrix


def test_long_runs_are_binned_to_a_bounded_number_of_points(tmp_path):
    j = journal("soak", "pass", [], ended_at=T0 + 3600)
    d = scenario(tmp_path, j, data=False)
    timeline = Timeline(read_journal(d), d)
    assert timeline.bin == 5.0  # 3606 s over at most 900 points
    assert (timeline.x1 - timeline.x0) / timeline.bin <= 900


def test_latest_points_at_the_newest_run(tmp_path):
    first = make_run(tmp_path)
    update_latest(tmp_path, first)
    second = tmp_path / "r9"
    second.mkdir()
    update_latest(tmp_path, second)
    link = tmp_path / "latest"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == second.resolve()


def test_a_saga_timeline_in_the_evidence_folds_under_its_first_line(tmp_path):
    run = tmp_path / "r6"
    timeline = (
        "saga 42 (order 42, COMPENSATING): not terminal\n  +5.0 s  orders: created\n"
        "  +6.0 s  payments: <charged>"
    )
    check = {**FAIL, "name": "saga consistency", "evidence": [timeline]}
    scenario(run, journal("sagas", "fail", [check]), data=False)
    html = section(render_report(run).read_text(), "sagas")
    assert "<summary>saga 42 (order 42, COMPENSATING): not terminal</summary>" in html
    # the page's indentation is trimmed, never the indentation inside a <pre>
    assert "<pre>  +5.0 s  orders: created\n  +6.0 s  payments: &lt;charged&gt;</pre>" in html
    # a check's details: JSON with its quotes as they are, markup escaped
    assert '<pre>{\n "links": [\n  "orders-&gt;payments-1"\n ]\n}</pre>' in html
    failure = ET.parse(write_junit(run)).getroot().find("testsuite/testcase/failure")
    assert "+5.0 s" not in failure.get("message") and "+5.0 s" in failure.text


def test_a_not_steady_scenario_has_its_own_line_in_the_page_and_junit(tmp_path):
    run = tmp_path / "r4"
    scenario(
        run,
        journal(
            "broken-before",
            "not-steady",
            [FAIL],
            events=[{"t": T0 + 5, "kind": "not-steady", "message": "not steady before the faults"}],
        ),
        data=False,
    )
    (run / "run.json").write_text(
        json.dumps(
            {
                "run_id": "r4",
                "scenarios": ["broken-before"],
                "coverage": [
                    {
                        "target": "bundled",
                        "families": {"slow": "slow > timeout", "crashed": "crashed"},
                        "rows": {"orders->payments": {"slow": ["lat"], "crashed": []}},
                        "gaps": ["orders->payments crashed"],
                        "notes": [],
                    }
                ],
            }
        )
    )
    html = render_report(run).read_text()
    assert ">NOT-STEADY<" in html
    assert "Not steady before the faults:" in html
    cov = html.split("<h2>Fault coverage</h2>")[1].split("</table>")[0]
    assert "<code>orders-&gt;payments</code>" in cov and "<td>lat</td>" in cov
    assert '<td class="bad">gap</td>' in cov
    failure = ET.parse(write_junit(run)).getroot().find("testsuite/testcase/failure")
    assert failure.get("type") == "NotSteady"
    assert "not steady before the faults" in failure.get("message")


def test_recovery_figures_from_results_json_in_the_summary_and_the_scenario(tmp_path):
    from harness.recovery import write_results

    run = make_run(tmp_path)
    res = json.loads(write_results(run).read_text())
    good = res["scenarios"]["good"]["figures"]
    assert good["phases"]["baseline"]["n"] > 0
    html = render_report(run).read_text()
    table = html.split("<h2>Recovery figures</h2>")[1].split("</table>")[0]
    assert "recovery after last revert" in table and "good" in table and "1/1" in table
    assert f"baseline {good['phases']['baseline']['p99_ms']:.0f} ms" in table
    assert "<h3>Recovery figures</h3>" in section(html, "good")
    # a run folder without results.json (an older run) renders without the table
    (run / "results.json").unlink()
    assert "Recovery figures" not in render_report(run).read_text()


def test_a_flaky_scenario_has_its_own_verdict_and_spread(tmp_path):
    run = make_run(tmp_path)
    figs = {"recovery_s": 1.0, "phases": {}}
    entry = {
        "verdict": "flaky", "count": 3, "passed": 2, "figures": {**figs, "recovery_s": 2.0},
        "spread": {"recovery_s": {"n": 3, "min": 1.0, "median": 2.0, "max": 4.5}},
        "runs": [{"dir": "good", "verdict": "pass", "figures": figs}],
    }  # fmt: skip
    (run / "results.json").write_text(json.dumps({"schema_version": 1, "scenarios": {"x": entry}}))
    table = (
        render_report(run).read_text().split("<h2>Recovery figures</h2>")[1].split("</table>")[0]
    )
    assert 'class="v v-flaky">FLAKY' in table and "2/3" in table
    assert "2.00 s" in table and "1.00 s to 4.50 s" in table


def testtime_budget_sums_the_steps_of_every_scenario():
    from harness.report.render import time_budget

    def scenario(steps):
        phases = [{"name": "a", "planned_start": 0, "planned_end": 10}]
        return {"journal": {"steps": steps, "phases": phases}}

    budget = time_budget(
        [scenario({"stack": 2.0, "checks": 0.5}), scenario({"stack": 1.0}), {"journal": None}],
        {"started_at": 100.0, "ended_at": 126.0},
    )
    assert budget["phases"] == 20.0
    assert budget["steps"] == [("start or settle the stack", 3.0), ("run the checks", 0.5)]
    assert budget["outside"] == 3.5
    assert budget["wall"] == 26.0 and budget["ratio"] == pytest.approx(1.3)
    assert time_budget([scenario({})], {}) is None
