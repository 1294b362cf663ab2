"""The shop's tracing without a collector: what is sampled, what a log line carries, and that
no endpoint means no provider (target_system/shoplib/tracing.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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
