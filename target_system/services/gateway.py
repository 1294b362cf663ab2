"""gateway: the public entry. Checks stock with inventory, then hands the order to orders."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from target_system.services.orders import NewOrder
from target_system.shoplib.app import AppContext
from target_system.shoplib.client import CallFailed
from target_system.shoplib.config import ShopConfig

STOCK_TIMEOUT = 0.5


def gateway(app: FastAPI, cfg: ShopConfig, ctx: AppContext) -> None:
    @app.post("/orders")
    async def create(body: NewOrder) -> Any:
        client = ctx.client
        assert client is not None
        # the live flag gateway_stock_check: off, orders' saga alone finds out about stock
        if ctx.live.current.gateway_stock_check:
            try:
                stock = await client.call(
                    "inventory", "GET", f"/stock/{body.sku}", timeout=STOCK_TIMEOUT, attempts=1
                )
                if stock.status == 200 and stock.body.get("available", 0) < body.quantity:
                    return JSONResponse({"error": "out of stock", "sku": body.sku}, status_code=409)
            except CallFailed:
                pass  # the stock check is advisory: orders' saga reserves for real
        try:
            r = await client.call(
                "orders",
                "POST",
                "/orders",
                body.model_dump(),
                timeout=cfg.gateway_timeout,
                attempts=2,
            )
        except CallFailed as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(r.body, status_code=r.status)

    @app.get("/orders/{order_id}")
    async def get(order_id: str) -> Any:
        try:
            r = await ctx.client.call("orders", "GET", f"/orders/{order_id}", timeout=2.0)
        except CallFailed as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(r.body, status_code=r.status)
