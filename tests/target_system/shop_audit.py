"""Real audits of the bundled shop, made in-process: no stack, no ports.

The shop's own code does everything: the orders app's ``POST /orders`` and its saga driver, the
participants' apps on SQLite files in a temp folder, and every service's ``GET /audit``. Only
the network is replaced: :class:`RoutingClient` carries the orchestrator's calls to the
participant apps through httpx's ASGI transport, and can lose a response after the callee
acted (what a timeout on a slow link does), so a bug switch shows in the audit as it would
in a real run, or send a call twice (what a retry after a lost answer does).
``audits(...)`` returns ``{service: audit payload}``, the shape of
``audit_before.json`` and ``audit_after.json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from target_system.services import participants
from target_system.services.orders import orders as orders_service
from target_system.shoplib.app import AppContext
from target_system.shoplib.client import CallFailed, Reply
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.live import LiveConfig

PARTICIPANTS = ("inventory", "payments", "shipping")
SERVICES = ("orders", *PARTICIPANTS)


@dataclass
class RoutingClient:
    """The orchestrator's client: calls go to in-process apps; some responses are lost."""

    apps: dict[str, FastAPI]
    lose: set[tuple[str, str]] = field(default_factory=set)  # (service, path) losing answers
    repeat: set[tuple[str, str]] = field(default_factory=set)  # (service, path) sent twice
    calls: list[str] = field(default_factory=list)

    async def call(self, service: str, method: str, path: str, json: Any = None, **_: Any) -> Reply:
        self.calls.append(f"{service} {method} {path}")
        r = await request(self.apps[service], method, path, json)
        if (service, path) in self.repeat:  # a retry after an answer was lost on the way
            r = await request(self.apps[service], method, path, json)
        if (service, path) in self.lose:
            raise CallFailed(service, "timeout", "response lost after the callee acted")
        return Reply(r.status_code, r.json(), f"{service}-1")


async def request(app: FastAPI, method: str, path: str, json: Any = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as c:
        return await c.request(method, path, json=json)


@dataclass(frozen=True)
class Order:
    sku: str = "sku-2"
    quantity: int = 1
    customer: str = "alice"


class Shop:
    """The four services of the saga on SQLite under `data_dir`, with the given bug switches."""

    def __init__(self, data_dir: Path, bugs: Iterable[str] = ()) -> None:
        self.bugs = frozenset(bugs)
        self.apps: dict[str, FastAPI] = {}
        for name in PARTICIPANTS:
            app = FastAPI()
            getattr(participants, name)(app, self._cfg(name, data_dir))
            self.apps[name] = app
        self.client = RoutingClient(dict(self.apps))
        cfg = self._cfg("orders", data_dir)
        app = FastAPI()
        app.state.on_start, app.state.on_stop = [], []
        self.ctx = AppContext(
            cfg,
            incarnation="test-1",
            live=LiveConfig(cfg),
            client=self.client,  # type: ignore[arg-type]
        )
        orders_service(app, cfg, self.ctx)
        self.apps["orders"] = app
        self._keys = 0

    def _cfg(self, service: str, data_dir: Path) -> ShopConfig:
        return ShopConfig(
            service=service, instance=f"{service}-1", port=1, data_dir=data_dir, bugs=self.bugs
        )

    async def start(self) -> None:
        for hook in self.apps["orders"].state.on_start:
            await hook(self.ctx)

    async def stop(self) -> None:
        for task in self.ctx.tasks:
            task.cancel()
        await asyncio.gather(*self.ctx.tasks, return_exceptions=True)

    async def order(self, order: Order) -> dict[str, Any]:
        """POST /orders through the orders app; the saga runs to its end (or order_wait)."""
        self._keys += 1
        body = {"sku": order.sku, "quantity": order.quantity, "customer": order.customer,
                "idempotency_key": f"k{self._keys}"}  # fmt: skip
        return (await request(self.apps["orders"], "POST", "/orders", body)).json()

    async def audit(self) -> dict[str, Any]:
        """GET /audit of every service, as ``TargetStack.audit`` collects it."""
        out = {}
        for name in SERVICES:
            r = await request(self.apps[name], "GET", "/audit")
            r.raise_for_status()
            out[name] = r.json()
        return out


def audits(
    data_dir: Path,
    orders: Iterable[Order],
    bugs: Iterable[str] = (),
    lose: Iterable[tuple[str, str]] = (),
    warmup: Iterable[Order] = (),
    repeat: Iterable[tuple[str, str]] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(audit before, audit after): `warmup` orders run before the first audit, `orders`
    between the two, with the responses of `lose` lost (e.g. ``("payments", "/charges")``)
    and the calls of `repeat` sent twice."""

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        shop = Shop(data_dir, bugs)
        await shop.start()
        try:
            for o in warmup:
                await shop.order(o)
            before = await shop.audit()
            shop.client.lose, shop.client.repeat = set(lose), set(repeat)
            for o in orders:
                await shop.order(o)
            return before, await shop.audit()
        finally:
            await shop.stop()

    return asyncio.run(go())
