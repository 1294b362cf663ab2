"""OpenTelemetry tracing of the shop: server spans (FastAPI/ASGI instrumentation), client spans
(aiohttp-client instrumentation, W3C ``traceparent`` injected on every service-to-service call),
exported over OTLP/HTTP by a batch processor to ``SHOP_OTLP_ENDPOINT`` (the stack's Jaeger).

No endpoint: no provider is installed and every span is a no-op. An exporter that cannot reach
its endpoint drops the batch (the SDK logs a warning); a request never waits for an export.

What is sampled: a request whose ``traceparent`` has the sampled flag (Locust's recorder sets
it for the load's share of requests), a request without one for ``SHOP_TRACE_SAMPLE`` of them,
and an explicit span of the shop that starts a trace (a saga re-driven in the background; the
saga of a request is in the request's trace, sampled or not); a client call that starts a
trace of its own (etcd polling, lease keep-alives, discovery) is not recorded.

A request that is not sampled never enters the instrumentation (``Gate``): the ASGI and
aiohttp instrumentations cost about a third of the shop's throughput per request even when
they record nothing (docs/performance.md). Its ``traceparent`` (or a new unsampled one) is
passed on unchanged by its calls, so its callees skip the instrumentation too and every
service's log lines about it carry the same trace id.

A saga in trouble is traced from then on (``trouble``): when a saga whose trace is not sampled
has a call fail, time out, be refused by an open breaker or need a retry, or starts compensating,
a span "saga (traced from first error)" opens in the SAME trace id (its parent: the saga's
unrecorded span), sampled, and the saga's later attempts run under it until the drive ends: its
retries, its compensations and the participants' server spans for them (they receive a sampled
``traceparent``) are recorded and exported. What came before (the first failed attempt, the
request's spans) is not; the span says why it opened (``trouble``). A healthy saga pays one
context-variable read per attempt. Outside a saga (the gateway's calls) nothing is escalated.

Attributes: ``saga_id`` on the saga's span, on every call made for it (the client span of each
attempt) and on the participant's server span; ``retry.attempt`` (0 for the first try) and
``peer.instance`` on every attempt. A call's attempts are siblings under the span that made it.
"""

from __future__ import annotations

import contextvars
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import SpanKind

from target_system.shoplib.config import ShopConfig

SAGA_ID = "saga_id"
ATTEMPT = "retry.attempt"
# (saga id, attempt, callee instance) of the call being made: read by the client request hook
_call: contextvars.ContextVar[tuple[str | None, int, str] | None] = contextvars.ContextVar(
    "shop_call", default=None
)


class _SagaTrace:
    """The saga being driven: its id, and once it ran into trouble while unsampled, the span
    that records the rest of it (and that span as a context to run attempts in)."""

    def __init__(self, saga_id: str) -> None:
        self.saga_id = saga_id
        self.span: trace.Span | None = None
        self.context: Context | None = None


_saga: contextvars.ContextVar[_SagaTrace | None] = contextvars.ContextVar("shop_saga", default=None)
# the traceparent of the request being served when it is not sampled, passed on by its calls
_passed: contextvars.ContextVar[str | None] = contextvars.ContextVar("shop_passed", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$")
# the harness's probes: never traced
UNTRACED = ("/health", "/metrics", "/config", "/audit")
ESCALATED = "saga (traced from first error)"
TROUBLE = "trouble"  # the escalated span's attribute: what made the saga traced

tracer = trace.get_tracer("target_system.shop")


class _Roots(Sampler):
    """A root span is a client call (background etcd traffic: never recorded) or a request that
    came without a trace (recorded for ``ratio`` of the trace ids)."""

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
        chosen = ALWAYS_OFF if kind == SpanKind.CLIENT else ALWAYS_ON
        return chosen.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "RootsButClientCalls"


def decide(header: str | None, ratio: float) -> tuple[bool, str | None]:
    """Whether a request with this ``traceparent`` is traced; when it is not, the traceparent
    its calls pass on (the one it came with, or a new unsampled one)."""
    found = _TRACEPARENT.match(header.strip().lower()) if header else None
    if found is not None:
        sampled = (int(found.group(2), 16) & 1) == 1
        return sampled, None if sampled else header.strip().lower()
    if ratio >= 1 or random.random() < ratio:
        return True, None
    return False, f"00-{random.getrandbits(128):032x}-{random.getrandbits(64):016x}-00"


class Gate:
    """ASGI: a sampled request goes through the OpenTelemetry ASGI middleware (a server span
    named after its route), any other straight to the app, its traceparent kept for its calls
    and log lines."""

    def __init__(self, app: Any, ratio: float) -> None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        self.app, self.ratio = app, ratio
        # without the "http send" / "http receive" spans: more than half of all spans, none of
        # them evidence (measured on latency-orders-payments)
        self.traced = OpenTelemetryMiddleware(
            app, default_span_details=self._span_details, exclude_spans=["receive", "send"]
        )

    def _span_details(self, scope: dict[str, Any]) -> tuple[str, dict[str, str]]:
        from starlette.routing import Match

        method = scope.get("method", "HTTP")
        for route in getattr(self.app, "routes", []):
            if route.matches(scope)[0] == Match.FULL:
                return f"{method} {route.path}", {"http.route": route.path}
        return method, {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNTRACED):
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), None
        )
        sampled, passed = decide(header, self.ratio)
        if sampled:
            await self.traced(scope, receive, send)
            return
        token = _passed.set(passed)
        # its trace, unsampled, as the current context: a span the shop starts while serving it
        # (the saga's) is a child that is not recorded either (ParentBased), as are its calls
        attached = otel_context.attach(_unsampled(passed))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(attached)
            _passed.reset(token)


