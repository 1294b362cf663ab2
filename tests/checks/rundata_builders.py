"""Small hand-made run data for the checker tests (no stack, no files)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.checks.base import RunData, requests_frame
from harness.journal import FaultRecord, Journal, ScenarioInfo
from harness.scenario import TopologyFacts

T0 = 1_700_000_000.0  # the scenario clock's start

SHOP = TopologyFacts(
    services={
        "gateway": ["gateway-1"],
        "orders": ["orders-1"],
        "inventory": ["inventory-1", "inventory-2"],
        "payments": ["payments-1", "payments-2"],
        "shipping": ["shipping-1"],
    },
    links=[
        ("gateway", "orders"),
        ("gateway", "inventory"),
        ("orders", "inventory"),
        ("orders", "payments"),
        ("orders", "shipping"),
    ],
    metrics={"shop_sagas_in_flight", "shop_breaker_state", "shop_http_requests_total"},
)


def journal(
    faults: list[dict[str, Any]] = (),  # type: ignore[assignment]
    phases: tuple[tuple[str, float], ...] = (("baseline", 5), ("fault", 10), ("recovery", 10)),
) -> Journal:
    """faults: {kind, target, at, end (offset or None)}; offsets on the scenario clock."""
    j = Journal(run_id="test", scenario=ScenarioInfo(name="t"))
    offsets, t = [], 0.0
    for name, d in phases:
        offsets.append((name, t, t + d))
        t += d
    j.plan_phases(T0, offsets)
    for p in j.phases:
        p.start, p.end = p.planned_start, p.planned_end
    j.started_at, j.ended_at = T0 - 1, T0 + t + 3
    for i, f in enumerate(faults):
        end = f.get("end")
        j.add_fault(
            FaultRecord(id=f"f{i + 1}", kind=f["kind"], target=f["target"], planned_at=f["at"])
        )
        j.fault_injected(f"f{i + 1}", T0 + f["at"])
        if end is not None:
            j.fault_reverted(f"f{i + 1}", T0 + end)
    return j


def series(points: list[tuple[float, float]], **labels: str) -> pd.DataFrame:
    """One series: (offset, value) points with constant labels."""
    return pd.DataFrame([{"t": T0 + t, "value": float(v), **labels} for t, v in points])


def frame(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def steady(value: float, start: float = -2, end: float = 28, **labels: str) -> pd.DataFrame:
    return series([(float(t), value) for t in range(int(start), int(end) + 1)], **labels)


def requests(
    start: float = 0, end: float = 25, per_s: int = 10, failing: tuple[float, float] | None = None
) -> pd.DataFrame:
    rows = []
    for k in range(int((end - start) * per_s)):
        off = start + k / per_s
        bad = failing is not None and failing[0] <= off < failing[1]
        rows.append(
            {"t": T0 + off, "ms": 900.0 if bad else 20.0 + k % 10, "name": "POST /orders",
             "ok": not bad, "status": 500 if bad else 200, "error": "boom" if bad else None}
        )  # fmt: skip
    return requests_frame(rows)


def data(j: Journal | None = None, **kw: Any) -> RunData:
    kw.setdefault("facts", SHOP)
    return RunData(journal=j or journal(), **kw)
