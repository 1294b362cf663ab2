"""The app factory every service uses: health, metrics, HTTP metrics, loop-lag probe,
registration in etcd, and the outbound client for services that call others."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from target_system.shoplib import metrics as m
from target_system.shoplib import tracing
from target_system.shoplib.client import ServiceClient
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.credentials import Credential
from target_system.shoplib.discovery import Discovery
from target_system.shoplib.etcd import Etcd, EtcdError
from target_system.shoplib.live import LIVE_KEYS, LiveConfig
from target_system.shoplib.registry import Registration

log = logging.getLogger("shop.app")

CALLEES = {"gateway": ["orders", "inventory"], "orders": ["inventory", "payments", "shipping"]}
# callees that want the credential in SHOP_SECRETS_DIR (payments_token), by caller
CREDENTIALS = {"orders": ["payments"]}


def callees_of(service: str) -> list[str]:
    return CALLEES.get(service, [])


@dataclass
class AppContext:
    cfg: ShopConfig  # the start-up settings (environment); `live.current` holds those in force
    incarnation: str
    live: LiveConfig
    session: aiohttp.ClientSession | None = None
    traced_session: aiohttp.ClientSession | None = None
    discovery: Discovery | None = None
    client: ServiceClient | None = None
    registration: Registration | None = None
    ready: bool = False
    tasks: list[asyncio.Task] = field(default_factory=list)


Hook = Callable[[AppContext], Awaitable[None]]


async def _loop_lag(ctx: AppContext) -> None:
    """Record the worst overshoot of a 100 ms sleep over each second: the event-loop lag."""
    worst, window_start = 0.0, time.monotonic()
    while True:
        t0 = time.monotonic()
        await asyncio.sleep(0.1)
        worst = max(worst, time.monotonic() - t0 - 0.1)
        if ctx.client is not None:
            ctx.client.tick()  # breakers leave open on time even without traffic
        if time.monotonic() - window_start >= 1.0:
            m.EVENT_LOOP_LAG.set(worst)
            worst, window_start = 0.0, time.monotonic()


async def _watch_credentials(cfg: ShopConfig, creds: dict[str, Credential]) -> None:
    """Re-read a credential when its folder changed (a rotation), every secret_poll seconds."""
    while True:
        await asyncio.sleep(cfg.secret_poll)
        for callee, cred in creds.items():
            if cred.changed() and cred.reload():
                m.CREDENTIAL_RELOADS.labels(callee, "rotated").inc()
                log.info("credential for %s reloaded after a rotation", callee)


# FastAPI 0.16x traces every request itself once a tracer provider is installed: a second
# server span beside the gate's, for every request, sampled or not (measured: tracing at a
# share of 0 still cost 40-46 % of the throughput). Off; older FastAPI has no such option.
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters
    else {}
)


def make_app(cfg: ShopConfig) -> tuple[FastAPI, AppContext]:
    """The app and its context; services append hooks to ``app.state.on_start / on_stop``."""
    ctx = AppContext(
        cfg, incarnation=f"{os.getpid()}-{int(time.time() * 1000)}", live=LiveConfig(cfg)
    )
    m.INCARNATION_INFO.labels(ctx.incarnation).set(1)
    traced = tracing.setup(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        ctx.session = _session()
        # traced calls (their request is sampled) go through a session with the aiohttp-client
        # instrumentation; the others, and etcd's, through one without it
        ctx.traced_session = _session(tracing.client_trace_configs()) if traced else None
        etcd = Etcd(cfg.etcd_url, ctx.session) if cfg.etcd_url else None
        if etcd is not None:
            try:
                await ctx.live.read(etcd)  # the store's settings before the first request
            except EtcdError as exc:
                log.warning("config store unreadable at start, environment values: %s", exc)
            ctx.tasks.append(asyncio.create_task(ctx.live.watch(etcd)))
        callees = callees_of(cfg.service)
        if callees:
            ctx.discovery = Discovery(cfg, etcd, callees)
            await ctx.discovery.start()
            creds = {}
            if cfg.secrets_dir is not None:
                for callee in CREDENTIALS.get(cfg.service, []):
                    for trigger in ("rotated", "unauthorized"):
                        m.CREDENTIAL_RELOADS.labels(callee, trigger)  # series at 0 from the start
                    creds[callee] = Credential(
                        cfg.secrets_dir,
                        stale=cfg.has_bug("stale_credential"),
                        leaky=cfg.has_bug("logs_secret"),
                    )
            ctx.client = ServiceClient(
                ctx.live, ctx.discovery, ctx.session, creds, traced_session=ctx.traced_session
            )
            if creds:
                ctx.tasks.append(asyncio.create_task(_watch_credentials(cfg, creds)))
        ctx.tasks.append(asyncio.create_task(_loop_lag(ctx)))
        for hook in app.state.on_start:
            await hook(ctx)
        if etcd is not None:
            address = cfg.advertise or f"{cfg.host}:{cfg.port}"
            ctx.registration = Registration(cfg, etcd, address, ctx.incarnation)
            await ctx.registration.start()
        ctx.ready = True
        try:
            yield
        finally:
            ctx.ready = False
            if ctx.registration is not None:
                await ctx.registration.stop()
            for hook in app.state.on_stop:
                await hook(ctx)
            for t in ctx.tasks:
                t.cancel()
            if ctx.discovery is not None:
                await ctx.discovery.stop()
            await ctx.session.close()
            if ctx.traced_session is not None:
                await ctx.traced_session.close()
            if traced:
                tracing.shutdown()  # the last batch, while Jaeger still runs

    app = FastAPI(
        lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None, **_NO_NATIVE_TELEMETRY
    )
    app.state.ctx = ctx
    app.state.on_start = []
    app.state.on_stop = []
    app.state.trace_sample = cfg.trace_sample if traced else None

    app.add_middleware(Measure)

    @app.get("/health")
    async def health() -> Response:
        body = {
            "status": "ok" if ctx.ready else "starting",
            "instance": cfg.instance,
            "incarnation": ctx.incarnation,
        }
        return JSONResponse(body, status_code=200 if ctx.ready else 503)

    @app.get("/config")
    async def config() -> Response:
        """The live settings in force and the store version they came from."""
        now = ctx.live.current
        body = {
            "version": ctx.live.version,
            "prefix": ctx.live.prefix,
            "settings": {k: getattr(now, k) for k in LIVE_KEYS},
        }
        return JSONResponse(body)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app, ctx


class Measure:
    """ASGI: every request counted and timed by method, route and status (``shop_http_*``).
    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs
    each request through a task group and memory streams, a cost paid per request served
    (docs/performance.md)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # an exception before the response started: the server answers 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            m.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            m.HTTP_DURATION.labels(scope["method"], route).observe(time.perf_counter() - t0)


def _session(trace_configs: list[Any] | None = None) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, limit_per_host=50, keepalive_timeout=15),
        trace_configs=trace_configs,
    )


def run(cfg: ShopConfig, app: FastAPI) -> None:
    """Serve the app; with tracing on, behind the gate that sends only sampled requests through
    the instrumentation (``tracing.Gate``)."""
    ratio = app.state.trace_sample
    uvicorn.run(
        app if ratio is None else tracing.Gate(app, ratio),
        host=cfg.host,
        port=cfg.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=3,
    )
