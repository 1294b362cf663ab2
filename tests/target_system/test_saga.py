"""The saga state machine against a scripted fake client and a real SQLite database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from target_system.db import Database
from target_system.services.orders import SCHEMA, Saga
from target_system.shoplib.client import CallFailed, Reply
from target_system.shoplib.config import ShopConfig


class FakeClient:
    """Answers by (service, path suffix); records every call in order."""

    def __init__(self, script: dict[str, object]) -> None:
        self.script = script
        self.calls: list[str] = []

    async def call(self, service, method, path, json=None, **_kw):
        key = f"{service} {path.split('/')[-1] if path.count('/') > 1 else path}"
        self.calls.append(key)
        answer = self.script.get(key, 200)
        if isinstance(answer, Exception):
            raise answer
        return Reply(answer, {"result": "ok" if answer == 200 else "no"}, f"{service}-1")


def cfg(tmp_path: Path, bugs: frozenset[str] = frozenset()) -> ShopConfig:
    return ShopConfig(service="orders", instance="orders-1", port=1, data_dir=tmp_path, bugs=bugs)


def run(coro):
    return asyncio.run(coro)


async def new_saga(saga: Saga, state: str = "PENDING") -> str:
    now = time.time()
    await saga.db.write(
        lambda c: c.execute(
            "INSERT INTO orders VALUES"
            " ('s1', 's1', 'k1', 'sku-2', 1, 'c', 200, ?, NULL, NULL, ?, ?)",
            (state, now, now),
        )
    )
    return "s1"


def drive(tmp_path: Path, script: dict, state: str = "PENDING", bugs=frozenset()):
    async def go():
        db = Database(tmp_path / "orders.db", SCHEMA)
        client = FakeClient(script)
        saga = Saga(cfg(tmp_path, bugs), db, client)
        sid = await new_saga(saga, state)
        await saga.start(sid)
        order = await saga.order(sid)
        db.close()
        return order, client.calls

    return run(go())


FAIL = CallFailed("x", "timeout", "no answer")


async def step_rows(db: Database, sid: str) -> list[tuple[str, str]]:
    """The saga's log, (step, status) in the order it was written."""
    return await db.read(
        lambda c: [
            (r["step"], r["status"])
            for r in c.execute("SELECT step, status FROM steps WHERE saga_id=? ORDER BY id", (sid,))
        ]
    )


def test_happy_path_completes_in_order(tmp_path):
    order, calls = drive(tmp_path, {})
    assert order["state"] == "COMPLETED"
    assert calls == ["inventory /reservations", "payments /charges", "shipping /shipments"]


def test_business_rejection_compensates_only_earlier_steps(tmp_path):
    order, calls = drive(tmp_path, {"payments /charges": 402})
    assert order["state"] == "CANCELLED"
    assert "charge rejected" in order["reason"]
    assert calls[-1] == "inventory release" and "payments refund" not in calls


def test_failed_step_is_compensated_too_in_reverse_order(tmp_path):
    order, calls = drive(tmp_path, {"shipping /shipments": FAIL})
    assert order["state"] == "CANCELLED"
    assert calls[3:] == ["shipping cancel", "payments refund", "inventory release"]


def test_unreachable_compensation_leaves_compensating_then_redrive_finishes(tmp_path):
    async def go():
        db = Database(tmp_path / "orders.db", SCHEMA)
        client = FakeClient({"payments /charges": FAIL, "payments refund": FAIL})
        saga = Saga(cfg(tmp_path), db, client)
        sid = await new_saga(saga)
        await saga.start(sid)
        stuck = (await saga.order(sid))["state"]
        client.script = {}  # payments reachable again
        await saga.start(sid)
        return stuck, (await saga.order(sid))["state"], client.calls

    stuck, final, calls = run(go())
    assert stuck == "COMPENSATING"
    assert final == "CANCELLED"
    assert calls.count("inventory release") == 1  # released once, after the refund went through


def test_no_compensation_bug_leaves_the_reservation(tmp_path):
    order, calls = drive(tmp_path, {"payments /charges": 402}, bugs=frozenset({"no_compensation"}))
    assert order["state"] == "CANCELLED"
    assert "inventory release" not in calls


