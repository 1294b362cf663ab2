"""Participants' idempotency and tombstones against real SQLite (the apps in-process)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from target_system.services import participants
from target_system.shoplib.config import ShopConfig


class Client:
    """Synchronous calls into the app in-process (httpx's ASGI transport)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def _req(self, method: str, path: str, **kw) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, path, **kw)

        return asyncio.run(go())

    def get(self, path: str) -> httpx.Response:
        return self._req("GET", path)

    def post(self, path: str, json: dict | None = None) -> httpx.Response:
        return self._req("POST", path, json=json)


def app_for(service: str, tmp_path, bugs=frozenset()) -> Client:
    cfg = ShopConfig(service=service, instance=f"{service}-1", port=1, data_dir=tmp_path, bugs=bugs)
    app = FastAPI()
    getattr(participants, service)(app, cfg)
    return Client(app)


def test_charge_is_idempotent_and_refund_nets_to_zero(tmp_path):
    pay = app_for("payments", tmp_path)
    body = {"saga_id": "s1", "customer": "c1", "amount": 300}
    assert pay.post("/charges", json=body).status_code == 200
    assert pay.post("/charges", json=body).status_code == 200  # a retry
    audit = pay.get("/audit").json()
    assert [e["kind"] for e in audit["ledger"]] == ["charge"]
    assert audit["initial_balances"]["c1"] - audit["balances"]["c1"] == 300
    pay.post("/charges/s1/refund")
    pay.post("/charges/s1/refund")
    audit = pay.get("/audit").json()
    assert [e["kind"] for e in audit["ledger"]] == ["charge", "refund"]
    assert audit["balances"]["c1"] == audit["initial_balances"]["c1"]


def test_late_charge_after_refund_is_a_no_op(tmp_path):
    pay = app_for("payments", tmp_path)
    assert pay.post("/charges/s2/refund").status_code == 200
    r = pay.post("/charges", json={"saga_id": "s2", "customer": "c1", "amount": 100})
    assert r.status_code == 409 and r.json()["result"] == "tombstone"
    assert pay.get("/audit").json()["ledger"] == []


def test_double_charge_bug_charges_a_retry_again(tmp_path):
    pay = app_for("payments", tmp_path, frozenset({"double_charge"}))
    body = {"saga_id": "s1", "customer": "c1", "amount": 100}
    pay.post("/charges", json=body)
    pay.post("/charges", json=body)
    assert [e["kind"] for e in pay.get("/audit").json()["ledger"]] == ["charge", "charge"]


def test_broke_customer_is_refused_as_a_business_answer(tmp_path):
    pay = app_for("payments", tmp_path)
    r = pay.post("/charges", json={"saga_id": "s1", "customer": "broke-1", "amount": 100})
    assert r.status_code == 402


def test_reservation_release_and_late_reserve(tmp_path):
    inv = app_for("inventory", tmp_path)
    before = inv.get("/stock/sku-1").json()["available"]
    body = {"saga_id": "s1", "sku": "sku-1", "quantity": 3}
    inv.post("/reservations", json=body)
    inv.post("/reservations", json=body)
    assert inv.get("/stock/sku-1").json()["available"] == before - 3
    inv.post("/reservations/s1/release")
    assert inv.get("/stock/sku-1").json()["available"] == before
    inv.post("/reservations/s9/release")  # compensation first: a tombstone
    r = inv.post("/reservations", json={**body, "saga_id": "s9"})
    assert r.status_code == 409
    assert inv.get("/stock/sku-1").json()["available"] == before
    assert (
        inv.post("/reservations", json={**body, "sku": "sku-empty", "saga_id": "s5"}).status_code
        == 409
    )


def test_shipment_cancel_before_create(tmp_path):
    ship = app_for("shipping", tmp_path)
    ship.post("/shipments/s1/cancel")
    assert ship.post("/shipments", json={"saga_id": "s1", "customer": "c"}).status_code == 409
    states = {s["saga_id"]: s["state"] for s in ship.get("/audit").json()["shipments"]}
    assert states == {"s1": "tombstone"}


def test_a_charge_without_the_credential_is_refused_and_counted(tmp_path):
    from target_system.shoplib import metrics as m

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "payments_token").write_text("s3cret\n")
    cfg = ShopConfig(
        service="payments", instance="payments-1", port=1, data_dir=tmp_path, secrets_dir=secrets
    )
    app = FastAPI()
    participants.payments(app, cfg)
    pay = Client(app)
    refused = m.AUTH_REJECTIONS.labels("/charges", "missing")
    before = refused._value.get()
    body = {"saga_id": "s9", "customer": "c1", "amount": 100}
    r = pay.post("/charges", json=body)
    assert r.status_code == 401 and r.json() == {"result": "unauthorized", "reason": "missing"}
    assert refused._value.get() == before + 1
    assert pay.get("/audit").json()["ledger"] == []  # never reached the route
    ok = pay._req("POST", "/charges", json=body, headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 200
