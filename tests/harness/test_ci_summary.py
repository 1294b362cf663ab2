"""The CI job page summary, repeat lines and the repeated scenario's JUnit testcase."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from harness.ci_summary import render, write_step_summary
from harness.cli import main
from harness.repeats import repeat_line, repeat_lines
from harness.report import write_junit

FLAKY = {
    "verdict": "flaky",
    "count": 3,
    "passed": 2,
    "verdicts": ["pass", "fail", "pass"],
    "failed_checks": [{"name": "breaker orders->payments", "verdict": "fail",
                       "evidence": "breaker orders->payments never opened | twice"}],
    "figures": {"recovery_s": 1.0, "breaker_open_s": None, "error_budget_spent": 3.25,
                "phases": {"baseline": {"p99_ms": 41.0}, "fault": {"p99_ms": 1510.0}}},
    "spread": {"recovery_s": {"n": 3, "min": 0.0, "median": 1.0, "max": 4.0},
               "breaker_open_s": {"n": 0, "min": None, "median": None, "max": None}},
}  # fmt: skip
PASSED = {"verdict": "pass", "count": 1, "passed": 1, "verdicts": ["pass"], "failed_checks": [],
          "figures": {"recovery_s": 0.0}, "spread": {}}  # fmt: skip
RESULTS = {"schema": "stormproof-results", "schema_version": 1, "run_id": "r9",
           "scenarios": {"latency": FLAKY, "crash": PASSED}}  # fmt: skip


def test_markdown_has_verdicts_failed_checks_figures_and_the_report_link():
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r",
           "GITHUB_RUN_ID": "42"}  # fmt: skip
    md = render(RESULTS, report=None, env=env)
    assert md.startswith("## Stormproof run `r9`: 1 flaky, 1 pass")
    assert "[run's artifacts](https://github.com/o/r/actions/runs/42)" in md
    assert (
        "| latency | ⚠️ flaky | 2/3 | — | — | 1.00 s | — | 3.25x | baseline 41 ms, fault 1510 ms |"
        in md
    )
    assert "| crash | ✅ pass | 1/1 |" in md
    # one line of evidence per failed check, table pipes escaped
    assert "- **latency** · breaker orders->payments (fail): breaker orders->payments never " \
        "opened \\| twice" in md  # fmt: skip
    url = render(RESULTS, env={"STORMPROOF_REPORT_URL": "https://x/report"})
    assert "[HTML report](https://x/report)" in url


def test_written_only_when_github_step_summary_is_set(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    assert write_step_summary(tmp_path, env={}) is None
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    write_step_summary(tmp_path, tmp_path / "index.html", env={"GITHUB_STEP_SUMMARY": str(target)})
    text = target.read_text()
    assert text.startswith("earlier step\n## Stormproof run `r9`")  # appended, not replaced
    assert f"`{tmp_path / 'index.html'}`" in text


def test_summary_command_prints_and_appends(tmp_path, capsys, monkeypatch):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    target = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert main(["summary", str(tmp_path)]) == 0
    assert "## Stormproof run `r9`" in capsys.readouterr().out
    assert "2/3" in target.read_text()
    assert main(["summary", str(tmp_path / "nope")]) == 2
    assert "summary: no run folder" in capsys.readouterr().err


def test_repeat_lines_name_runs_passed_and_spread(tmp_path):
    line = repeat_line("latency", FLAKY)
    assert line == "FLAKY latency: 2/3 runs passed (pass, fail, pass); recovery 0-4 s (median 1 s)"
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    assert repeat_lines(tmp_path) == [line]  # single runs get no line
    assert repeat_lines(tmp_path / "nope") == []


def test_a_flaky_scenario_is_a_junit_failure_of_its_own(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    root = ET.parse(write_junit(tmp_path)).getroot()
    (case,) = root.iter("testcase")
    assert case.get("name") == "latency (3 runs)"
    failure = case.find("failure")
    assert failure.get("type") == "Flaky"
    assert failure.get("message") == "flaky: 2 of 3 runs passed (pass, fail, pass)"
    assert root.get("failures") == "1" and root.get("tests") == "1"


def test_repeat_argument_is_checked_before_anything_starts(capsys):
    assert main(["run", "--repeat", "0", "scenarios/latency-orders-payments.yaml"]) == 2
    assert "--repeat 0" in capsys.readouterr().err
