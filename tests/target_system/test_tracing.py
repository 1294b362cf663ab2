"""The shop's tracing without a collector: what is sampled, what a log line carries, and that
no endpoint means no provider (target_system/shoplib/tracing.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanKind

from target_system.shoplib import tracing
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.logs import _Json


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    p = TracerProvider(sampler=ParentBased(root=tracing._Roots()))
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p, exporter


def test_a_client_call_that_starts_a_trace_is_dropped_a_server_or_saga_span_is_kept() -> None:
    p, exporter = provider()
    t = p.get_tracer("test")
    with t.start_as_current_span("etcd lease keep-alive", kind=SpanKind.CLIENT):
        pass
    with (
        t.start_as_current_span("POST /orders", kind=SpanKind.SERVER),
        t.start_as_current_span("POST", kind=SpanKind.CLIENT),
    ):
        pass
    with t.start_as_current_span("saga"):  # a re-drive in the background
        pass
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["POST", "POST /orders", "saga"]


def test_calls_inside_a_saga_carry_its_id_and_attempts_their_number() -> None:
    p, exporter = provider()
    tracing_tracer = tracing.tracer
    tracing.tracer = p.get_tracer("test")
    try:
        with (
            tracing.saga("s-1"),
            tracing.attempt(2, "payments-2"),
            tracing.tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as sp,
        ):
            tracing._on_request(sp, None)  # what the aiohttp hook does
    finally:
        tracing.tracer = tracing_tracer
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["saga"].attributes["saga_id"] == "s-1"
    assert spans["POST"].attributes["retry.attempt"] == 2
    assert spans["POST"].attributes["peer.instance"] == "payments-2"
    assert spans["POST"].attributes["saga_id"] == "s-1"


def test_a_log_line_inside_a_recorded_span_carries_its_trace_id(tmp_path: Path) -> None:
    cfg = ShopConfig(service="orders", instance="orders-1", port=1, data_dir=tmp_path)
    fmt = _Json(cfg)
    record = logging.LogRecord("shop", logging.INFO, __file__, 1, "saga done", None, None)
    record.saga_id = "s-9"
    assert "trace_id" not in json.loads(fmt.format(record))
    p, _ = provider()
    with p.get_tracer("test").start_as_current_span("POST /orders", kind=SpanKind.SERVER) as sp:
        line = json.loads(fmt.format(record))
    assert line["trace_id"] == format(sp.get_span_context().trace_id, "032x")
    assert line["saga_id"] == "s-9"


def test_no_endpoint_installs_nothing(tmp_path: Path) -> None:
    cfg = ShopConfig(service="orders", instance="orders-1", port=1, data_dir=tmp_path)
    assert tracing.setup(cfg) is False
    env = {"SHOP_SERVICE": "orders", "SHOP_PORT": "1", "SHOP_DATA_DIR": str(tmp_path)}
    assert ShopConfig.from_env(env).otlp_endpoint is None
    env["SHOP_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
    assert ShopConfig.from_env(env).otlp_endpoint == "http://127.0.0.1:4318"


def test_the_gate_traces_a_sampled_request_and_passes_an_unsampled_one_on() -> None:
    sampled = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    unsampled = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"
    assert tracing.decide(sampled, 0.0) == (True, None)
    assert tracing.decide(unsampled, 1.0) == (False, unsampled)  # the caller's choice wins
    assert tracing.decide(None, 1.0) == (True, None)
    traced, passed = tracing.decide("garbage", 0.0)  # no valid header: the service's share
    assert traced is False and passed is not None
    assert passed.startswith("00-") and passed.endswith("-00") and len(passed) == 55
    token = tracing._passed.set(unsampled)
    try:
        assert tracing.passed_on() == unsampled
        assert tracing.current_trace_id() == "c" * 32  # log lines carry it, unrecorded
    finally:
        tracing._passed.reset(token)
    assert tracing.passed_on() is None and tracing.current_trace_id() is None


def test_the_gate_sends_only_sampled_requests_through_the_instrumentation() -> None:
    import asyncio

    seen: list[str | None] = []

    async def app(scope, receive, send):  # the plain app: what it sees of the trace
        seen.append(tracing.passed_on())

    gate = tracing.Gate(app, 0.0)
    went_traced: list[dict] = []

    async def traced(scope, receive, send):
        went_traced.append(scope)

    gate.traced = traced
    unsampled = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"
    sampled = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"

    def scope(path: str, header: str | None) -> dict:
        headers = [(b"traceparent", header.encode())] if header else []
        return {"type": "http", "path": path, "method": "GET", "headers": headers}

    async def go() -> None:
        await gate(scope("/orders", sampled), None, None)
        await gate(scope("/orders", unsampled), None, None)
        await gate(scope("/health", sampled), None, None)  # probes never traced
        await gate(scope("/orders", None), None, None)  # share 0: a new unsampled trace

    asyncio.run(go())
    assert len(went_traced) == 1
    assert seen[0] == unsampled and seen[1] is None
    assert seen[2] is not None and seen[2].endswith("-00")


def test_calls_after_the_request_span_ended_stay_in_its_sampled_trace() -> None:
    p, _ = provider()
    span = p.get_tracer("test").start_span("POST /orders", kind=SpanKind.SERVER)
    with trace.use_span(span, end_on_exit=True):
        assert tracing.recording()
    assert not span.is_recording()  # ended, as when a saga retries after the reply went out
    with trace.use_span(span):
        assert tracing.recording()  # its calls still go through the traced session
    assert not tracing.recording()  # no trace at all


def test_a_saga_driven_for_an_unsampled_request_records_nothing() -> None:
    """Its saga span is a child of the request's unsampled trace (not a new sampled root), so
    its calls go out untraced; a saga started outside any request is still recorded."""
    import asyncio

    p, exporter = provider()
    t = p.get_tracer("test")
    unsampled = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"
    seen: list[tuple[bool, bool, str | None]] = []

    async def app(scope, receive, send):  # what orders does: a saga span, then its calls
        with t.start_as_current_span("saga") as span:
            seen.append((span.is_recording(), tracing.recording(), tracing.current_trace_id()))
            seen.append((False, False, tracing.passed_on()))

    gate = tracing.Gate(app, 0.0)
    scope = {"type": "http", "path": "/orders", "method": "POST"}

    async def go() -> None:
        await gate({**scope, "headers": [(b"traceparent", unsampled.encode())]}, None, None)
        await gate({**scope, "headers": []}, None, None)  # share 0: a new unsampled trace

    asyncio.run(go())
    assert seen[0] == (False, False, "c" * 32)
    assert seen[1][2] == unsampled
    assert seen[2][:2] == (False, False) and seen[2][2] == seen[3][2][3:35]
    assert exporter.get_finished_spans() == ()
    assert not tracing.recording()  # the request's context is gone after it
    with t.start_as_current_span("saga"):  # a re-drive in the background
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["saga"]
