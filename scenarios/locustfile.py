"""Locust load for the bundled shop: customers placing orders and reading their status.

Run by the harness as a subprocess (never imported by it: Locust monkey-patches with gevent).
Settings come from the environment the harness sets:

    STORMPROOF_REQUESTS_FILE  JSONL file: one line per request (start time, duration, outcome),
                              plus a {"event": "spawned"} line when all users are running
    STORMPROOF_RATE           requests per second per user (constant_throughput), default 2
    STORMPROOF_STAGES         JSON list of {"duration": s, "users": n, "spawn_rate": r}
    STORMPROOF_SEED           seeds the choice of sku and customer
    STORMPROOF_BROKE_SHARE    share of orders from customers with no money (a business
                              failure that exercises compensation), default 0.05

Locust's own per-second history is smoothed over about 10 s; the JSONL file is the exact record
the checks read.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid

from locust import FastHttpUser, LoadTestShape, constant_throughput, events, task

_RATE = float(os.environ.get("STORMPROOF_RATE", "2"))
_STAGES = json.loads(os.environ.get("STORMPROOF_STAGES", "[]"))
_BROKE_SHARE = float(os.environ.get("STORMPROOF_BROKE_SHARE", "0.05"))
_rng = random.Random(os.environ.get("STORMPROOF_SEED", "0"))
_out = None


def _write(record: dict) -> None:
    global _out
    path = os.environ.get("STORMPROOF_REQUESTS_FILE")
    if not path:
        return
    if _out is None:
        _out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives with the process
    _out.write(json.dumps(record, separators=(",", ":")) + "\n")


@events.request.add_listener
def _on_request(request_type, name, response_time, response, exception, start_time=None, **_kw):
    status = getattr(response, "status_code", 0) or 0
    state = None
    if exception is None and name == "POST /orders":
        try:
            state = response.json().get("state")
        except Exception:  # a body that is not JSON is recorded without a state
            state = None
    _write(
        {
            "t": start_time if start_time is not None else time.time() - response_time / 1000,
            "ms": round(response_time, 3),
            "name": name,
            "ok": exception is None,
            "status": status,
            "error": None if exception is None else str(exception)[:200],
            "state": state,
            "pid": os.getpid(),
        }
    )


@events.spawning_complete.add_listener
def _on_spawned(user_count, **_kw):
    _write({"event": "spawned", "t": time.time(), "users": user_count})


class Customer(FastHttpUser):
    wait_time = constant_throughput(_RATE)
    # A request never waits longer than the gateway's own deadline plus a margin.
    connection_timeout = 5.0
    network_timeout = 10.0

    @task(5)
    def place_order(self) -> None:
        broke = _rng.random() < _BROKE_SHARE
        customer = f"broke-{_rng.randint(1, 5)}" if broke else f"customer-{_rng.randint(1, 50)}"
        body = {
            "sku": f"sku-{_rng.randint(1, 5)}",
            "quantity": _rng.randint(1, 3),
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


if _STAGES:

    class Stages(LoadTestShape):
        """The scenario's staged load: each stage holds its user count for its duration."""

        def tick(self):
            elapsed = self.get_run_time()
            for stage in _STAGES:
                if elapsed < stage["duration"]:
                    return stage["users"], stage["spawn_rate"]
                elapsed -= stage["duration"]
            return None
