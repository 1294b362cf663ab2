"""Benchmark: completed orders/s through the whole saga path, against a single-hop request.

Starts the bundled shop with the harness (every service-to-service call through Toxiproxy,
SQLite durability on), places orders as fast as CONCURRENCY clients can for DURATION seconds,
then hammers one inventory instance's GET /stock alone for the same time, and prints both with
their ratio. Not a test: figures go to docs/performance.md.

    .venv/bin/python bench/shop_throughput.py [--duration 20] [--concurrency 32] [--no-tracing]

Tracing is on as in every run (each request traced, exported to the stack's Jaeger);
``--no-tracing`` starts the shop with an empty ``SHOP_OTLP_ENDPOINT``: no tracer at all.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.topology import bundled_topology_path, load_topology


async def hammer(make_request, duration: float, concurrency: int) -> tuple[int, int, list[float]]:
    ok = failed = 0
    lat: list[float] = []
    deadline = time.monotonic() + duration
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal ok, failed
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    good = await make_request(session)
                except (aiohttp.ClientError, TimeoutError):
                    good = False
                lat.append((time.perf_counter() - t0) * 1000)
                ok += good
                failed += not good

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, failed, lat


def figures(name: str, ok: int, failed: int, lat: list[float], duration: float) -> float:
    q = statistics.quantiles(lat, n=100)
    rate = ok / duration
    print(
        f"{name:<28} {rate:8.1f}/s  ok {ok}  failed {failed}  "
        f"p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms"
    )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--no-tracing", action="store_true", help="the shop exports no traces")
    ap.add_argument(
        "--trace-sample",
        type=float,
        default=None,
        help="SHOP_TRACE_SAMPLE: share of requests traced (the bench sends no traceparent)",
    )
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stormproof-bench-"))
    stack = LocalStack(
        load_topology(bundled_topology_path()),
        Settings(state_dir=root / "state"),
        root / "run",
        target_env=(
            {"SHOP_OTLP_ENDPOINT": ""}
            if args.no_tracing
            else None
            if args.trace_sample is None
            else {"SHOP_TRACE_SAMPLE": str(args.trace_sample)}
        ),
    )
    with stack:
        gateway = stack.entry_url()
        inventory = stack.instance_url("inventory-1")

        async def order(session: aiohttp.ClientSession) -> bool:
            body = {
                "sku": "sku-1",
                "quantity": 1,
                "customer": "bench",
                "idempotency_key": uuid.uuid4().hex,
            }
            async with session.post(gateway + "/orders", json=body) as r:
                data = await r.json()
                return r.status == 201 and data.get("state") == "COMPLETED"

        async def stock(session: aiohttp.ClientSession) -> bool:
            async with session.get(inventory + "/stock/sku-1") as r:
                await r.read()
                return r.status == 200

        print(
            f"duration {args.duration:g}s, {args.concurrency} concurrent clients, 2 cores shared, "
            f"tracing {'off' if args.no_tracing else 'on'}"
            + ("" if args.trace_sample is None else f", sampling {args.trace_sample:g}")
        )
        saga = figures(
            "orders (5 services, saga)",
            *asyncio.run(hammer(order, args.duration, args.concurrency)),
            args.duration,
        )
        hop = figures(
            "single hop GET /stock",
            *asyncio.run(hammer(stock, args.duration, args.concurrency)),
            args.duration,
        )
        print(f"ratio orders/single-hop: {saga / hop:.3f}")


if __name__ == "__main__":
    main()