@pytest.mark.parametrize(
    ("state", "first"), [("CHARGING", "payments /charges"), ("SHIPPING", "shipping /shipments")]
)
def test_redrive_resumes_at_the_step_in_flight(tmp_path, state, first):
    order, calls = drive(tmp_path, {}, state=state)
    assert order["state"] == "COMPLETED"
    assert calls[0] == first


def test_no_redrive_bug_skips_sagas_of_a_previous_process(tmp_path):
    async def go(bugs):
        db = Database(tmp_path / f"o{len(bugs)}.db", SCHEMA)
        saga = Saga(cfg(tmp_path, bugs), db, FakeClient({}))
        sid = await new_saga(saga, "CHARGING")
        loop = asyncio.create_task(saga.redrive_loop(at_start=True))
        await asyncio.sleep(0.2)
        loop.cancel()
        for t in list(saga.running.values()):
            await t
        return (await saga.order(sid))["state"]

    assert run(go(frozenset())) == "COMPLETED"
    assert run(go(frozenset({"no_redrive"}))) == "CHARGING"


def test_a_step_outcome_is_committed_with_the_next_state_and_the_log_keeps_its_order(tmp_path):
    """Four commits for a completed saga (one per state), the steps' rows as before: each
    state written before its step, each outcome before the next state."""

    class Counting(Database):
        writes = 0

        async def write(self, fn):
            Counting.writes += 1
            return await super().write(fn)

    async def go():
        db = Counting(tmp_path / "orders.db", SCHEMA)
        saga = Saga(cfg(tmp_path), db, FakeClient({}))
        sid = await new_saga(saga)
        before = Counting.writes
        ended = await saga.start(sid)
        rows = await step_rows(db, sid)
        stored = await saga.order(sid)
        db.close()
        return Counting.writes - before, ended, stored, rows

    writes, ended, stored, rows = run(go())
    assert writes == 4
    assert ended == stored and stored["state"] == "COMPLETED"  # the drive returns the commit
    assert rows == [
        ("state", "RESERVING"),
        ("reserve", "ok"),
        ("state", "CHARGING"),
        ("charge", "ok"),
        ("state", "SHIPPING"),
        ("ship", "ok"),
        ("state", "COMPLETED"),
    ]


def test_a_failed_step_is_logged_with_compensating_and_the_drive_returns_the_end(tmp_path):
    async def go():
        db = Database(tmp_path / "orders.db", SCHEMA)
        saga = Saga(cfg(tmp_path), db, FakeClient({"payments /charges": FAIL}))
        sid = await new_saga(saga)
        ended = await saga.start(sid)
        rows = await step_rows(db, sid)
        db.close()
        return ended, rows

    ended, rows = run(go())
    assert ended["state"] == "CANCELLED" and ended["comp_from"] == 1
    assert rows[2:5] == [("state", "CHARGING"), ("charge", "failed"), ("state", "COMPENSATING")]


@pytest.mark.parametrize("bugs", [frozenset(), frozenset({"no_compensation"})])
def test_a_rejected_step_of_an_unsampled_saga_is_traced_from_then_on(tmp_path, bugs):
    """The saga's trace was not sampled: when a step is rejected (the client saw no failure,
    so nothing was escalated yet), the saga opens its escalated span in the same trace id."""
    from opentelemetry import context as otel_context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased

    from target_system.shoplib import tracing

    exporter = InMemorySpanExporter()
    p = TracerProvider(sampler=ParentBased(root=tracing._Roots()))
    p.add_span_processor(SimpleSpanProcessor(exporter))
    saved, tracing.tracer = tracing.tracer, p.get_tracer("test")
    unsampled = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"
    attached = otel_context.attach(tracing._unsampled(unsampled))
    try:
        order, _ = drive(tmp_path, {"payments /charges": 402}, bugs=bugs)
    finally:
        otel_context.detach(attached)
        tracing.tracer = saved
    assert order["state"] == "CANCELLED"
    (span,) = exporter.get_finished_spans()
    assert span.name == tracing.ESCALATED and span.context.trace_id == int("c" * 32, 16)
    assert span.attributes["saga_id"] == "s1"
    assert span.attributes["trouble"] == "charge rejected: no"
