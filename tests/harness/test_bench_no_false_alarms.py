"""bench/no_false_alarms.py: the code key, a round's verdicts read back, the ledger's tally."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.harness.bench_module import load

nfa = load("no_false_alarms")


def _journal(folder: Path, name: str, verdict: str, checks: list[dict] | None = None) -> None:
    (folder / name).mkdir(parents=True)
    j = {"scenario": {"name": name}, "verdict": verdict, "checks": checks or [], "events": []}
    (folder / name / "journal.json").write_text(json.dumps(j))


def _round(key: str, verdicts: dict[str, str], exit_: int = 0, problems=()) -> dict:
    return {
        "key": key,
        "commit": "c0ffee",
        "started": "t",
        "exit": exit_,
        "verdicts": verdicts,
        "problems": list(problems),
    }


def test_a_round_folder_read_back_names_what_did_not_pass(tmp_path: Path) -> None:
    _journal(tmp_path, "a", "pass")
    failed = {"name": "steady", "verdict": "fail", "measured": "p99 494 ms"}
    _journal(tmp_path, "b", "fail", [failed, {"name": "x", "verdict": "pass"}])
    verdicts, problems = nfa.read_round(tmp_path)
    assert verdicts == {"a": "pass", "b": "fail"}
    assert problems == ["b fail: steady (fail: p99 494 ms)"]


def test_the_tally_counts_only_its_key_and_a_failed_round_spoils_it() -> None:
    rounds = [
        _round("k1", {"a": "pass", "b": "pass"}),
        _round("k1", {"a": "pass", "b": "pass"}),
        _round("k2", {"a": "pass"}),
    ]
    t = nfa.tally(rounds, "k1")
    assert (t["rounds"], t["clean"], t["runs"], t["verdicts"]) == (2, 2, 4, {"pass": 4})
    assert "8 clean rounds to go" in nfa.describe(t)[0]
    rounds.append(_round("k1", {"a": "pass", "b": "inconclusive"}, 1, ["b inconclusive: ..."]))
    t = nfa.tally(rounds, "k1")
    assert (t["rounds"], t["clean"]) == (3, 2)
    assert "a round did not pass" in nfa.describe(t)[0]
    assert nfa.describe(t)[1].strip() == "t: b inconclusive: ..."


def test_a_round_that_ran_nothing_or_exited_non_zero_is_not_clean() -> None:
    t = nfa.tally([_round("k", {}), _round("k", {"a": "pass"}, exit_=3)], "k")
    assert (t["rounds"], t["clean"]) == (2, 0)


def test_ten_clean_rounds_meet_the_goal() -> None:
    t = nfa.tally([_round("k", {"a": "pass"}) for _ in range(10)], "k")
    assert nfa.describe(t)[0].endswith("N = 10 met")


def test_the_key_follows_the_keyed_trees_and_refuses_a_dirty_checkout(tmp_path: Path) -> None:
    def git(*a: str) -> None:
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for p in ("harness", "target_system", "scenarios"):
        (tmp_path / p).mkdir()
        (tmp_path / p / "f").write_text(p)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "d").write_text("1")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    key1, _ = nfa.code_key(tmp_path)
    (tmp_path / "docs" / "d").write_text("2")  # not keyed: same key, not refused
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "docs")
    assert nfa.code_key(tmp_path)[0] == key1
    (tmp_path / "scenarios" / "f").write_text("changed")
    with pytest.raises(SystemExit) as e:
        nfa.code_key(tmp_path)
    assert e.value.code == 2
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "scenario")
    assert nfa.code_key(tmp_path)[0] != key1


def test_the_table_has_a_row_per_round_with_what_it_recorded() -> None:
    r = _round("k", {"a": "pass", "b": "fail"})
    r.update(started="2026-12-02T05:32:32Z", seconds=1073, load_before=1.62, load_after=0.43)
    r["cpu_some_avg300"] = 9.93
    old = _round("k", {"a": "pass"})
    old.update(started="2026-12-02T03:55:03Z", seconds=1072, load_before=None)
    rows = nfa.table([r, old])
    assert rows[2] == "| k | c0ffee | 2026-12-02 05:32 | 1/2 | 1073 s | 1.62 -> 0.43 | 9.93 % |"
    assert rows[3] == "| k | c0ffee | 2026-12-02 03:55 | 1/1 | 1072 s | - | - |"
