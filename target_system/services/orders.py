"""orders: the saga orchestrator.

    PENDING → RESERVING → CHARGING → SHIPPING → COMPLETED
                  └──────────┴──────────┴──→ COMPENSATING → CANCELLED

The saga log is written before each step. A step that fails or times out starts compensation,
in reverse, of every step that may have taken effect (a timed-out charge may have happened).
A compensation that cannot reach its participant leaves the saga COMPENSATING; the re-driver
retries it every ``redrive_every`` seconds. On start, every saga not terminal is re-driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from target_system.db import Database
from target_system.shoplib import metrics as m
from target_system.shoplib import tracing
from target_system.shoplib.app import AppContext
from target_system.shoplib.client import CallFailed, ServiceClient
from target_system.shoplib.config import ShopConfig

log = logging.getLogger("shop.orders")

TERMINAL = ("COMPLETED", "CANCELLED")
STEPS = ("reserve", "charge", "ship")
STATE_OF = {"reserve": "RESERVING", "charge": "CHARGING", "ship": "SHIPPING"}
RESUME_AT = {"PENDING": 0, "RESERVING": 0, "CHARGING": 1, "SHIPPING": 2}
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, saga_id TEXT, idempotency_key TEXT UNIQUE,
  sku TEXT, quantity INTEGER, customer TEXT, amount INTEGER, state TEXT, reason TEXT,
  comp_from INTEGER, created_at REAL, updated_at REAL);
CREATE TABLE IF NOT EXISTS steps (id INTEGER PRIMARY KEY AUTOINCREMENT, saga_id TEXT, step TEXT,
  status TEXT, ts REAL, detail TEXT);
CREATE INDEX IF NOT EXISTS orders_saga ON orders (saga_id);
CREATE INDEX IF NOT EXISTS steps_saga ON steps (saga_id)"""


def price(sku: str) -> int:
    tail = sku.rsplit("-", 1)[-1]
    return int(tail) * 100 if tail.isdigit() else 100


class NewOrder(BaseModel):
    sku: str
    quantity: int
    customer: str
    idempotency_key: str


