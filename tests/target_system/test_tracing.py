"""The shop's tracing without a collector: what is sampled, what a log line carries, and that
no endpoint means no provider (target_system/shoplib/tracing.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from opentelemetry import context as otel_context
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


# -- a saga in trouble is traced from then on -------------------------------------------------


class _Answer:
    def __init__(self, status: int) -> None:
        self.status = status

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def json(self, content_type: object = None) -> dict:
        return {"result": "ok" if self.status < 400 else "no"}

    def close(self) -> None:
        pass


class _Session:
    """Answers with the next status; records, per request, what the trace looked like."""

    def __init__(self, name: str, statuses: list[int], seen: list[tuple]) -> None:
        self.name, self.statuses, self.seen = name, statuses, seen

    def request(self, method: str, url: str, headers: dict | None = None, **_kw: object):
        span = trace.get_current_span()
        ctx = span.get_span_context()
        header = (headers or {}).get("traceparent")
        self.seen.append((self.name, url, span.is_recording(), ctx.trace_id, ctx.span_id, header))
        return _Answer(self.statuses.pop(0))


class _Two:
    def endpoints(self, service: str) -> list:
        from target_system.shoplib.discovery import Endpoint

        return [Endpoint(f"{service}-1", "127.0.0.1:9")]


UNSAMPLED = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"


def _saga_with_calls(tmp_path: Path, statuses: list[int], traceparent: str | None) -> tuple:
    """A saga driven under a request with this traceparent (None: a sampled request), its two
    calls (payments, then inventory) answered with ``statuses`` in turn, through a client whose
    untraced and traced sessions are fakes; the spans exported and what each request saw."""
    import asyncio

    from target_system.shoplib.client import ServiceClient

    p, exporter = provider()
    cfg = ShopConfig(
        service="orders", instance="orders-1", port=1, data_dir=tmp_path, retry_base=0.001
    )
    seen: list[tuple] = []
    shared = list(statuses)
    client = ServiceClient(
        cfg,
        _Two(),
        _Session("plain", shared, seen),
        traced_session=_Session("traced", shared, seen),
    )  # type: ignore[arg-type]
    saved = tracing.tracer
    tracing.tracer = p.get_tracer("test")

    async def go() -> None:
        with tracing.saga("s-7"):
            await client.call("payments", "POST", "/charges", {"saga_id": "s-7"})
            await client.call("inventory", "POST", "/reservations/s-7/release")

    async def served() -> None:  # as the gate serves the request, and orders its saga
        if traceparent is None:
            with p.get_tracer("test").start_as_current_span("POST /orders"):
                await go()
            return
        token = tracing._passed.set(traceparent)
        attached = otel_context.attach(tracing._unsampled(traceparent))
        try:
            await asyncio.create_task(go())
        finally:
            otel_context.detach(attached)
            tracing._passed.reset(token)

    try:
        asyncio.run(served())
    finally:
        tracing.tracer = saved
    return {s.name: s for s in exporter.get_finished_spans()}, seen


def test_an_unsampled_saga_is_traced_in_its_own_trace_id_from_its_first_failed_call(
    tmp_path: Path,
) -> None:
    spans, seen = _saga_with_calls(tmp_path, [503, 200, 200], UNSAMPLED)
    # the first attempt went out untraced, passing the unsampled traceparent on
    assert seen[0][0] == "plain" and seen[0][2] is False and seen[0][5] == UNSAMPLED
    # its retry and the next call (a compensation) are recorded, in the same trace id
    assert [s[0] for s in seen[1:]] == ["traced", "traced"]
    assert all(s[2] and s[3] == int("c" * 32, 16) for s in seen[1:])
    escalated = spans[tracing.ESCALATED]
    assert escalated.context.trace_id == int("c" * 32, 16)
    assert escalated.context.trace_flags.sampled
    assert escalated.attributes["saga_id"] == "s-7"
    assert escalated.attributes["trouble"].startswith("payments error: payments-1: HTTP 503")
    # its parent is the saga's own span, which is not recorded (not exported)
    assert escalated.parent is not None and escalated.parent.span_id != int("d" * 16, 16)
    assert "saga" not in spans and set(spans) == {tracing.ESCALATED}
    assert all(s[4] == escalated.context.span_id for s in seen[1:])  # the attempts' parent
    assert escalated.end_time is not None  # ended with the drive


def test_an_unsampled_saga_refused_by_an_open_breaker_is_traced_for_what_follows(
    tmp_path: Path,
) -> None:
    import asyncio

    from target_system.shoplib.client import CallFailed, ServiceClient

    p, exporter = provider()
    cfg = ShopConfig(service="orders", instance="orders-1", port=1, data_dir=tmp_path)
    seen: list[tuple] = []
    client = ServiceClient(
        cfg, _Two(), _Session("plain", [], seen), traced_session=_Session("traced", [200], seen)
    )  # type: ignore[arg-type]
    br = client.breaker("payments", "payments-1")
    br.stuck_open = True  # stays open once opened
    br._move("open")
    saved = tracing.tracer
    tracing.tracer = p.get_tracer("test")

    async def go() -> None:
        attached = otel_context.attach(tracing._unsampled(UNSAMPLED))
        try:
            with tracing.saga("s-8"):
                try:
                    await client.call("payments", "POST", "/charges")
                except CallFailed as exc:
                    assert exc.reason == "breaker_open"
                await client.call("inventory", "POST", "/reservations/s-8/release")
        finally:
            otel_context.detach(attached)

    try:
        asyncio.run(go())
    finally:
        tracing.tracer = saved
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans[tracing.ESCALATED].attributes["trouble"] == "payments breaker_open"
    assert [s[0] for s in seen] == ["traced"] and seen[0][2]


def test_a_healthy_or_sampled_saga_is_not_escalated(tmp_path: Path) -> None:
    spans, seen = _saga_with_calls(tmp_path, [200, 200], UNSAMPLED)
    assert spans == {} and [s[0] for s in seen] == ["plain", "plain"]
    # sampled from the start: its retry is in its trace already, no second span
    spans, seen = _saga_with_calls(tmp_path, [503, 200, 200], None)
    assert tracing.ESCALATED not in spans and {"saga", "POST /orders"} <= set(spans)
    assert [s[0] for s in seen] == ["traced"] * 3
    # outside a saga (the gateway's calls) and with no tracer provider: nothing to escalate
    assert tracing.trouble("x") is False
    with tracing.saga("s-9"):
        assert tracing.trouble("x") is False  # the API's no-op tracer: nothing records
