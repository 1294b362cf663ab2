"""secret_leak: every value of every declared secret looked for in the run folder, the journal
and the processes' logs; a hit names the file and line (never the value); an unreadable file or
unknown values is unknown, never a pass; the engine adds it by default."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

from harness.checks import run_checks
from harness.checks.base import FAIL, PASS, UNKNOWN, RunData
from harness.checks.secret_leak import SecretLeakExpect, check
from harness.scenario_run import ScenarioRun
from tests.checks.rundata_builders import SHOP, journal

FACTS = dataclasses.replace(SHOP, secrets={"token": ("orders", "payments")})
OLD, NEW = "a1" * 32, "b2" * 32


def run_folder(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    out = tmp_path / "run"
    (out / "prom").mkdir(parents=True)
    (out / "requests.jsonl").write_text('{"t": 1}\n{"t": 2}\n')
    (out / "prom" / "up.csv").write_text("t,value\n1,1\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "orders-1.log").write_text('{"msg": "started"}\n{"msg": "ok"}\n')
    return out, {"orders-1": logs / "orders-1.log"}


def data(out: Path, logs: dict[str, Path] | None, values=None) -> RunData:
    d = RunData(journal=journal(), facts=FACTS, directory=out, log_files=logs)
    d.secret_values = {"token": [OLD, NEW]} if values is None else values
    return d


def test_a_clean_run_passes_and_says_how_much_it_scanned(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    r = check(SecretLeakExpect(), data(out, logs))
    assert r.verdict == PASS, r.evidence
    assert r.measured == "none of 2 value(s) in 4 file(s)"  # 2 in the folder, journal, 1 log


def test_a_value_in_a_log_names_the_file_and_line_never_the_value(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    with open(logs["orders-1"], "a") as fh:
        fh.write(f'{{"msg": "credential reloaded: {NEW}"}}\n')
    (out / "locust").mkdir()
    (out / "locust" / "stats.csv").write_text(f"x\ny\nAuthorization: Bearer {OLD}\n")
    r = check(SecretLeakExpect(), data(out, logs))
    assert r.verdict == FAIL
    assert f"token (value 2) in {logs['orders-1']} (orders-1's log):3" in r.evidence
    assert "token (value 1) in locust/stats.csv:3" in r.evidence
    text = " ".join([r.measured, *r.evidence])
    assert OLD not in text and NEW not in text


def test_a_value_in_the_journal_is_found(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    d = data(out, logs)
    d.journal.event("note", f"oops {OLD}")
    r = check(SecretLeakExpect(), d)
    assert r.verdict == FAIL
    assert any(e.startswith("token (value 1) in journal (in memory") for e in r.evidence)


def test_an_unreadable_file_is_unknown_naming_it(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    logs["etcd"] = tmp_path  # a directory: open() fails, even for root
    r = check(SecretLeakExpect(), data(out, logs))
    assert r.verdict == UNKNOWN
    assert any(e.startswith(f"could not read {tmp_path} (etcd's log)") for e in r.evidence)


def test_a_leak_found_beside_an_unreadable_file_still_fails(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    logs["etcd"] = tmp_path
    (out / "requests.jsonl").write_text(f"{NEW}\n")
    assert check(SecretLeakExpect(), data(out, logs)).verdict == FAIL


def test_a_missing_log_file_is_unknown_naming_it(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    logs["payments-1"] = tmp_path / "logs" / "gone.log"
    r = check(SecretLeakExpect(), data(out, logs))
    assert r.verdict == UNKNOWN
    assert any("could not read" in e and "gone.log" in e for e in r.evidence)


def test_a_dangling_symlink_in_the_run_folder_is_unknown(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    (out / "link").symlink_to(tmp_path / "nowhere")
    assert check(SecretLeakExpect(), data(out, logs)).verdict == UNKNOWN


def test_unknown_without_values_without_logs_or_without_secrets(tmp_path: Path) -> None:
    out, logs = run_folder(tmp_path)
    d = data(out, logs)
    d.secret_values = None
    assert "known only to the process" in check(SecretLeakExpect(), d).measured
    assert check(SecretLeakExpect(), data(out, None)).verdict == UNKNOWN
    assert check(SecretLeakExpect(), data(out, logs, {"token": []})).verdict == UNKNOWN
    d = data(out, logs)
    d.facts = SHOP
    assert "declares no `secrets:`" in check(SecretLeakExpect(), d).measured


def test_read_back_from_files_it_is_unknown(tmp_path: Path) -> None:
    out, _ = run_folder(tmp_path)
    loaded = RunData.load(out, facts=FACTS)
    [r] = run_checks([{"secret_leak": {}}], loaded)
    assert r.verdict == UNKNOWN


def _run(scenario: object, values: dict | None) -> ScenarioRun:
    run = ScenarioRun.__new__(ScenarioRun)
    run.scenario = scenario
    run.stack = SimpleNamespace(secret_values=lambda: values)  # type: ignore[assignment]
    return run


def test_the_engine_adds_it_unless_listed_opted_out_or_no_secrets_folder() -> None:
    s = SimpleNamespace(expect=[], secret_leak="auto")
    assert [e.type for e in _run(s, {"token": [OLD]})._expectations()] == ["secret_leak"]
    assert _run(s, None)._expectations() == []
    s.secret_leak = "none"
    assert _run(s, {"token": [OLD]})._expectations() == []
    own = SecretLeakExpect(name="mine", allow_unknown=True)
    s = SimpleNamespace(expect=[own], secret_leak="auto")
    assert _run(s, {"token": [OLD]})._expectations() == [own]


def test_the_engine_blanks_secret_values_out_of_its_event_messages(tmp_path: Path) -> None:
    run = _run(SimpleNamespace(expect=[], secret_leak="auto"), {"token": [OLD, NEW]})
    run.journal = journal()
    run.journal_path = tmp_path / "journal.json"
    run._event("error", f"revert failed: {NEW} rejected")
    assert run.journal.events[-1].message == "revert failed: *** rejected"
    assert NEW not in run.journal_path.read_text()


def test_the_dry_run_lists_the_added_check() -> None:
    from harness.dryrun import plan
    from harness.scenario import load_scenario
    from harness.settings import REPO_ROOT

    path = REPO_ROOT / "scenarios" / "secret-rotate-grace.yaml"
    s = load_scenario(path)
    assert [c["type"] for c in plan(s, FACTS)["checks"]][-1] == "secret_leak"
    assert "secret_leak" not in [c["type"] for c in plan(s, SHOP)["checks"]]
