"""The shop's traces in the stack's real Jaeger: a few orders, one trace from the gateway
through orders to payments, with saga ids, and the log lines that carry its trace id."""

from __future__ import annotations

import json
import signal
import time
import uuid

import httpx
import pytest

from harness.errors import InfraUnavailable
from harness.infra.jaeger import JaegerQuery

pytestmark = pytest.mark.integration


def services_of(trace: dict) -> set[str]:
    return {p["serviceName"] for p in trace["processes"].values()}


def tags(span: dict) -> dict:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def orders_log_about(stack, saga: str) -> list[dict]:
    """The JSON lines orders-1 logged about ``saga``."""
    lines = stack.log_files()["orders-1"].read_text().splitlines()
    records = [json.loads(x) for x in lines if x.startswith("{")]
    return [r for r in records if r.get("saga_id") == saga]


def test_an_unsampled_saga_in_trouble_is_traced_from_then_on_in_its_trace_id(shop_stack) -> None:
    """An order whose traceparent is not sampled records nothing while it goes well; once its
    charge is refused (a customer with no money), orders records the rest of the saga (the
    compensation, and inventory's side of it) in the same trace id, which Jaeger then holds."""
    stack = shop_stack
    query = JaegerQuery(stack.jaeger_url())
    ids = {"healthy": uuid.uuid4().hex, "broke": uuid.uuid4().hex}
    with httpx.Client(timeout=20) as client:
        for who, trace_id in ids.items():
            r = client.post(
                stack.entry_url() + "/orders",
                json={
                    "sku": "sku-1",
                    "quantity": 1,
                    "customer": "broke-1" if who == "broke" else "customer-1",
                    "idempotency_key": str(uuid.uuid4()),
                },
                headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-00"},
            )
            assert r.status_code == 201, r.text
            assert r.json()["state"] == ("CANCELLED" if who == "broke" else "COMPLETED")
    deadline = time.monotonic() + 20
    trace = None
    while trace is None and time.monotonic() < deadline:
        trace = query.trace(ids["broke"])
        time.sleep(0.5)
    assert trace is not None, "no trace of the saga whose charge was refused"
    time.sleep(1.0)  # the batch processors' last spans (every 0.5 s)
    trace = query.trace(ids["broke"])
    assert trace is not None
    by_pid = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    spans = [(by_pid[s["processID"]], s["operationName"], tags(s)) for s in trace["spans"]]
    assert "gateway" not in {svc for svc, _, _ in spans}  # the request itself: not recorded
    (escalated,) = [t for svc, op, t in spans if op == "saga (traced from first error)"]
    assert escalated["trouble"].startswith("charge rejected: insufficient_funds")
    saga = escalated["saga_id"]
    assert [op for svc, op, t in spans if svc == "inventory" and t.get("saga_id") == saga] == [
        "POST /reservations/{saga_id}/release"
    ]
    assert not [op for svc, op, _ in spans if svc == "payments"]  # the refused charge: before
    # the orders log's lines about the saga carry the same trace id
    time.sleep(0.2)
    about = orders_log_about(stack, saga)
    assert about and all(x.get("trace_id") == ids["broke"] for x in about)
    # the healthy one recorded nothing; an id Jaeger never saw is None, not an error
    assert query.trace(ids["healthy"]) is None


def test_an_order_is_one_trace_across_services_with_its_saga_id(shop_stack) -> None:
    stack = shop_stack
    assert stack.timings["jaeger_ready"] < 20
    t0 = time.time()
    trace_ids = []
    with httpx.Client(timeout=20) as client:
        for i in range(3):
            trace_id = uuid.uuid4().hex
            r = client.post(
                stack.entry_url() + "/orders",
                json={
                    "sku": "sku-1",
                    "quantity": 1,
                    "customer": f"c-{i}",
                    "idempotency_key": str(uuid.uuid4()),
                },
                headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
            )
            assert r.status_code in (201, 202), r.text
            trace_ids.append(trace_id)
    query = JaegerQuery(stack.jaeger_url())
    deadline = time.monotonic() + 20
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [
            t
            for t in query.traces("gateway", t0 - 1, time.time() + 1, 50)
            if t["traceID"] in trace_ids and {"gateway", "orders", "payments"} <= services_of(t)
        ]
        if found:
            break
        time.sleep(0.5)
    assert found, f"no trace gateway -> orders -> payments among {trace_ids}"
    trace = found[0]
    spans = trace["spans"]
    by_service = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    sagas = {tags(s).get("saga_id") for s in spans} - {None}
    assert len(sagas) == 1, sagas
    saga = sagas.pop()
    charged = [
        s
        for s in spans
        if by_service[s["processID"]] == "payments" and tags(s).get("saga_id") == saga
    ]
    assert charged, "the payments server span carries the saga id"
    attempts = [s for s in spans if "retry.attempt" in tags(s)]
    assert attempts and all(tags(s)["retry.attempt"] == 0 for s in attempts)
    # the entry span continues the caller's traceparent (its parent is the caller's span)
    assert trace["traceID"] in trace_ids
    # the orders log's lines about this saga carry this trace id
    time.sleep(0.5)
    about = orders_log_about(stack, saga)
    assert about and all(x.get("trace_id") == trace["traceID"] for x in about)
    # Jaeger gone: the query is "unavailable", the stack's settle starts it again
    stack.records["jaeger"].signal(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while stack.records["jaeger"].alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(InfraUnavailable):
        query.services()
    stack.settle()
    assert stack.records["jaeger"].alive() and query.services() == []