class Saga:
    """Drives sagas; at most one task per saga in this process."""

    def __init__(self, cfg: ShopConfig, db: Database, client: ServiceClient) -> None:
        self.cfg = cfg
        self.db = db
        self.client = client
        self.running: dict[str, asyncio.Task] = {}
        self.mine: set[str] = set()  # sagas this process started (re-driven even with no_redrive)

    async def _set(
        self,
        saga: str,
        state: str,
        reason: str | None = None,
        comp_from: int | None = None,
        logged: tuple[str, str, str] | None = None,
    ) -> dict[str, Any]:
        """The saga's new state, in the same commit as the outcome of the step before it
        (``logged``: step, status, detail), so a step costs one commit, not two; returns the
        order as committed."""

        def tx(conn: sqlite3.Connection) -> dict[str, Any]:
            if logged is not None:
                conn.execute(
                    "INSERT INTO steps (saga_id, step, status, ts, detail) VALUES (?, ?, ?, ?, ?)",
                    (saga, logged[0], logged[1], time.time(), logged[2]),
                )
            conn.execute(
                "UPDATE orders SET state=?, reason=COALESCE(?, reason),"
                " comp_from=COALESCE(?, comp_from),"
                " updated_at=? WHERE saga_id=?",
                (state, reason, comp_from, time.time(), saga),
            )
            conn.execute(
                "INSERT INTO steps (saga_id, step, status, ts, detail)"
                " VALUES (?, 'state', ?, ?, ?)",
                (saga, state, time.time(), reason),
            )
            return dict(conn.execute("SELECT * FROM orders WHERE saga_id=?", (saga,)).fetchone())

        return await self.db.write(tx)

    async def _log(self, saga: str, step: str, status: str, detail: str = "") -> None:
        await self.db.write(
            lambda c: c.execute(
                "INSERT INTO steps (saga_id, step, status, ts, detail) VALUES (?, ?, ?, ?, ?)",
                (saga, step, status, time.time(), detail),
            )
        )

    async def order(self, saga: str) -> dict[str, Any] | None:
        row = await self.db.read(
            lambda c: c.execute("SELECT * FROM orders WHERE saga_id=?", (saga,)).fetchone()
        )
        return None if row is None else dict(row)

    def start(self, saga: str, order: dict[str, Any] | None = None) -> asyncio.Task:
        """Drive the saga (``order``: its row, when the caller has just written it); the task's
        result is the order as committed when this drive ended it, else None."""
        task = self.running.get(saga)
        if task is None or task.done():
            task = asyncio.create_task(self._drive(saga, order))
            self.running[saga] = task
            m.SAGAS_IN_FLIGHT.set(len(self.running))
            task.add_done_callback(lambda _t, s=saga: self._done(s))
        return task

    def _done(self, saga: str) -> None:
        self.running.pop(saga, None)
        m.SAGAS_IN_FLIGHT.set(len(self.running))

    async def _call(self, step: str, o: dict[str, Any]) -> tuple[str, str]:
        """Run one forward step: ('ok' | 'rejected' | 'failed', detail)."""
        saga = o["saga_id"]
        try:
            if step == "reserve":
                r = await self.client.call(
                    "inventory",
                    "POST",
                    "/reservations",
                    {"saga_id": saga, "sku": o["sku"], "quantity": o["quantity"]},
                )
            elif step == "charge":
                r = await self.client.call(
                    "payments",
                    "POST",
                    "/charges",
                    {"saga_id": saga, "customer": o["customer"], "amount": o["amount"]},
                )
            else:
                r = await self.client.call(
                    "shipping", "POST", "/shipments", {"saga_id": saga, "customer": o["customer"]}
                )
        except CallFailed as exc:
            return "failed", f"{exc.reason}: {exc.last_error}"
        if r.status == 200:
            return "ok", r.instance
        return "rejected", str((r.body or {}).get("result", r.status))

    async def _compensate(self, step: str, saga: str) -> None:
        service, path = {
            "reserve": ("inventory", f"/reservations/{saga}/release"),
            "charge": ("payments", f"/charges/{saga}/refund"),
            "ship": ("shipping", f"/shipments/{saga}/cancel"),
        }[step]
        r = await self.client.call(service, "POST", path)
        if r.status >= 400:
            raise CallFailed(service, "rejected", f"compensation answered HTTP {r.status}")

    async def _drive(self, saga: str, order: dict[str, Any] | None) -> dict[str, Any] | None:
        with tracing.saga(saga):
            return await self._drive_steps(saga, order)

    async def _drive_steps(self, saga: str, o: dict[str, Any] | None) -> dict[str, Any] | None:
        if o is None:
            o = await self.order(saga)
        if o is None or o["state"] in TERMINAL:
            return o
        extra = {"saga_id": saga}
        try:
            if o["state"] != "COMPENSATING":
                start = RESUME_AT.get(o["state"], 0)
                # a step's outcome is logged with the state that follows it: a crash before that
                # commit leaves the state of the step, which a re-drive runs again (idempotent)
                done: tuple[str, str, str] | None = None
                for k in range(start, len(STEPS)):
                    step = STEPS[k]
                    await self._set(saga, STATE_OF[step], logged=done)
                    outcome, detail = await self._call(step, o)
                    done = (step, outcome, detail)
                    if outcome == "ok":
                        continue
                    log.info("step %s %s: %s", step, outcome, detail, extra=extra)
                    # A clean business rejection had no effect; a failure may have had one.
                    comp_from = k - 1 if outcome == "rejected" else k
                    reason = f"{step} {outcome}: {detail}"
                    tracing.trouble(reason)  # its compensation is traced, sampled or not
                    if step == "charge" and self.cfg.has_bug("no_compensation"):
                        return await self._finish(saga, "CANCELLED", reason, logged=done)
                    o = await self._set(saga, "COMPENSATING", reason, comp_from, logged=done)
                    break
                else:
                    return await self._finish(saga, "COMPLETED", None, logged=done)
            return await self._run_compensations(saga, o)
        except Exception:
            log.exception("saga driver error", extra=extra)
            return None

    async def _run_compensations(self, saga: str, o: dict[str, Any]) -> dict[str, Any] | None:
        done = await self.db.read(
            lambda c: {
                r["step"]
                for r in c.execute(
                    "SELECT step FROM steps WHERE saga_id=? AND status='compensated'", (saga,)
                ).fetchall()
            }
        )
        comp_from = o["comp_from"] if o["comp_from"] is not None else len(STEPS) - 1
        for k in range(comp_from, -1, -1):
            step = STEPS[k]
            if step in done:
                continue
            try:
                await self._compensate(step, saga)
            except CallFailed as exc:
                await self._log(saga, step, "compensation_failed", str(exc))
                if self.cfg.has_bug("compensation_gives_up"):
                    continue  # the bug: a compensation that never happened counts as done
                log.warning(
                    "compensation of %s failed, saga stays COMPENSATING: %s",
                    step,
                    exc,
                    extra={"saga_id": saga},
                )
                return None
            await self._log(saga, step, "compensated")
            m.SAGA_COMPENSATIONS.labels(step).inc()
        return await self._finish(saga, "CANCELLED", None)

    async def _finish(
        self,
        saga: str,
        state: str,
        reason: str | None,
        logged: tuple[str, str, str] | None = None,
    ) -> dict[str, Any]:
        o = await self._set(saga, state, reason, logged=logged)
        m.SAGAS_TOTAL.labels("completed" if state == "COMPLETED" else "cancelled").inc()
        log.info("saga %s", state.lower(), extra={"saga_id": saga})
        return o

    async def unfinished(self) -> list[str]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT saga_id FROM orders WHERE state NOT IN ('COMPLETED', 'CANCELLED')"
            ).fetchall()
        )
        return [r["saga_id"] for r in rows]

    async def redrive_loop(self, at_start: bool) -> None:
        """Re-drive unfinished sagas: all of them at start, then every redrive_every seconds."""
        first = True
        while True:
            for saga in await self.unfinished():
                if saga in self.running:
                    continue
                if self.cfg.has_bug("no_redrive") and saga not in self.mine:
                    continue
                if first and not at_start:
                    continue
                self.start(saga)
            first = False
            await asyncio.sleep(self.cfg.redrive_every)


