"""The invariant check: a user's function over the audits, run in a process of its own."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.checks import invariant, run_checks
from harness.checks.base import FAIL, PASS, UNKNOWN, RunData
from harness.checks.invariant import InvariantExpect, resolve
from harness.errors import ScenarioInvalid
from harness.scenario import load_scenario
from tests.checks.rundata_builders import T0, data, journal
from tests.target_system.shop_audit import Order, audits

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "scenarios" / "latency-orders-payments.yaml"

USER = """\
import time

print("the user's module talks at import")


def holds(run):
    return []


def two(run):
    return [{"order": 7, "kept": 200}, "stock of sku-1 at -1"]


def many(run):
    return [f"violation {i}" for i in range(25)]


def echo(run):
    return [run]


def boom(run):
    return {"a": 1}["b"]


def forgot(run):
    total = 0


def a_dict(run):
    return {"ok": True}


def bad_item(run):
    return ["fine", 3]


def sleepy(run):
    time.sleep(30)


def noisy(run):
    print('{"ok": true, "violations": []}')
    return ["printed an answer-like line, still judged by the return value"]


NOT_A_FUNCTION = 3


def takes_two(run, extra):
    return []
"""

SCENARIO = """\
name: inv
load: {users: 1}
phases: [{name: a, duration: 5s}]
expect:
  - invariant: {function: "%s"}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "user_inv.py").write_text(USER, encoding="utf-8")
    return tmp_path


def judge(folder: Path, function: str, **kw) -> object:
    j = journal()
    j.scenario.file = str(folder / "s.yaml")
    kw.setdefault("audit_before", {"shop": {}})
    kw.setdefault("audit_after", {"shop": {}})
    expect = {"invariant": {"function": function, **kw.pop("params", {})}}
    (result,) = run_checks([expect], data(j, **kw))
    return result


# ---------------------------------------------------------------------------- where it lives


def test_a_file_path_or_a_module_beside_the_scenario(folder: Path) -> None:
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("def f(run):\n    return []\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.py").write_text("def f(run):\n    return []\n")
    t = resolve("user_inv.py:holds", folder)
    assert (t.root, t.module, t.file, t.base) == (
        folder,
        "user_inv",
        folder / "user_inv.py",
        folder,
    )
    t = resolve("sub/deep.py:f", folder)
    assert (t.root, t.module) == (folder / "sub", "deep")
    assert resolve("user_inv:holds", folder).file == folder / "user_inv.py"
    assert resolve("pkg:f", folder).file == folder / "pkg" / "__init__.py"
    with pytest.raises(ValueError, match=r"no module json beside the scenario: looked for"):
        resolve("json:loads", folder)  # an installed module is not the user's
    with pytest.raises(ValueError, match=r"no file .*/gone\.py"):
        resolve("gone.py:f", folder)
    (folder / "my-inv.py").write_text("")
    with pytest.raises(ValueError, match="must be a Python identifier"):
        resolve("my-inv.py:f", folder)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("gone.py:f", "no file "),
        ("user_inv.py:nope", "user_inv has no 'nope'; its callables: a_dict, bad_item, boom"),
        ("user_inv.py:NOT_A_FUNCTION", "user_inv.NOT_A_FUNCTION is not callable: it is of "
         "type int"),
        ("user_inv.py:takes_two", "cannot be called with one argument (the run): missing a "
         "required argument: 'extra'"),
        ("broken.py:f", "importing broken failed: NameError: name 'undefined_name' is not "
         "defined (at broken.py:2)"),
        ("syntax.py:f", "importing syntax failed: SyntaxError: "),
        ("json.py:f", "module name 'json' is taken by the standard library module"),
        ("user_inv.py", "expected file.py:function (a path relative to the scenario file) or "
         "module:function (a module beside it), got 'user_inv.py'"),
        ("user_inv.py:f:g", "expected file.py:function"),
        ("a b:f", "expected file.py:function"),
    ],
)  # fmt: skip
def test_loading_is_validated_before_anything_starts(folder: Path, function: str, message: str):
    (folder / "broken.py").write_text("x = 1\ny = undefined_name\n")
    (folder / "syntax.py").write_text("def f(run:\n")
    (folder / "json.py").write_text("def f(run):\n    return []\n")
    scenario = folder / "s.yaml"
    scenario.write_text(SCENARIO % function, encoding="utf-8")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(scenario)
    text = str(info.value)
    assert text.startswith(f"{scenario}:5: expect[0].invariant.function: "), text
    assert message in text


