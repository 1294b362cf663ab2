from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checks.base import CheckResult
from harness.journal import FaultRecord, Journal, ScenarioInfo


def make() -> Journal:
    j = Journal(run_id="r1", scenario=ScenarioInfo(name="crash-payments", file="s.yaml", line=1))
    j.started_at = 999.0
    j.plan_phases(1000.0, [("baseline", 0, 5), ("fault", 5, 15)])
    j.add_fault(FaultRecord(id="f1", kind="crash", target="payments-1", planned_at=5.0,
                            params={"restart_after": 10.0}))  # fmt: skip
    j.fault_injected("f1", 1005.25)
    j.fault_reverted("f1", 1015.0)
    j.event("fault", "injected crash on payments-1", t=1005.25)
    j.load.users = 8
    j.add_check(CheckResult("saga consistency", "saga_consistency", "pass", measured="ok",
                            details={"ratio": float("nan")}))  # fmt: skip
    j.add_missing("prom/breaker_state.csv", "Prometheus unreachable")
    return j


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    j = make()
    path = tmp_path / "out" / "journal.json"
    j.write(path)
    raw = json.loads(path.read_text())
    assert raw["schema"] == 1 and raw["load"]["users"] == 8
    assert raw["phases"][1] == {"name": "fault", "planned_start": 1005.0, "planned_end": 1015.0,
                                "start": None, "end": None}  # fmt: skip
    assert raw["faults"][0]["drift_ms"] == 250.0
    assert raw["checks"][0]["details"] == {"ratio": None}  # NaN is not JSON
    assert raw["missing"] == ["prom/breaker_state.csv: Prometheus unreachable"]
    back = Journal.load(path)
    assert back.to_dict() == j.to_dict()
    assert back.fault("f1").reverted_at == 1015.0
    assert CheckResult.from_dict(back.checks[0]).verdict == "pass"


def test_write_is_atomic_and_rewritable(tmp_path: Path) -> None:
    j = make()
    path = tmp_path / "journal.json"
    j.write(path)
    j.verdict = "fail"
    j.write(path)
    assert Journal.load(path).verdict == "fail"
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]


def test_unknown_fields_survive(tmp_path: Path) -> None:
    raw = make().to_dict()
    raw["report"] = {"html": "index.html"}
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(raw))
    Journal.load(path).write(path)
    assert json.loads(path.read_text())["report"] == {"html": "index.html"}


def test_lookups_fail_loudly() -> None:
    with pytest.raises(KeyError, match="no fault 'f9'"):
        make().fault("f9")
    with pytest.raises(KeyError, match="no phase 'soak'"):
        make().phase("soak")


def test_step_times_add_up_even_when_the_step_raises() -> None:
    j = Journal(run_id="r", scenario=ScenarioInfo(name="s"))
    with j.step("audit"):
        pass
    with pytest.raises(RuntimeError), j.step("audit"):
        raise RuntimeError("boom")
    assert set(j.steps) == {"audit"} and 0 <= j.steps["audit"] < 1
    assert Journal.model_validate(j.to_dict()).steps == j.steps