def orders(app: FastAPI, cfg: ShopConfig, ctx: AppContext) -> None:
    db = Database(cfg.data_dir / "orders.db", SCHEMA)
    holder: dict[str, Saga] = {}

    async def on_start(ctx: AppContext) -> None:
        assert ctx.client is not None
        holder["saga"] = Saga(cfg, db, ctx.client)
        ctx.tasks.append(asyncio.create_task(holder["saga"].redrive_loop(at_start=True)))

    app.state.on_start.append(on_start)

    def public(o: dict[str, Any]) -> dict[str, Any]:
        return {k: o[k] for k in ("id", "sku", "quantity", "customer", "amount", "state", "reason")}

    @app.post("/orders")
    async def create(body: NewOrder) -> Any:
        saga = holder["saga"]
        new_id = uuid.uuid4().hex
        now = time.time()

        def tx(conn: sqlite3.Connection) -> tuple[str, dict[str, Any] | None]:
            row = conn.execute(
                "SELECT saga_id FROM orders WHERE idempotency_key=?", (body.idempotency_key,)
            ).fetchone()
            if row is not None:
                return row["saga_id"], None
            conn.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, 'PENDING', NULL, NULL, ?, ?)",
                (
                    new_id,
                    new_id,
                    body.idempotency_key,
                    body.sku,
                    body.quantity,
                    body.customer,
                    price(body.sku) * body.quantity,
                    now,
                    now,
                ),
            )
            new = conn.execute("SELECT * FROM orders WHERE saga_id=?", (new_id,)).fetchone()
            return new_id, dict(new)

        saga_id, new = await db.write(tx)
        if new is not None:
            saga.mine.add(saga_id)
        task = saga.start(saga_id, new)
        o = None
        with contextlib.suppress(TimeoutError):
            o = await asyncio.wait_for(asyncio.shield(task), timeout=cfg.order_wait)
        if o is None:  # not terminal yet (or this drive did not end it): as committed now
            o = await saga.order(saga_id)
        assert o is not None
        return JSONResponse(public(o), status_code=201 if o["state"] in TERMINAL else 202)

    @app.get("/orders/{order_id}")
    async def get(order_id: str) -> Any:
        o = await holder["saga"].order(order_id)
        if o is None:
            return JSONResponse({"error": f"no order {order_id}"}, status_code=404)
        return public(o)

    @app.get("/audit")
    async def audit() -> Any:
        def read(conn: sqlite3.Connection) -> dict:
            orders_ = [dict(r) for r in conn.execute("SELECT * FROM orders ORDER BY created_at")]
            steps: dict[str, list] = {}
            for r in conn.execute(
                "SELECT saga_id, step, status, ts, detail FROM steps ORDER BY id"
            ):
                steps.setdefault(r["saga_id"], []).append(
                    {"step": r["step"], "status": r["status"], "ts": r["ts"], "detail": r["detail"]}
                )
            for o in orders_:
                o["steps"] = steps.get(o["saga_id"], [])
            return {"orders": orders_}

        return await db.read(read)
