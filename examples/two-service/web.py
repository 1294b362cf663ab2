"""web: the front of the two-service example. GET /quote asks the quotes service for one.

An ordinary small service: it knows nothing about Stormproof. It reads one URL per dependency
from its environment and protects its callers from a slow or dead dependency:

- every call to quotes has a timeout (QUOTES_TIMEOUT, default 0.25 s);
- a failed call (timeout, connection error, 5xx) is retried QUOTES_RETRIES times (default 1)
  after a short backoff (50 ms, doubling): GET /quote is idempotent;
- when every attempt failed, web still answers 200 with a fallback quote ("source": "fallback"),
  so a user sees a quote within about 2 x timeout + backoff = 0.55 s whatever quotes does.

    GET /quote    {"quote": "...", "source": "quotes" | "fallback"}
    GET /health   200 "ok"
    GET /metrics  Prometheus text:
        web_http_requests_total{path, status}        requests web answered
        web_quotes_calls_total{outcome}               calls to quotes: ok, timeout, error
        web_quotes_call_duration_seconds              their duration (histogram)
        web_quote_fallbacks_total                     answers served from the fallback

Environment: PORT (required), QUOTES_URL (required, e.g. http://127.0.0.1:8001),
QUOTES_TIMEOUT, QUOTES_RETRIES, HOST (default 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

QUOTES_URL = os.environ["QUOTES_URL"].rstrip("/")
TIMEOUT = float(os.environ.get("QUOTES_TIMEOUT", "0.25"))
RETRIES = int(os.environ.get("QUOTES_RETRIES", "1"))
BACKOFF = 0.05
FALLBACK = "Fallbacks keep the lights on."

REQUESTS = Counter("web_http_requests_total", "Requests web answered", ["path", "status"])
CALLS = Counter("web_quotes_calls_total", "Calls to the quotes service", ["outcome"])
CALL_SECONDS = Histogram(
    "web_quotes_call_duration_seconds",
    "Duration of calls to the quotes service",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
FALLBACKS = Counter("web_quote_fallbacks_total", "Answers served from the fallback quote")


async def fetch_quote(session: aiohttp.ClientSession) -> str | None:
    """A quote from the quotes service, or None when every attempt failed."""
    for attempt in range(RETRIES + 1):
        if attempt:
            await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
        with CALL_SECONDS.time():
            try:
                async with session.get(
                    f"{QUOTES_URL}/quote", timeout=aiohttp.ClientTimeout(total=TIMEOUT)
                ) as resp:
                    if resp.status < 500:
                        body = await resp.json()
                        CALLS.labels("ok").inc()
                        return str(body["quote"])
                    CALLS.labels("error").inc()
            except TimeoutError:
                CALLS.labels("timeout").inc()
            except (aiohttp.ClientError, ValueError, KeyError):
                CALLS.labels("error").inc()
    return None


async def quote(request: web.Request) -> web.Response:
    text = await fetch_quote(request.app["session"])
    if text is None:
        FALLBACKS.inc()
        body = {"quote": FALLBACK, "source": "fallback"}
    else:
        body = {"quote": text, "source": "quotes"}
    REQUESTS.labels("/quote", "200").inc()
    return web.json_response(body)


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _session(application: web.Application):
    # a pooled client; a connection whose call timed out is closed, never reused
    application["session"] = aiohttp.ClientSession()
    yield
    await application["session"].close()


def app() -> web.Application:
    application = web.Application()
    application.cleanup_ctx.append(_session)
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
