"""inventory, payments and shipping: saga participants with idempotent steps and tombstones.

Every operation and its compensation is recorded in ``ops`` under UNIQUE(saga_id, step) in the
same transaction as its effect, so a retry or a re-drive never applies an effect twice. A
compensation that arrives first leaves a tombstone, so the late original becomes a no-op.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from target_system.db import Database
from target_system.shoplib import metrics as m
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.credentials import Verifier
from target_system.shoplib.tracing import tag_saga

log = logging.getLogger("shop.payments")

OPS = """CREATE TABLE IF NOT EXISTS ops (
  saga_id TEXT, step TEXT, result TEXT, PRIMARY KEY (saga_id, step))"""
SKUS = {f"sku-{i}": 10**9 for i in range(1, 6)} | {"sku-empty": 0}
RICH, BROKE = 10**12, 0


def _op(conn: sqlite3.Connection, saga: str, step: str) -> str | None:
    row = conn.execute("SELECT result FROM ops WHERE saga_id=? AND step=?", (saga, step)).fetchone()
    return None if row is None else row["result"]


def _record(
    conn: sqlite3.Connection, saga: str, step: str, result: str, replace: bool = False
) -> None:
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    conn.execute(f"{verb} INTO ops VALUES (?, ?, ?)", (saga, step, result))


def _answer(result: str) -> JSONResponse:
    code, _, detail = result.partition(":")
    return JSONResponse(
        {"result": code, "detail": detail},
        status_code=200 if code == "ok" else 409 if code != "insufficient_funds" else 402,
    )


# -- inventory ---------------------------------------------------------------------------------

INVENTORY = f"""{OPS};
CREATE TABLE IF NOT EXISTS stock (
  sku TEXT PRIMARY KEY, qty INTEGER NOT NULL, initial INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
  saga_id TEXT PRIMARY KEY, sku TEXT, quantity INTEGER, state TEXT, ts REAL)"""


class Reserve(BaseModel):
    saga_id: str
    sku: str
    quantity: int


def inventory(app: FastAPI, cfg: ShopConfig) -> None:
    db = Database(cfg.data_dir / "inventory.db", INVENTORY)
    reserve_again = cfg.has_bug("reserve_not_idempotent")

    def seed(conn: sqlite3.Connection) -> None:
        for sku, qty in SKUS.items():
            conn.execute("INSERT OR IGNORE INTO stock VALUES (?, ?, ?)", (sku, qty, qty))

    db._pool.submit(db._tx, seed).result()

    @app.get("/stock/{sku}")
    async def stock(sku: str) -> Any:
        row = await db.read(
            lambda c: c.execute("SELECT qty FROM stock WHERE sku=?", (sku,)).fetchone()
        )
        if row is None:
            return JSONResponse({"error": f"unknown sku {sku}"}, status_code=404)
        return {"sku": sku, "available": row["qty"]}

    @app.post("/reservations")
    async def reserve(body: Reserve) -> Any:
        tag_saga(body.saga_id)

        def tx(conn: sqlite3.Connection) -> str:
            if _op(conn, body.saga_id, "release") is not None:
                return "tombstone:released before reserve"
            done = _op(conn, body.saga_id, "reserve")
            if done is not None and not (reserve_again and done == "ok"):
                return done
            row = conn.execute("SELECT qty FROM stock WHERE sku=?", (body.sku,)).fetchone()
            if row is None or row["qty"] < body.quantity:
                result = "out_of_stock:" + body.sku
            else:
                conn.execute(
                    "UPDATE stock SET qty = qty - ? WHERE sku=?", (body.quantity, body.sku)
                )
                conn.execute(
                    f"INSERT {'OR REPLACE ' if reserve_again else ''}INTO reservations "
                    "VALUES (?, ?, ?, 'reserved', ?)",
                    (body.saga_id, body.sku, body.quantity, time.time()),
                )
                result = "ok"
            _record(conn, body.saga_id, "reserve", result, replace=reserve_again)
            return result

        return _answer(await db.write(tx))

    @app.post("/reservations/{saga_id}/release")
    async def release(saga_id: str) -> Any:
        tag_saga(saga_id)

        def tx(conn: sqlite3.Connection) -> str:
            if _op(conn, saga_id, "release") is not None:
                return "ok"
            row = conn.execute("SELECT * FROM reservations WHERE saga_id=?", (saga_id,)).fetchone()
            if row is not None and row["state"] == "reserved":
                conn.execute(
                    "UPDATE stock SET qty = qty + ? WHERE sku=?", (row["quantity"], row["sku"])
                )
                conn.execute(
                    "UPDATE reservations SET state='released', ts=? WHERE saga_id=?",
                    (time.time(), saga_id),
                )
            elif row is None:
                conn.execute(
                    "INSERT INTO reservations VALUES (?, NULL, 0, 'tombstone', ?)",
                    (saga_id, time.time()),
                )
            _record(conn, saga_id, "release", "ok")
            return "ok"

        return _answer(await db.write(tx))

    @app.get("/audit")
    async def audit() -> Any:
        def read(conn: sqlite3.Connection) -> dict:
            rows = conn.execute("SELECT * FROM stock").fetchall()
            res = conn.execute("SELECT * FROM reservations ORDER BY ts").fetchall()
            return {
                "stock": {r["sku"]: r["qty"] for r in rows},
                "initial_stock": {r["sku"]: r["initial"] for r in rows},
                "reservations": [dict(r) for r in res],
            }

        return await db.read(read)


# -- payments ----------------------------------------------------------------------------------

PAYMENTS = f"""{OPS};
CREATE TABLE IF NOT EXISTS accounts (
  customer TEXT PRIMARY KEY, balance INTEGER NOT NULL, initial INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
  id INTEGER PRIMARY KEY AUTOINCREMENT, saga_id TEXT, customer TEXT, kind TEXT, amount INTEGER,
  ts REAL)"""


LEDGER_INSERT = (
    "INSERT INTO ledger (saga_id, customer, kind, amount, ts) VALUES (?, ?, '{kind}', ?, ?)"
)


class Charge(BaseModel):
    saga_id: str
    customer: str
    amount: int


def require_credential(app: FastAPI, cfg: ShopConfig, prefix: str) -> None:
    """Requests under `prefix` must carry ``Authorization: Bearer <payments_token>`` (the file
    in SHOP_SECRETS_DIR, or its previous value during a grace); else 401. Without
    SHOP_SECRETS_DIR nothing is required (the shop run on its own)."""
    if cfg.secrets_dir is None:
        return
    for reason in ("missing", "wrong"):
        m.AUTH_REJECTIONS.labels(prefix, reason)  # series at 0 from the start

    app.add_middleware(Authorize, verifier=Verifier(cfg.secrets_dir), prefix=prefix)


class Authorize:
    """ASGI (not ``@app.middleware``: docs/performance.md): a request under ``prefix`` without
    an accepted credential is answered 401 and counted, before it reaches the route."""

    def __init__(self, app: Any, verifier: Verifier, prefix: str) -> None:
        self.app, self.verifier, self.prefix = app, verifier, prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        why = self.verifier.check(header)
        if why is None:
            await self.app(scope, receive, send)
            return
        m.AUTH_REJECTIONS.labels(self.prefix, why).inc()
        log.info("401 on %s: %s credential", scope["path"], why)  # never the value
        response = JSONResponse({"result": "unauthorized", "reason": why}, status_code=401)
        await response(scope, receive, send)


def payments(app: FastAPI, cfg: ShopConfig) -> None:
    db = Database(cfg.data_dir / "payments.db", PAYMENTS)
    double_charge = cfg.has_bug("double_charge")
    require_credential(app, cfg, "/charges")

    def account(conn: sqlite3.Connection, customer: str) -> int:
        start = BROKE if customer.startswith("broke") else RICH
        conn.execute("INSERT OR IGNORE INTO accounts VALUES (?, ?, ?)", (customer, start, start))
        return conn.execute(
            "SELECT balance FROM accounts WHERE customer=?", (customer,)
        ).fetchone()[0]

    @app.post("/charges")
    async def charge(body: Charge) -> Any:
        tag_saga(body.saga_id)

        def tx(conn: sqlite3.Connection) -> str:
            if _op(conn, body.saga_id, "refund") is not None:
                return "tombstone:refunded before charge"
            done = _op(conn, body.saga_id, "charge")
            if done is not None and not (double_charge and done == "ok"):
                return done
            if account(conn, body.customer) < body.amount:
                result = "insufficient_funds:" + body.customer
            else:
                conn.execute(
                    "UPDATE accounts SET balance = balance - ? WHERE customer=?",
                    (body.amount, body.customer),
                )
                conn.execute(
                    LEDGER_INSERT.format(kind="charge"),
                    (body.saga_id, body.customer, body.amount, time.time()),
                )
                result = "ok"
            _record(conn, body.saga_id, "charge", result, replace=double_charge)
            return result

        return _answer(await db.write(tx))

    @app.post("/charges/{saga_id}/refund")
    async def refund(saga_id: str) -> Any:
        tag_saga(saga_id)

        def tx(conn: sqlite3.Connection) -> str:
            if _op(conn, saga_id, "refund") is not None:
                return "ok"
            rows = conn.execute("SELECT * FROM ledger WHERE saga_id=?", (saga_id,)).fetchall()
            net = sum(r["amount"] if r["kind"] == "charge" else -r["amount"] for r in rows)
            if net > 0:
                customer = rows[0]["customer"]
                conn.execute(
                    "UPDATE accounts SET balance = balance + ? WHERE customer=?", (net, customer)
                )
                conn.execute(
                    LEDGER_INSERT.format(kind="refund"),
                    (saga_id, customer, net, time.time()),
                )
            _record(conn, saga_id, "refund", "ok")
            return "ok"

        return _answer(await db.write(tx))

    @app.get("/audit")
    async def audit() -> Any:
        def read(conn: sqlite3.Connection) -> dict:
            accts = conn.execute("SELECT * FROM accounts").fetchall()
            ledger = conn.execute(
                "SELECT saga_id, customer, kind, amount, ts FROM ledger ORDER BY id"
            ).fetchall()
            return {
                "balances": {r["customer"]: r["balance"] for r in accts},
                "initial_balances": {r["customer"]: r["initial"] for r in accts},
                "ledger": [dict(r) for r in ledger],
            }

        return await db.read(read)


# -- shipping ----------------------------------------------------------------------------------

SHIPPING = f"""{OPS};
CREATE TABLE IF NOT EXISTS shipments (
  saga_id TEXT PRIMARY KEY, customer TEXT, state TEXT, ts REAL)"""


class Ship(BaseModel):
    saga_id: str
    customer: str


def shipping(app: FastAPI, cfg: ShopConfig) -> None:
    db = Database(cfg.data_dir / "shipping.db", SHIPPING)

    @app.post("/shipments")
    async def ship(body: Ship) -> Any:
        tag_saga(body.saga_id)

        def tx(conn: sqlite3.Connection) -> str:
            if _op(conn, body.saga_id, "cancel") is not None:
                return "tombstone:cancelled before shipment"
            done = _op(conn, body.saga_id, "ship")
            if done is not None:
                return done
            conn.execute(
                "INSERT INTO shipments VALUES (?, ?, 'created', ?)",
                (body.saga_id, body.customer, time.time()),
            )
            _record(conn, body.saga_id, "ship", "ok")
            return "ok"

        return _answer(await db.write(tx))

    @app.post("/shipments/{saga_id}/cancel")
    async def cancel(saga_id: str) -> Any:
        tag_saga(saga_id)

        def tx(conn: sqlite3.Connection) -> str:
            if _op(conn, saga_id, "cancel") is not None:
                return "ok"
            row = conn.execute("SELECT state FROM shipments WHERE saga_id=?", (saga_id,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO shipments VALUES (?, NULL, 'tombstone', ?)", (saga_id, time.time())
                )
            else:
                conn.execute(
                    "UPDATE shipments SET state='cancelled', ts=? WHERE saga_id=?",
                    (time.time(), saga_id),
                )
            _record(conn, saga_id, "cancel", "ok")
            return "ok"

        return _answer(await db.write(tx))

    @app.get("/audit")
    async def audit() -> Any:
        rows = await db.read(
            lambda c: c.execute("SELECT saga_id, state, ts FROM shipments ORDER BY ts").fetchall()
        )
        return {"shipments": [dict(r) for r in rows]}