def _unsampled(traceparent: str | None) -> Context:
    """A context whose current span is the (remote, unsampled) one of ``traceparent``."""
    span = trace.NonRecordingSpan(
        trace.SpanContext(
            int(traceparent[3:35], 16),
            int(traceparent[36:52], 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(0),
        )
        if traceparent
        else trace.INVALID_SPAN_CONTEXT
    )
    return trace.set_span_in_context(span)


def passed_on() -> str | None:
    """The traceparent a call passes on when the request it serves is not traced."""
    return _passed.get()


def recording() -> bool:
    """Whether the current trace is sampled (then a call goes through the traced session).
    The sampled flag, not ``is_recording()``: a saga's calls go on after the request's server
    span has ended (retries, the background drive), and belong to its trace all the same."""
    ctx = trace.get_current_span().get_span_context()
    return ctx.is_valid and ctx.trace_flags.sampled


def setup(cfg: ShopConfig) -> bool:
    """Install the tracer provider when an endpoint is configured; whether tracing is on."""
    if not cfg.otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": cfg.service, "service.instance.id": cfg.instance})
    provider = TracerProvider(resource=resource, sampler=ParentBased(root=_Roots()))
    exporter = OTLPSpanExporter(endpoint=cfg.otlp_endpoint.rstrip("/") + "/v1/traces", timeout=2)
    # small batches, sent every 0.5 s: the encoding of each holds the GIL only briefly (one big
    # batch of 512 showed as event-loop lag on a loaded machine)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=500, max_export_batch_size=64)
    )
    trace.set_tracer_provider(provider)
    return True


def client_trace_configs() -> list[Any]:
    """The aiohttp-client instrumentation for the session that carries traced calls (client
    spans, ``traceparent`` injected); the other session, for untraced calls and etcd, has none."""
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config(request_hook=_on_request)]


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
    """The span of one saga drive; calls made inside carry its id. A span opened by
    ``trouble`` during the drive ends with it."""
    state = _SagaTrace(saga_id)
    token = _saga.set(state)
    try:
        with tracer.start_as_current_span("saga", attributes={SAGA_ID: saga_id}) as span:
            yield span
    finally:
        _saga.reset(token)
        if state.span is not None:
            state.span.end()


def trouble(reason: str) -> bool:
    """The saga being driven ran into trouble (``reason``): when its trace is not sampled,
    record the rest of it in the same trace id, under a sampled span ``ESCALATED`` opened now
    (its parent, the saga's own span, stays unrecorded). Whether this call opened it; a no-op
    outside a saga, when the trace is sampled already, or after the first trouble."""
    state = _saga.get()
    if state is None or state.span is not None or recording():
        return False
    here = trace.get_current_span().get_span_context()
    if not here.is_valid:
        return False
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            here.trace_id, here.span_id, is_remote=False, trace_flags=trace.TraceFlags(1)
        )
    )
    span = tracer.start_span(
        ESCALATED,
        context=trace.set_span_in_context(parent),
        attributes={SAGA_ID: state.saga_id, TROUBLE: reason},
    )
    if not span.is_recording():  # no tracer provider (tracing off): nothing would be exported
        return False
    state.span, state.context = span, trace.set_span_in_context(span)
    return True


@contextmanager
def attempt(number: int, instance: str) -> Iterator[None]:
    """Marks the client span the aiohttp instrumentation opens for this attempt (its
    ``retry.attempt``, ``peer.instance`` and the saga's id); in a saga traced since its
    trouble, the attempt runs under the span ``trouble`` opened, so it is recorded."""
    state = _saga.get()
    token = _call.set((state.saga_id if state else None, number, instance))
    attached = None
    if state is not None and state.context is not None and not recording():
        attached = otel_context.attach(state.context)
    try:
        yield
    finally:
        if attached is not None:
            otel_context.detach(attached)
        _call.reset(token)


def tag_saga(saga_id: str) -> None:
    """``saga_id`` on the current span (a participant's server span)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(SAGA_ID, saga_id)


def current_trace_id() -> str | None:
    """The trace id in hex of the request being served, recorded or not (for log lines); None
    outside any."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid and ctx.trace_flags.sampled:
        return format(ctx.trace_id, "032x")
    passed = _passed.get()
    return passed[3:35] if passed else None
