"""Benchmark: cold start of the stack and the delay from a fault call to its effect.

Cold start (median of RUNS): nothing running → the infrastructure up (etcd, Toxiproxy with its
proxies, Jaeger), → every instance healthy, and → Prometheus has a sample of up == 1 from every
target. Fault delay (p50/p99 over CYCLES inject/revert cycles of a 200 ms
latency toxic): from the call to the first request through the proxy that shows the latency.

    .venv/bin/python bench/stack_figures.py [--runs 5] [--cycles 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from harness.faults import KINDS
from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.topology import bundled_topology_path, load_topology


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=200)
    args = ap.parse_args()
    topology = load_topology(bundled_topology_path())
    infra, healthy, scraped = [], [], []
    for i in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix="stormproof-cold-"))
        stack = LocalStack(topology, Settings(state_dir=root / "state"), root / "run")
        with stack:
            infra.append(stack.timings["infra"])
            healthy.append(stack.timings["healthy"])
            scraped.append(stack.timings["scraped"])
            if i == args.runs - 1:
                delays = fault_delays(stack, args.cycles)
    for what, runs in (
        ("the infrastructure up (etcd, Toxiproxy and its proxies, Jaeger)", infra),
        (f"all {len(topology.instances())} instances healthy", healthy),
        ("Prometheus scraping every target", scraped),
    ):
        shown = ", ".join(f"{r:.2f}" for r in runs)
        print(f"cold start to {what}: median {statistics.median(runs):.2f}s (runs: {shown})")
    q = statistics.quantiles(delays, n=100)
    print(
        f"fault applied (call -> first request showing it), {len(delays)} cycles: "
        f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms"
    )


def fault_delays(stack: LocalStack, cycles: int) -> list[float]:
    addr = stack.links_for("orders")["inventory-1"]
    url = f"http://{addr}/stock/sku-1"
    out = []
    with httpx.Client(timeout=5) as client:
        for _ in range(cycles):
            fault = KINDS["latency"](stack, link="orders->inventory-1", latency=0.2)
            t0 = time.perf_counter()
            fault.inject()
            while True:  # the first request whose own duration shows the toxic
                s = time.perf_counter()
                client.get(url)
                if time.perf_counter() - s >= 0.2:
                    break
            out.append((time.perf_counter() - t0) * 1000 - 200)
            fault.revert()
    return out


if __name__ == "__main__":
    main()