def test_a_module_that_hangs_at_import_is_refused_in_bounded_time(folder, monkeypatch) -> None:
    (folder / "hangs.py").write_text("import time\ntime.sleep(60)\ndef f(run):\n    return []\n")
    monkeypatch.setattr(invariant, "IMPORT_TIMEOUT", 1.0)
    (folder / "s.yaml").write_text(SCENARIO % "hangs.py:f", encoding="utf-8")
    with pytest.raises(ScenarioInvalid, match=r"importing hangs.f did not finish within 1s"):
        load_scenario(folder / "s.yaml")


def test_a_good_function_validates_relative_to_the_scenario_not_the_cwd(folder, monkeypatch):
    (folder / "s.yaml").write_text(SCENARIO % "user_inv.py:holds", encoding="utf-8")
    monkeypatch.chdir(REPO)
    s = load_scenario(folder / "s.yaml")
    assert isinstance(s.expect[0], InvariantExpect)
    assert s.expect[0].timeout == 60.0 and s.expect[0].label() == "invariant user_inv.py:holds"


# ---------------------------------------------------------------------------- verdicts


def test_no_violation_passes_and_what_the_module_printed_is_kept(folder: Path) -> None:
    r = judge(folder, "user_inv.py:holds")
    assert (r.verdict, r.measured, r.evidence) == (PASS, "0 violations", [])
    assert "talks at import" in r.details["output"]


def test_violations_fail_with_their_evidence(folder: Path) -> None:
    r = judge(folder, "user_inv:two")
    assert (r.verdict, r.measured) == (FAIL, "2 violations")
    assert r.evidence == ['{"kept": 200, "order": 7}', "stock of sku-1 at -1"]
    assert r.details["violations"] == [{"order": 7, "kept": 200}, "stock of sku-1 at -1"]


def test_the_first_ten_violations_are_shown_and_all_are_counted(folder: Path) -> None:
    r = judge(folder, "user_inv.py:many")
    assert r.verdict == FAIL and r.measured == "25 violations" and r.details["count"] == 25
    assert r.evidence[:2] == ["violation 0", "violation 1"] and len(r.evidence) == 11
    assert r.evidence[-1] == "... and 15 more violations"


def test_a_printed_line_is_never_taken_for_the_answer(folder: Path) -> None:
    assert judge(folder, "user_inv.py:noisy").verdict == FAIL


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("user_inv.py:boom", "the invariant raised: KeyError: 'b' (at user_inv.py:23)"),
        ("user_inv.py:forgot", "returned None, expected a list of violations ([] when the "
         "invariant holds) (did the function forget to return?)"),
        ("user_inv.py:a_dict", "returned a dict, expected a list of violations"),
        ("user_inv.py:bad_item", "violation [1] is of type int, expected a string or a dict"),
        ("gone.py:f", "no file "),
    ],
)  # fmt: skip
def test_a_function_that_cannot_judge_is_unknown_even_with_allow_unknown(folder, function, reason):
    r = judge(folder, function, params={"allow_unknown": True})
    assert r.verdict == UNKNOWN and not r.allow_unknown and not r.passed
    assert reason in r.measured and reason in r.evidence[0]
    if function.endswith("boom"):
        assert r.details["traceback"].startswith("Traceback (most recent call last)")


def test_a_function_that_hangs_is_stopped_at_its_timeout(folder: Path) -> None:
    r = judge(folder, "user_inv.py:sleepy", params={"timeout": "1s"})
    assert r.verdict == UNKNOWN and not r.passed
    assert r.measured == "unknown: running user_inv.sleepy did not finish within 1s"


