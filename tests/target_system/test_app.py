"""The app factory's request metrics (target_system/shoplib/app.py ``Measure``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from target_system.shoplib import metrics as m
from target_system.shoplib.app import Measure


def served(method: str, route: str, status: str) -> float:
    return m.HTTP_REQUESTS.labels(method, route, status)._value.get()


def test_every_request_is_counted_by_route_and_status_an_exception_as_500() -> None:
    app = FastAPI()
    app.add_middleware(Measure)

    @app.get("/things/{name}")
    async def thing(name: str) -> dict:
        if name == "boom":
            raise RuntimeError("boom")
        return {"name": name}

    before = {
        k: served(*k)
        for k in [
            ("GET", "/things/{name}", "200"),
            ("GET", "/things/{name}", "500"),
            ("GET", "unmatched", "404"),
        ]
    }
    durations = m.HTTP_DURATION.labels("GET", "/things/{name}")._sum.get()

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return [
                (await c.get(p)).status_code
                for p in ("/things/a", "/things/b", "/things/boom", "/x")
            ]

    assert asyncio.run(go()) == [200, 200, 500, 404]
    after = {k: served(*k) - v for k, v in before.items()}
    assert after == {
        ("GET", "/things/{name}", "200"): 2,
        ("GET", "/things/{name}", "500"): 1,
        ("GET", "unmatched", "404"): 1,
    }
    assert m.HTTP_DURATION.labels("GET", "/things/{name}")._sum.get() > durations


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_other_scopes_pass_through(kind: str) -> None:
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(Measure(inner)({"type": kind}, None, None))
    assert seen == [kind]
