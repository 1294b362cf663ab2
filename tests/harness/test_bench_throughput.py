"""bench/shop_throughput.py: which samples of a py-spy profile tracing owns."""

from __future__ import annotations

from pathlib import Path

from tests.harness.bench_module import load

bench = load("shop_throughput")

SITE = "/work/.venv/lib/python3.11/site-packages"
MIDDLEWARE = f"__call__ ({SITE}/opentelemetry/instrumentation/asgi/__init__.py)"
ROUTE = f"handle ({SITE}/starlette/routing.py)"
DUMPS = "dumps (/usr/lib/python3.11/json/__init__.py)"
ENCODE = f"_encode_span ({SITE}/opentelemetry/exporter/otlp/proto/common/_internal/x.py)"
SEND = "send (/usr/lib/python3.11/http/client.py)"
SAGA = "saga (/work/main/target_system/shoplib/tracing.py)"
CONTEXTLIB = "__enter__ (/usr/lib/python3.11/contextlib.py)"
DRIVE = "drive (/work/main/target_system/services/orders.py)"


def test_a_sample_belongs_to_its_innermost_frame_outside_the_standard_library() -> None:
    # the ASGI middleware wraps a whole traced request: the route's own work is not tracing's
    assert bench.owner([MIDDLEWARE, ROUTE, DUMPS]) == "other"
    assert bench.owner([MIDDLEWARE, DUMPS]) == "tracing"
    # the exporter's thread: encoding, and the HTTP post it makes through the standard library
    assert bench.owner(["run (/usr/lib/python3.11/threading.py)", ENCODE, SEND]) == "tracing"
    # the shop's tracing module, entered through contextlib, from the shop's own code
    assert bench.owner([DRIVE, SAGA, CONTEXTLIB]) == "tracing"
    assert bench.owner([SAGA, DRIVE, CONTEXTLIB]) == "other"
    assert bench.owner([CONTEXTLIB]) == "other"


def test_py_spy_short_file_names_are_recognised() -> None:
    # py-spy names a file from its import root: the standard library's have no site-packages
    frames = [
        "drive (target_system/services/orders.py)",
        "export (opentelemetry/exporter/otlp/proto/http/trace_exporter/__init__.py)",
        "HTTPConnection.send (http/client.py)",
        "__exit__ (contextlib.py)",
    ]
    assert bench.owner(frames) == "tracing"
    assert bench.owner([frames[0], "dumps (json/__init__.py)", "<module> (<frozen runpy>)"]) == (
        "other"
    )


def test_tracing_share_counts_the_samples_of_a_raw_profile(tmp_path: Path) -> None:
    raw = tmp_path / "orders-1.txt"
    raw.write_text(
        f"process 1;{MIDDLEWARE};{ROUTE};{DUMPS} 7\n"
        f"process 1;{MIDDLEWARE};{DUMPS} 2\n"
        f"process 1;{DRIVE};{SAGA} 1\n"
        "process 1 5\n"  # no Python frame: not a sample of a busy Python thread
    )
    assert bench.tracing_share(raw) == (3, 10)
