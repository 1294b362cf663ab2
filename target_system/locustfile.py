"""Locust load for the bundled shop: customers placing orders and reading their status.

An ordinary locustfile, written as the shop's users would write it: no Stormproof hook. The
harness runs it through the bundled topology's ``load:`` section and loads its own recorder
beside it (``harness/locust_recorder.py``: the per-request log, the scenario's ``rate``, stages
and seed). By hand: ``locust -f target_system/locustfile.py --host http://127.0.0.1:PORT``.

About 5 % of orders come from customers with no money (a business failure that exercises
compensation in every scenario). Every order carries an idempotency key.
"""

from __future__ import annotations

import random
import uuid

from locust import FastHttpUser, constant_throughput, task

BROKE_SHARE = 0.05


class Customer(FastHttpUser):
    wait_time = constant_throughput(2)
    # A request never waits longer than the gateway's own deadline plus a margin.
    connection_timeout = 5.0
    network_timeout = 10.0

    @task(5)
    def place_order(self) -> None:
        broke = random.random() < BROKE_SHARE
        customer = f"broke-{random.randint(1, 5)}" if broke else f"customer-{random.randint(1, 50)}"
        body = {
            "sku": f"sku-{random.randint(1, 5)}",
            "quantity": random.randint(1, 3),
            "customer": customer,
            "idempotency_key": str(uuid.uuid4()),
        }
        with self.client.post("/orders", json=body, name="POST /orders", catch_response=True) as r:
            if r.status_code in (200, 201, 202):
                r.success()
                try:
                    self._last = r.json().get("id")
                except Exception:
                    self._last = None
            else:
                r.failure(f"HTTP {r.status_code}")

    @task(1)
    def read_order(self) -> None:
        order_id = getattr(self, "_last", None)
        if not order_id:
            return
        self.client.get(f"/orders/{order_id}", name="GET /orders/{id}")
