"""The audit contract: docs/audit.schema.json against the audits the shop's own code serves."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness.checks import saga
from harness.checks.base import FAIL, PASS
from harness.scenario import SagaConsistencyExpect
from tests.checks.rundata_builders import data, journal, steady
from tests.target_system.shop_audit import Order, Shop, audits, request

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "audit.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)

ORDERS = [Order(), Order(sku="sku-3", quantity=2, customer="bob"), Order(customer="broke-1"),
          Order(sku="sku-empty")]  # fmt: skip
CHARGE, RESERVE = ("payments", "/charges"), ("inventory", "/reservations")
# completed, rejected, compensated and buggy sagas, all through the shop's code
VARIANTS: dict[str, dict[str, Any]] = {
    "correct": {},
    "lost charge answers": {"lose": [CHARGE]},
    "lost shipment answers": {"lose": [("shipping", "/shipments")]},
    "lost reservation answers (tombstones)": {"lose": [RESERVE]},
    "retried charges": {"repeat": [CHARGE]},
    "no_compensation": {"bugs": ["no_compensation"], "lose": [CHARGE]},
    "double_charge": {"bugs": ["double_charge"], "repeat": [CHARGE]},
    "reserve_not_idempotent": {"bugs": ["reserve_not_idempotent"], "repeat": [RESERVE]},
}


def errors(audit: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(audit)]  # fmt: skip


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_shops_audits_meet_the_contract(tmp_path: Path, variant: str) -> None:
    before, after = audits(tmp_path, ORDERS, warmup=[Order()], **VARIANTS[variant])
    assert errors(before) == [] and errors(after) == []
    assert len(after["orders"]["orders"]) == 5 and after["payments"]["ledger"]


def test_tombstones_meet_the_contract(tmp_path: Path) -> None:
    # a compensation that arrives before its step leaves a tombstone row (sku null, quantity 0)
    async def go() -> dict[str, Any]:
        shop = Shop(tmp_path)
        await request(shop.apps["inventory"], "POST", "/reservations/s9/release")
        await request(shop.apps["shipping"], "POST", "/shipments/s9/cancel")
        await request(shop.apps["payments"], "POST", "/charges/s9/refund")
        return await shop.audit()

    audit = asyncio.run(go())
    assert [r["state"] for r in audit["inventory"]["reservations"]] == ["tombstone"]
    assert audit["inventory"]["reservations"][0]["sku"] is None
    assert [s["state"] for s in audit["shipping"]["shipments"]] == ["tombstone"]
    assert errors(audit) == []


def test_what_breaks_the_contract_is_refused(tmp_path: Path) -> None:
    _, good = audits(tmp_path, ORDERS)
    cases = {
        "orders/orders/0": lambda a: a["orders"]["orders"][0].pop("saga_id"),
        "payments/ledger/0/kind": lambda a: a["payments"]["ledger"][0].update(kind="debit"),
        "inventory/stock/sku-1": lambda a: a["inventory"]["stock"].update({"sku-1": "many"}),
        "shipping/shipments/0/state": lambda a: a["shipping"]["shipments"][0].update(state="sent"),
        "": lambda a: a.pop("payments"),
    }
    for where, breaks in cases.items():
        audit = copy.deepcopy(good)
        breaks(audit)
        found = errors(audit)
        assert len(found) == 1 and found[0].startswith(f"{where}: "), (where, found)


def test_the_contract_is_what_saga_consistency_judges(tmp_path: Path) -> None:
    """Audits that meet the schema are judged: pass on the correct shop, fail on a bug."""

    def verdict(bugs: tuple[str, ...]) -> tuple[str, list[str]]:
        before, after = audits(tmp_path / "-".join(bugs or ("ok",)), ORDERS, bugs=bugs,
                               lose=[("payments", "/charges")], warmup=[Order()])  # fmt: skip
        run = data(journal(), audit_before=before, audit_after=after,
                   prom={"sagas_in_flight": steady(0.0)})  # fmt: skip
        result = saga.check(SagaConsistencyExpect(), run)
        return result.verdict, result.evidence

    ok, evidence = verdict(())
    assert ok == PASS, evidence
    bad, evidence = verdict(("no_compensation",))
    assert bad == FAIL
    assert any("cancelled but net charge 200" in e for e in evidence)
