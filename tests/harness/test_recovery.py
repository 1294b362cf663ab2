"""Recovery figures from small hand-made run data, and results.json from a run folder."""

from __future__ import annotations

import json

import pytest

from harness.recovery import SCHEMA_VERSION, figures, write_results
from harness.repeats import group_runs, spread
from harness.verdict import repeat_verdict
from tests.checks.rundata_builders import data, journal, requests, series

FAULT = [{"kind": "latency", "target": "orders->payments", "at": 5, "end": 15}]
OPENS = {"caller": "orders", "callee": "payments", "callee_instance": "payments-1"}


def _transitions(open_at: float) -> dict:
    opened = series([(t, 0 if t < open_at else 1) for t in range(-2, 26)], to_state="open", **OPENS)
    return {"breaker_transitions": opened}


def test_every_figure_on_a_fault_that_breaks_requests_until_two_seconds_after_revert():
    d = data(journal(FAULT), requests=requests(failing=(5.5, 17)), prom=_transitions(7))
    f = figures(d)
    # the first failing request starts at +5.5 s and takes 900 ms: seen at +6.4 s
    assert f["first_error_s"] == pytest.approx(1.4)
    assert f["breaker_open_s"] == pytest.approx(2.0)
    assert f["recovered"] is True and f["recovery_s"] == pytest.approx(2.0)
    assert (f["requests_in_fault_window"], f["failed_in_fault_window"]) == (100, 95)
    # 1 % of 250 requests is a budget of 2.5 failures; 95 of them is 38 budgets
    assert f["error_budget_spent"] == pytest.approx(38.0)
    assert f["baseline_error_rate"] == 0.0
    assert f["phases"]["baseline"]["p99_ms"] == pytest.approx(29.0, abs=0.5)
    assert f["phases"]["fault"]["p99_ms"] == pytest.approx(900.0)
    assert f["phases"]["fault"]["error_rate"] > 0.9
    assert f["notes"] == [] and f["faults_injected"] == 1


def test_a_clean_revert_recovers_at_once_and_errors_before_the_fault_are_not_counted():
    d = data(journal(FAULT), requests=requests(failing=(1, 1.2)), prom=_transitions(100))
    f = figures(d)
    assert f["recovery_s"] == 0.0 and f["recovered"] is True
    assert f["first_error_s"] is None and f["failed_in_fault_window"] == 0
    assert f["breaker_open_s"] is None
    assert "no breaker opened after the first fault" in f["notes"]
    assert "no client-visible error after the first fault" in f["notes"]


def test_not_back_to_baseline_by_the_end():
    f = figures(data(journal(FAULT), requests=requests(failing=(5.5, 25))))
    assert f["recovered"] is False and f["recovery_s"] is None
    assert "no breaker series collected" in f["notes"]
    assert any("not back to baseline" in n for n in f["notes"])


def test_a_noisy_baseline_sets_the_bar_for_recovery():
    # 10 % of every second fails before, during and after: back to baseline at once
    rows = requests()
    rows["ok"] = [k % 10 != 0 for k in range(len(rows))]
    f = figures(data(journal(FAULT), requests=rows))
    assert f["baseline_error_rate"] == pytest.approx(0.1)
    assert f["recovery_s"] == 0.0


def test_no_fault_no_fault_figures():
    f = figures(data(journal([]), requests=requests()))
    assert f["first_error_s"] is None and f["recovery_s"] is None
    assert f["phases"]["recovery"]["n"] > 0
    assert "no fault was injected: fault figures do not apply" in f["notes"]


def test_no_requests_at_all():
    f = figures(data(journal(FAULT)))
    assert f["recovered"] is None and f["error_budget_spent"] is None
    assert f["phases"]["baseline"] == {"n": 0, "error_rate": None, "p99_ms": None}


def _save(d, name: str, j, reqs) -> None:
    out = d / name
    out.mkdir(parents=True)
    j.write(out / "journal.json")
    lines = [json.dumps({k: (None if v != v else v) for k, v in r.items()}) for r in
             reqs.astype(object).to_dict("records")]  # fmt: skip
    (out / "requests.jsonl").write_text("\n".join(lines) + "\n")


def test_results_json_is_versioned_and_lists_failed_checks_with_one_line(tmp_path):
    j = journal(FAULT)
    j.verdict = "fail"
    j.add_check({"name": "slo fault", "kind": "slo", "verdict": "fail",
                 "evidence": ["success rate 5.0% in phase fault\nmore", "second"]})  # fmt: skip
    _save(tmp_path, "a", j, requests(failing=(5.5, 17)))
    (tmp_path / "run.json").write_text(json.dumps({"scenarios": ["a"]}))
    path = write_results(tmp_path)
    res = json.loads(path.read_text())
    assert res["schema"] == "stormproof-results" and res["schema_version"] == SCHEMA_VERSION
    entry = res["scenarios"]["t"]
    assert entry["verdict"] == "fail" and entry["count"] == 1
    assert entry["failed_checks"] == [
        {"name": "slo fault", "verdict": "fail", "evidence": "success rate 5.0% in phase fault"}
    ]
    assert entry["figures"]["recovery_s"] == pytest.approx(2.0)
    assert entry["runs"][0]["dir"] == "a"


# ---------------------------------------------------------------------------- repeats


def test_repeat_verdict_flaky_when_runs_disagree():
    assert repeat_verdict(["pass", "pass"]) == "pass"
    assert repeat_verdict(["fail", "fail"]) == "fail"
    assert repeat_verdict(["pass", "fail", "pass"]) == "flaky"
    assert repeat_verdict(["pass", "aborted"]) == "flaky"
    assert repeat_verdict(["pass", "error"]) == "error"
    assert repeat_verdict(["pass", "inconclusive"]) == "pass"
    assert repeat_verdict(["inconclusive"]) == "inconclusive"
    assert repeat_verdict([]) == "error"


def test_group_runs_medians_and_spread():
    def run(verdict: str, rec: float | None) -> dict:
        phases = {"fault": {"n": 10, "p99_ms": rec, "error_rate": 0.0}}
        figs = {"recovery_s": rec, "recovered": rec is not None, "phases": phases}
        return {"name": "s", "dir": f"s-{rec}", "verdict": verdict, "failed_checks": [],
                "figures": figs}  # fmt: skip

    (entry,) = group_runs([run("pass", 1.0), run("fail", None), run("pass", 3.0)],
                          ["recovery_s"]).values()  # fmt: skip
    assert entry["verdict"] == "flaky" and (entry["passed"], entry["count"]) == (2, 3)
    assert entry["figures"]["recovery_s"] == 2.0 and entry["figures"]["recovered"] is False
    assert entry["spread"]["recovery_s"] == {"n": 2, "min": 1.0, "median": 2.0, "max": 3.0}
    assert entry["figures"]["phases"]["fault"]["p99_ms"] == 2.0
    assert spread([None, True]) == {"n": 0, "min": None, "median": None, "max": None}
