"""The shop on real processes, real etcd and real Toxiproxy: consistency, failover, re-drive."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import pytest

from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.topology import bundled_topology_path, load_topology

pytestmark = pytest.mark.integration
TERMINAL = {"COMPLETED", "CANCELLED"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    s = LocalStack(
        load_topology(bundled_topology_path()), Settings(state_dir=root / "state"), root / "run"
    )
    with s:
        yield s


async def place(
    url: str, n: int, concurrency: int = 16, customer: str = "c", until: float | None = None
) -> list[dict]:
    """``n`` orders; with ``until`` (unix time), keep going until then instead."""
    if until is not None:
        out: list[dict] = []
        while time.time() < until:
            out += await place(url, concurrency, concurrency, customer)
            await asyncio.sleep(0.05)
        return out
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=20) as client:

        async def one(i: int) -> dict:
            async with sem:
                body = {
                    "sku": f"sku-{i % 5 + 1}",
                    "quantity": 1,
                    "customer": f"{customer}-{i % 7}",
                    "idempotency_key": str(uuid.uuid4()),
                }
                r = await client.post(url + "/orders", json=body)
                return {"status": r.status_code, **(r.json() if r.content else {})}

        return await asyncio.gather(*(one(i) for i in range(n)))


def audit(shop, service: str) -> dict:
    inst = next(i.name for i in shop.topology.instances_of(service) if shop.is_running(i.name))
    return httpx.get(shop.instance_url(inst) + "/audit", timeout=10).json()


def wait_all_terminal(shop, ids: set[str], timeout: float = 30.0) -> dict[str, dict]:
    t0 = time.monotonic()
    while True:
        orders = {o["id"]: o for o in audit(shop, "orders")["orders"] if o["id"] in ids}
        if all(o["state"] in TERMINAL for o in orders.values()):
            return orders
        assert time.monotonic() - t0 < timeout, "sagas still in flight"
        time.sleep(0.3)


def assert_consistent(shop, orders: dict[str, dict]) -> None:
    ledger = audit(shop, "payments")["ledger"]
    reservations = {r["saga_id"]: r for r in audit(shop, "inventory")["reservations"]}
    shipments = {s["saga_id"]: s for s in audit(shop, "shipping")["shipments"]}
    for o in orders.values():
        net = sum(
            e["amount"] if e["kind"] == "charge" else -e["amount"]
            for e in ledger
            if e["saga_id"] == o["saga_id"]
        )
        res, ship = reservations.get(o["saga_id"]), shipments.get(o["saga_id"])
        if o["state"] == "COMPLETED":
            assert net == o["amount"], o
            assert res and res["state"] == "reserved" and ship and ship["state"] == "created", o
        else:
            assert net == 0, o
            assert res is None or res["state"] != "reserved", o
            assert ship is None or ship["state"] != "created", o


def test_200_orders_complete_and_the_audit_is_consistent(shop):
    replies = asyncio.run(place(shop.entry_url(), 200))
    assert [r["status"] for r in replies].count(201) == 200
    orders = wait_all_terminal(shop, {r["id"] for r in replies})
    assert {o["state"] for o in orders.values()} == {"COMPLETED"}
    assert_consistent(shop, orders)


def test_payments_instance_killed_under_load_fails_over(shop):
    def kill_soon() -> None:
        time.sleep(1.0)
        shop.kill("payments-1")

    killer = threading.Thread(target=kill_soon)
    killer.start()
    t_kill = time.time() + 1.0
    ttl = shop.topology.lease_ttl
    replies = asyncio.run(place(shop.entry_url(), 0, concurrency=4, until=t_kill + ttl + 6))
    killer.join()
    try:
        orders = wait_all_terminal(shop, {r["id"] for r in replies if "id" in r})
        assert len(orders) == len([r for r in replies if "id" in r]) >= 0.95 * len(replies)
        assert_consistent(shop, orders)
        late = [
            o
            for o in orders.values()
            if o["created_at"] > t_kill + ttl + 1 and o["state"] == "COMPLETED"
        ]
        charges = [
            s
            for o in audit(shop, "orders")["orders"]
            if o["id"] in {x["id"] for x in late}
            for s in o["steps"]
            if s["step"] == "charge" and s["status"] == "ok"
        ]
        assert late and charges, "no order completed after the failover window"
        assert {c["detail"] for c in charges} == {"payments-2"}
    finally:
        shop.start_instance("payments-1")


def test_orders_killed_mid_saga_is_redriven_after_restart(shop):
    fault_on = shop.toxiproxy
    # Slow the shipping step (below the call timeout) so sagas are in flight when orders dies.
    for proxy in ("orders--shipping-1",):
        fault_on.add_toxic(proxy, "latency", "downstream", {"latency": 900, "jitter": 0})
    try:

        async def fire() -> list[dict]:
            task = asyncio.create_task(place(shop.entry_url(), 30, concurrency=30))
            await asyncio.sleep(0.4)  # inside the 0.9 s the shipping step now takes
            shop.kill("orders-1")
            return await task

        asyncio.run(fire())
        in_flight = [o for o in _orders_direct(shop) if o["state"] not in TERMINAL]
    finally:
        fault_on.remove_toxic("orders--shipping-1", "latency_downstream")
    shop.start_instance("orders-1")
    assert in_flight, "the kill found no saga in flight; the test proves nothing"
    orders = wait_all_terminal(shop, {o["id"] for o in in_flight})
    assert_consistent(shop, orders)


def _orders_direct(shop) -> list[dict]:
    """Read the orders database while the orders process is dead."""
    import sqlite3

    conn = sqlite3.connect(shop.dir / "data" / "orders" / "orders.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM orders")]
    finally:
        conn.close()