def test_a_missing_audit_is_unknown_and_only_that_is_excused(folder: Path) -> None:
    missing = {"audit_after.json": "not written"}
    params = {"allow_unknown": True}
    r = judge(folder, "user_inv.py:holds", audit_after=None, missing=missing, params=params)
    assert (r.verdict, r.measured) == (UNKNOWN, "unknown: audit_after.json not written")
    assert r.allow_unknown and r.passed


def test_the_function_gets_the_documented_plain_json_run(folder: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "requests.jsonl").write_text("")
    j = journal(faults=[{"kind": "latency", "target": "orders->payments", "at": 5, "end": 15}])
    j.scenario.file = str(folder / "s.yaml")
    before, after = {"orders": {"orders": []}}, {"orders": {"orders": [{"id": 1}]}}
    d = RunData(journal=j, audit_before=before, audit_after=after, directory=run_dir,
                missing={"registry.csv": "not written"})  # fmt: skip
    (r,) = run_checks([{"invariant": {"function": "user_inv.py:echo"}}], d)
    (run,) = r.details["violations"]
    assert set(run) == {"scenario", "before", "after", "window", "phases", "faults",
                        "requests", "missing"}  # fmt: skip
    assert (run["before"], run["after"], run["scenario"]) == (before, after, "t")
    assert run["window"] == {"start": T0, "end": T0 + 25}
    assert run["phases"][1] == {"name": "fault", "start": T0 + 5, "end": T0 + 15}
    assert run["faults"] == [{"id": "f1", "kind": "latency", "target": "orders->payments",
                              "params": {}, "start": T0 + 5, "end": T0 + 15}]  # fmt: skip
    assert run["requests"] == str(run_dir / "requests.jsonl")
    assert run["missing"] == {"registry.csv": "not written"}
    json.dumps(run)


def test_the_working_directory_is_the_scenario_folder(folder: Path) -> None:
    (folder / "expected.json").write_text('["read beside the scenario"]')
    (folder / "reads.py").write_text(
        textwrap.dedent("""\
        import json
        def f(run):
            with open("expected.json") as fh:
                return json.load(fh)
    """)
    )
    assert judge(folder, "reads.py:f").evidence == ["read beside the scenario"]


# ---------------------------------------------------------------------------- the bundled use


def test_the_bundled_scenario_uses_the_bundled_invariants() -> None:
    from harness.targets import facts_for_scenario

    s = load_scenario(BUNDLED, facts_for_scenario)
    used = [e.function for e in s.expect if isinstance(e, InvariantExpect)]
    assert used == ["invariants.py:cancelled_orders_refunded", "invariants.py:stock_never_negative"]


def bundled(before: dict, after: dict, function: str) -> object:
    j = journal()
    j.scenario.file = str(BUNDLED)
    run = data(j, audit_before=before, audit_after=after)
    (r,) = run_checks([{"invariant": {"function": function}}], run)
    return r


# a charge whose answer is lost (a timeout on a slow link) took effect; the saga cancels
LOST_CHARGE = [("payments", "/charges")]
ORDERS = [Order(), Order(customer="bob"), Order(customer="broke-1")]


def test_the_bundled_invariant_catches_the_no_compensation_bug(tmp_path: Path) -> None:
    before, after = audits(tmp_path, ORDERS, bugs={"no_compensation"}, lose=LOST_CHARGE,
                           warmup=[Order()])  # fmt: skip
    r = bundled(before, after, "invariants.py:cancelled_orders_refunded")
    assert r.verdict == FAIL and r.measured == "2 violations"  # alice and bob; broke-1 had none
    kept = r.details["violations"]
    assert {v["customer"] for v in kept} == {"alice", "bob"}
    assert all(v["kept"] == 200 and v["ledger"] == ["charge 200"] for v in kept)
    assert "charge failed: timeout" in kept[0]["why cancelled"]
    assert bundled(before, after, "invariants.py:stock_never_negative").verdict == PASS


