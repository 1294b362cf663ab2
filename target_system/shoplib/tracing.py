"""OpenTelemetry tracing of the shop: server spans (FastAPI/ASGI instrumentation), client spans
(aiohttp-client instrumentation, W3C ``traceparent`` injected on every service-to-service call),
exported over OTLP/HTTP by a batch processor to ``SHOP_OTLP_ENDPOINT`` (the stack's Jaeger).

No endpoint: no provider is installed and every span is a no-op. An exporter that cannot reach
its endpoint drops the batch (the SDK logs a warning); a request never waits for an export.

What is sampled: every span whose trace starts at a server (a request from Locust or another
service) or at an explicit span of the shop (a saga re-driven in the background); a client call
that starts a trace of its own (etcd polling, lease keep-alives, discovery) is not recorded.

Attributes: ``saga_id`` on the saga's span, on every call made for it (the client span of each
attempt) and on the participant's server span; ``retry.attempt`` (0 for the first try) and
``peer.instance`` on every attempt. A call's attempts are siblings under the span that made it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind

from target_system.shoplib.config import ShopConfig

SAGA_ID = "saga_id"
ATTEMPT = "retry.attempt"
# (saga id, attempt, callee instance) of the call being made: read by the client request hook
_call: contextvars.ContextVar[tuple[str | None, int, str] | None] = contextvars.ContextVar(
    "shop_call", default=None
)
_saga: contextvars.ContextVar[str | None] = contextvars.ContextVar("shop_saga", default=None)

tracer = trace.get_tracer("target_system.shop")


class _Roots(Sampler):
    """A root span is a client call (background etcd traffic: never recorded) or a request that
    came without a trace (recorded for ``ratio`` of the trace ids)."""

    def __init__(self, ratio: float = 1.0) -> None:
        self.servers = ALWAYS_ON if ratio >= 1 else TraceIdRatioBased(max(ratio, 0.0))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        chosen = ALWAYS_OFF if kind == SpanKind.CLIENT else self.servers
        return chosen.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "RootsButClientCalls"


def setup(cfg: ShopConfig) -> bool:
    """Install the tracer provider and the aiohttp-client instrumentation when an endpoint is
    configured; whether tracing is on. Call before any aiohttp session is created."""
    if not cfg.otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": cfg.service, "service.instance.id": cfg.instance})
    provider = TracerProvider(resource=resource, sampler=ParentBased(root=_Roots(cfg.trace_sample)))
    exporter = OTLPSpanExporter(endpoint=cfg.otlp_endpoint.rstrip("/") + "/v1/traces", timeout=2)
    # small batches, sent every 0.5 s: the encoding of each holds the GIL only briefly (one big
    # batch of 512 showed as event-loop lag on a loaded machine)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=500, max_export_batch_size=64)
    )
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument(request_hook=_on_request)
    return True


def instrument_app(app: Any) -> None:
    """Server spans for every route but the harness's probes (health, metrics, config, audit)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # without the ASGI "http send" / "http receive" spans: more than half of all spans, none
    # of them evidence (measured on latency-orders-payments)
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/health,/metrics,/config,/audit", exclude_spans=["receive", "send"]
    )


def shutdown() -> None:
    """Flush what the batch processor holds (at most its export timeout)."""
    provider = trace.get_tracer_provider()
    stop = getattr(provider, "shutdown", None)
    if callable(stop):
        stop()


def _on_request(span: trace.Span, params: Any) -> None:
    call = _call.get()
    if call is None or not span.is_recording():
        return
    saga, attempt, instance = call
    span.set_attribute(ATTEMPT, attempt)
    span.set_attribute("peer.instance", instance)
    if saga:
        span.set_attribute(SAGA_ID, saga)


@contextmanager
def saga(saga_id: str) -> Iterator[trace.Span]:
    """The span of one saga drive; calls made inside carry its id."""
    token = _saga.set(saga_id)
    try:
        with tracer.start_as_current_span("saga", attributes={SAGA_ID: saga_id}) as span:
            yield span
    finally:
        _saga.reset(token)


@contextmanager
def attempt(number: int, instance: str) -> Iterator[None]:
    """Marks the client span the aiohttp instrumentation opens for this attempt (its
    ``retry.attempt``, ``peer.instance`` and the saga's id)."""
    token = _call.set((_saga.get(), number, instance))
    try:
        yield
    finally:
        _call.reset(token)


def tag_saga(saga_id: str) -> None:
    """``saga_id`` on the current span (a participant's server span)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(SAGA_ID, saga_id)


def current_trace_id() -> str | None:
    """The current span's trace id in hex (for log lines), or None outside a recorded span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return None
    return format(ctx.trace_id, "032x")
