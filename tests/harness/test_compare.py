"""``stormproof compare``: thresholds, nulls, scenario sets and bad run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.compare import (
    DEFAULTS,
    compare,
    judge,
    load_results,
    parse_thresholds,
    render_html,
    render_markdown,
)
from harness.errors import InputInvalid


def entry(verdict: str = "pass", **figures) -> dict:
    base = {
        "first_error_s": 1.0,
        "breaker_open_s": 1.5,
        "recovery_s": 0.0,
        "recovered": True,
        "failed_in_fault_window": 10,
        "error_budget_spent": 2.0,
        "phases": {"baseline": {"p99_ms": 40.0}, "fault": {"p99_ms": 900.0}},
    }
    return {"verdict": verdict, "figures": {**base, **figures}}


def results(run_id: str, **scenarios) -> dict:
    return {"schema": "stormproof-results", "schema_version": 1, "run_id": run_id,
            "scenarios": scenarios}  # fmt: skip


def write(d: Path, data: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "results.json").write_text(json.dumps(data))
    return d


def test_a_figure_regresses_only_beyond_both_the_absolute_and_the_relative_limit():
    t = DEFAULTS["recovery_s"]  # 2 s or 50 %
    assert judge(1.0, 2.9, t) == (pytest.approx(1.9), "ok")
    assert judge(1.0, 3.5, t)[1] == "regression"
    assert judge(10.0, 14.0, t)[1] == "ok"  # 4 s is within 50 % of 10 s
    assert judge(10.0, 16.0, t)[1] == "regression"
    assert judge(10.0, 2.0, t)[1] == "improved"
    # lower is worse: the first error came sooner
    assert judge(3.0, 0.5, DEFAULTS["first_error_s"])[1] == "regression"
    # nulls: never opened is the worst, no client error the best, unmeasured is not judged
    assert judge(1.0, None, DEFAULTS["breaker_open_s"])[1] == "regression"
    assert judge(None, 1.0, DEFAULTS["first_error_s"])[1] == "regression"
    assert judge(1.0, None, DEFAULTS["first_error_s"])[1] == "improved"
    assert judge(None, 5.0, DEFAULTS["p99_ms"])[1] == "not measured"


def test_thresholds_from_the_command_line():
    t = parse_thresholds(["recovery_s=3", "p99_ms=50,25%", "error_budget_spent=10%"])
    assert (t["recovery_s"].absolute, t["recovery_s"].relative) == (3.0, 0.5)
    assert (t["p99_ms"].absolute, t["p99_ms"].relative) == (50.0, 0.25)
    assert t["error_budget_spent"].relative == pytest.approx(0.1)
    for bad in ["recovery", "nope=1", "recovery_s=fast", "recovery_s=-1"]:
        with pytest.raises(InputInvalid, match="--max-regression"):
            parse_thresholds([bad])


def test_verdicts_figures_and_p99_per_phase_side_by_side():
    base = results("b", a=entry(), b=entry())
    head = results("h", a=entry("fail", breaker_open_s=None, phases={
        "baseline": {"p99_ms": 45.0}, "fault": {"p99_ms": 2000.0}}), b=entry())  # fmt: skip
    c = compare(base, head)
    assert c.verdicts == [("a", "pass", "fail", "regression"), ("b", "pass", "pass", "ok")]
    rows = {(r.scenario, r.figure): r for r in c.rows}
    assert rows["a", "breaker_open_s"].status == "regression"
    assert rows["a", "p99_ms[fault]"].status == "regression"
    assert rows["a", "p99_ms[baseline]"].status == "ok"
    assert all(r.status == "ok" for r in c.rows if r.scenario == "b")
    assert len(c.regressions) == 3
    md = render_markdown(c)
    assert "**3 regressions**" in md and "| a | pass | fail | REGRESSION |" in md
    assert "| a | p99 in fault | 900 ms | 2000 ms | +1100 ms | +100 ms or +50% | REGRESSION |" in md
    assert '<tr class="regression"><td>a</td><td>p99 in fault</td>' in render_html(c)


def test_a_null_recovery_is_never_recovered_only_when_the_run_says_so():
    base = results("b", a=entry())
    never = results("h", a=entry(recovery_s=None, recovered=False))
    unmeasured = results("h", a=entry(recovery_s=None, recovered=None))
    status = {r.figure: r.status for r in compare(base, never).rows}
    assert status["recovery_s"] == "regression"
    status = {r.figure: r.status for r in compare(base, unmeasured).rows}
    assert status["recovery_s"] == "not measured"


def test_different_scenario_sets_compare_the_common_ones_and_list_the_rest(tmp_path, capsys):
    b = write(tmp_path / "b", results("b", a=entry(), gone=entry()))
    h = write(tmp_path / "h", results("h", a=entry(), new=entry("fail")))
    assert main(["compare", str(b), str(h)]) == 0
    out = capsys.readouterr().out
    assert "**No regression.**" in out
    assert "Only in the base run (not compared): gone" in out
    assert "Only in the head run (not compared): new" in out


def test_cli_exit_1_on_regression_and_writes_markdown_and_html(tmp_path, capsys):
    b = write(tmp_path / "b", results("b", a=entry()))
    h = write(tmp_path / "h", results("h", a=entry(recovery_s=9.0)))
    md, page = tmp_path / "c.md", tmp_path / "c.html"
    args = ["compare", str(b), str(h), "--markdown", str(md), "--html", str(page)]
    assert main(args) == 1
    assert "recovery after last revert 0.00 s -> 9.00 s" in capsys.readouterr().out
    assert md.read_text().startswith("## Stormproof compare") and "<table>" in page.read_text()
    assert main([*args, "--max-regression", "recovery_s=10"]) == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no run folder"),
        (lambda d: d.mkdir(), "has no results.json (a run from before results schema version 1"),
        (lambda d: write(d, {"scenarios": {}}), "has results schema version None"),
        (lambda d: write(d, {**results("x"), "schema_version": 0}), "schema version 0"),
        (lambda d: (d.mkdir(), (d / "results.json").write_text("{")), "not readable JSON"),
    ],
)
def test_a_missing_or_old_run_folder_is_one_message_and_exit_2(tmp_path, capsys, setup, message):
    good = write(tmp_path / "good", results("g", a=entry()))
    bad = tmp_path / "bad"
    setup(bad)
    with pytest.raises(InputInvalid, match="compare: "):
        load_results(bad)
    assert main(["compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_no_scenario_in_common_is_bad_input(tmp_path, capsys):
    b = write(tmp_path / "b", results("b", a=entry()))
    h = write(tmp_path / "h", results("h", z=entry()))
    assert main(["compare", str(b), str(h)]) == 2
    assert "no scenario in common" in capsys.readouterr().err


def test_fault_figures_of_a_run_without_faults_are_not_judged():
    base = results("b", a=entry(faults_injected=1))
    head = results("h", a=entry("not-steady", faults_injected=0, breaker_open_s=None,
                                recovery_s=None, recovered=None))  # fmt: skip
    c = compare(base, head)
    assert c.regressions == ["a: verdict pass -> not-steady"]
    status = {r.figure: r.status for r in c.rows}
    assert status["breaker_open_s"] == "not measured"


FIXTURES = Path(__file__).parent / "fixtures" / "compare"


def test_a_correct_run_against_a_run_with_the_breaker_disabled_bug(capsys):
    """The results.json of two real runs of latency-orders-payments (saved as fixtures): the
    correct shop twice (--repeat 2), then the shop with SHOP_BUGS=breaker_disabled."""
    base, head = FIXTURES / "main", FIXTURES / "breaker-disabled"
    assert load_results(head)["scenarios"]["latency-orders-payments"]["target_env"] == {
        "SHOP_BUGS": "breaker_disabled"
    }
    assert main(["compare", str(base), str(head)]) == 1
    out = capsys.readouterr().out
    assert "- latency-orders-payments: verdict pass -> not-steady" in out
    # the same run against itself: nothing regressed
    assert main(["compare", str(base), str(base)]) == 0


def test_with_the_steady_state_off_the_bug_shows_in_the_figures(capsys):
    """The same bug, the head's copy with ``steady_state: none``: the faults run, the breaker
    never opens, and the fault phase's p99 more than doubles."""
    base, head = FIXTURES / "main", FIXTURES / "breaker-disabled-no-steady"
    assert main(["compare", str(base), str(head)]) == 1
    out = capsys.readouterr().out
    assert "- latency-orders-payments: verdict pass -> fail" in out
    assert "- latency-orders-payments: breaker open after fault 3.21 s -> —" in out
    assert "- latency-orders-payments: p99 in fault 2141 ms -> 5013 ms" in out
