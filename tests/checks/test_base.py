from __future__ import annotations

import json
from pathlib import Path

from harness.checks.base import CheckResult, RunData
from tests.checks.rundata_builders import SHOP, T0, journal


def test_load_reads_the_collected_layout_and_records_what_is_missing(tmp_path: Path) -> None:
    j = journal([{"kind": "crash", "target": "payments-1", "at": 5, "end": 15}])
    j.add_missing("prom/breaker_state.csv", "Prometheus unreachable")
    j.write(tmp_path / "journal.json")
    lines = [
        {"event": "spawned", "t": T0, "users": 8},
        {"t": T0 + 1, "ms": 12.5, "name": "POST /orders", "ok": True, "status": 200,
         "error": None, "state": "COMPLETED"},
        {"t": T0 + 0.5, "ms": 900, "name": "POST /orders", "ok": False, "status": 0,
         "error": "timeout"},
    ]  # fmt: skip
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"t": 17000'  # cut short by a kill
    (tmp_path / "requests.jsonl").write_text(text)
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "sagas_in_flight.csv").write_text(f"t,value,instance\n{T0},2,orders-1\n")
    (tmp_path / "prom" / "discovery_seen.csv").write_text("t,value\n")
    (tmp_path / "registry.csv").write_text(f"t,service,instance,incarnation\n{T0},payments,"
                                           "payments-1,123-456\n")  # fmt: skip
    (tmp_path / "audit_after.json").write_text('{"orders": {"orders": []}}')

    d = RunData.load(tmp_path, facts=SHOP)
    assert list(d.requests["t"]) == [T0 + 0.5, T0 + 1]  # sorted, spawned line skipped
    assert list(d.requests["ok"]) == [False, True]
    assert d.requests["state"].iloc[1] == "COMPLETED"
    assert d.series("sagas_in_flight")["instance"].iloc[0] == "orders-1"
    assert d.series("discovery_seen") is None
    assert d.registry["incarnation"].iloc[0] == "123-456"
    assert d.audit_after == {"orders": {"orders": []}} and d.audit_before is None
    assert d.missing["audit_before.json"] == "not written"
    assert d.missing["prom/discovery_seen.csv"] == "empty file"
    assert d.why_missing("breaker_state") == "prom/breaker_state.csv: Prometheus unreachable"
    assert d.lease_ttl == 5.0
    (w,) = d.fault_windows()
    assert (w.kind, w.start, w.end) == ("crash", T0 + 5, T0 + 15)
    assert d.phase_window("fault") == (T0 + 5, T0 + 15)
    assert d.scenario_window() == (T0, T0 + 25)
    assert d.rel(T0 + 2.25) == "+2.2 s"


def test_load_without_anything(tmp_path: Path) -> None:
    d = RunData.load(tmp_path / "nothing")
    assert d.requests.empty
    assert {"journal.json", "requests.jsonl", "registry.csv", "prom/"} <= set(d.missing)


def test_check_result_round_trip() -> None:
    r = CheckResult("breaker orders->payments", "breaker", "unknown", allow_unknown=True,
                    evidence=["no series"], violation_at=1.5)  # fmt: skip
    assert CheckResult.from_dict(r.to_dict() | {"future": 1}) == r
    assert r.passed