def test_the_bundled_invariant_holds_on_the_correct_shop(tmp_path: Path) -> None:
    before, after = audits(tmp_path, ORDERS, lose=LOST_CHARGE, warmup=[Order()])
    states = [o["state"] for o in after["orders"]["orders"]]
    assert states == ["COMPLETED", "CANCELLED", "CANCELLED", "CANCELLED"]
    refunds = [e for e in after["payments"]["ledger"] if e["kind"] == "refund"]
    assert len(refunds) == 2  # the lost charges were compensated
    for function in ("cancelled_orders_refunded", "stock_never_negative"):
        r = bundled(before, after, f"invariants.py:{function}")
        assert (r.verdict, r.measured) == (PASS, "0 violations"), r.evidence


def test_orders_of_earlier_scenarios_are_not_judged_again(tmp_path: Path) -> None:
    _, earlier = audits(tmp_path, ORDERS, bugs={"no_compensation"}, lose=LOST_CHARGE)
    # a later scenario on the same stack that made no order: nothing of its own to judge
    assert bundled(earlier, earlier, "invariants.py:cancelled_orders_refunded").verdict == PASS
    # with no audit before, the whole history is the run's
    assert bundled(None, earlier, "invariants.py:cancelled_orders_refunded").verdict == FAIL


def test_a_saved_run_is_judged_and_the_terminal_shows_count_and_evidence(folder, tmp_path):
    from harness.summary import check_lines

    run_dir = tmp_path / "saved"
    run_dir.mkdir()
    j = journal()
    j.scenario.file = str(folder / "s.yaml")
    j.write(run_dir / "journal.json")
    (run_dir / "audit_before.json").write_text("{}")
    (run_dir / "audit_after.json").write_text('{"shop": {"rows": 3}}')
    (run_dir / "requests.jsonl").write_text("")
    d = RunData.load(run_dir)
    assert d.directory == run_dir
    (r,) = run_checks([{"invariant": {"function": "user_inv.py:many"}}], d)
    lines = check_lines(r.to_dict())
    assert lines[:3] == [
        "    FAIL    invariant user_inv.py:many",
        "      expected: user_inv.py:many returns no violation",
        "      measured: 25 violations",
    ]
    assert lines[3] == "      - violation 0" and lines[-1] == "      - ... and 15 more violations"


GRANDCHILD = """\
import pathlib, subprocess, sys, time
def f(run):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pathlib.Path("grandchild.pid").write_text(str(child.pid))
    time.sleep(60)
"""


def _gone(pid: int, within: float = 3.0) -> bool:
    """Whether `pid` is dead (a zombie counts: nothing reaps orphans in some containers)."""
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        try:
            state = stat.read_text().rsplit(")", 1)[-1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_at_the_timeout_everything_the_function_started_is_killed(folder: Path) -> None:
    (folder / "spawns.py").write_text(GRANDCHILD)
    r = judge(folder, "spawns.py:f", params={"timeout": "2s"})
    assert r.measured == "unknown: running spawns.f did not finish within 2s"
    pid = int((folder / "grandchild.pid").read_text())
    assert _gone(pid)


def test_ctrl_c_while_the_function_runs_kills_it_and_is_raised(folder, monkeypatch) -> None:
    import subprocess

    started: list[subprocess.Popen] = []
    real_wait = subprocess.Popen.wait

    def interrupted(self, timeout=None):
        if timeout is not None:  # the check's wait: the user presses Ctrl-C
            started.append(self)
            raise KeyboardInterrupt
        return real_wait(self)

    monkeypatch.setattr(subprocess.Popen, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        judge(folder, "user_inv.py:sleepy")
    assert started and started[0].returncode is not None  # killed and reaped


def test_what_the_function_leaves_running_is_killed_when_it_returns(folder: Path) -> None:
    (folder / "leaves.py").write_text(GRANDCHILD.replace("    time.sleep(60)\n", "    return []\n"))
    assert judge(folder, "leaves.py:f").verdict == PASS
    assert _gone(int((folder / "grandchild.pid").read_text()))
