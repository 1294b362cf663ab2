"""quotes: hands out a random quote. The callee of the two-service example.

An ordinary small service: it knows nothing about Stormproof.

    GET /quote    {"quote": "..."}
    GET /health   200 "ok"
    GET /metrics  Prometheus text: quotes_served_total

Environment: PORT (required), HOST (default 127.0.0.1).
"""

from __future__ import annotations

import os
import random

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

QUOTES = [
    "Everything fails, all the time.",
    "Hope is not a strategy.",
    "The network is reliable. (It is not.)",
    "Timeouts are a feature.",
    "Retry with backoff, or not at all.",
]
SERVED = Counter("quotes_served_total", "Quotes handed out")


async def quote(_request: web.Request) -> web.Response:
    SERVED.inc()
    return web.json_response({"quote": random.choice(QUOTES)})


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def app() -> web.Application:
    application = web.Application()
    application.add_routes(
        [web.get("/quote", quote), web.get("/health", health), web.get("/metrics", metrics)]
    )
    return application


if __name__ == "__main__":
    web.run_app(
        app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        access_log=None,
        print=None,
    )
