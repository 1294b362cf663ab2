"""Jaeger all-in-one (``cmd/jaeger`` v1.76.0, an OpenTelemetry-collector build): its config file
written per stack, and a bounded client of its query API.

The config keeps only what the harness uses: the OTLP/HTTP receiver, in-memory storage and the
query service (HTTP API and the gRPC port it always opens), every endpoint on the stack's host
and on ports the stack allocated; the collector's own telemetry metrics are turned off (they
would listen on 8888), and so is the query service's tracing of itself (it would export to
localhost:4317). Built from source, Jaeger serves no UI assets: only the API is promised.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.errors import InfraUnavailable

VERSION = "v1.76.0"  # the module version scripts/setup.sh builds
MAX_TRACES_IN_MEMORY = 50_000  # Jaeger's memory store drops the oldest beyond this
TRACES_PER_SERVICE = 100  # per scenario, per phase and per service: the query's limit
TRACES_MAX_BYTES = 8 * 1024 * 1024  # per scenario: traces.json never grows beyond this
QUERIES_AT_ONCE = 4  # trace queries in flight while saving a scenario's traces


def config(host: str, otlp_http: int, query_http: int, query_grpc: int) -> dict[str, Any]:
    """The all-in-one's collector config: OTLP/HTTP in, memory storage, query API out."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "metrics": {"level": "none"},
                "logs": {"level": "warn"},
            },
        },
        "extensions": {
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                # on by default in v2: the query service would export its own spans to
                # localhost:4317, a port that may be another program's
                "enable_tracing": False,
                "http": {"endpoint": f"{host}:{query_http}"},
                "grpc": {"endpoint": f"{host}:{query_grpc}"},
            },
            "jaeger_storage": {
                "backends": {"memstore": {"memory": {"max_traces": MAX_TRACES_IN_MEMORY}}}
            },
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"{host}:{otlp_http}"}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


def write_config(path: Path, host: str, otlp_http: int, query_http: int, query_grpc: int) -> None:
    path.write_text(
        yaml.safe_dump(config(host, otlp_http, query_http, query_grpc), sort_keys=False)
    )


def command(binary: str, config_file: Path) -> list[str]:
    return [binary, "--config", str(config_file)]


def ready(query_url: str, timeout: float = 1.0, client: httpx.Client | None = None) -> bool:
    """The query API answers (the receiver starts before it). ``client``: one to reuse when
    polling (a new one costs ~25 ms of CPU)."""
    return (client or httpx).get(query_url + "/api/services", timeout=timeout).status_code == 200


class JaegerQuery:
    """Jaeger's query API (``/api/services``, ``/api/traces``), every call with a timeout; an
    unreachable Jaeger is ``InfraUnavailable``, never a crash."""

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client = client  # reused for every query when given (a new one costs ~25 ms)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            r = (self.client or httpx).get(self.url + path, params=params, timeout=self.timeout)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise InfraUnavailable(f"Jaeger query {path} failed: {exc}") from exc

    def services(self) -> list[str]:
        return sorted(s for s in self._get("/api/services").get("data") or [] if s != "jaeger")

    def traces(self, service: str, start: float, end: float, limit: int) -> list[dict]:
        """Traces with a span of ``service`` starting in [start, end] (epoch seconds)."""
        params = {
            "service": service,
            "start": int(start * 1_000_000),
            "end": int(end * 1_000_000),
            "limit": limit,
        }
        return list(self._get("/api/traces", params).get("data") or [])

    def trace(self, trace_id: str) -> dict | None:
        """One trace by its id (hex), or None when Jaeger holds no span of it."""
        get = self.client.get if self.client is not None else httpx.get
        path = f"/api/traces/{trace_id}"
        try:
            r = get(self.url + path, timeout=self.timeout)
            if r.status_code == 404:
                return None
            r.raise_for_status()
            found = r.json().get("data") or []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise InfraUnavailable(f"Jaeger query {path} failed: {exc}") from exc
        return found[0] if found and isinstance(found[0], dict) else None


def windows_of(
    start: float, end: float, phases: list[tuple[str, float | None, float | None]]
) -> list[tuple[str, float, float]]:
    """[start, end] cut at the phases' edges: ``before`` the first phase, each phase that ran,
    ``after`` the last (settling, collection); the whole window when no phase ran."""
    ran = [(n, a, b) for n, a, b in phases if a is not None and b is not None and b > a]
    if not ran:
        return [("scenario", start, end)]
    out = []
    if ran[0][1] > start:
        out.append(("before", start, ran[0][1]))
    out += [(n, max(a, start), min(b, end)) for n, a, b in ran]
    if ran[-1][2] < end:
        out.append(("after", ran[-1][2], end))
    return out


def _start_us(t: dict) -> int:
    return min((s.get("startTime", 0) for s in t.get("spans") or []), default=0)


def bounded(
    by_window: dict[str, list[dict]], max_bytes: int = TRACES_MAX_BYTES
) -> tuple[list[dict], dict[str, Any]]:
    """Every trace once (a trace spans services, and may be found in two windows: it counts in
    the first), until ``max_bytes`` of JSON, taken in turn from each window, newest first in
    each, so that no window (the fault's) is crowded out by another; sorted by start time.
    Returns them and what was kept (per window) and dropped."""
    seen: set[str] = set()
    queues: dict[str, list[dict]] = {}
    for window, traces in by_window.items():
        mine = []
        for t in traces:
            tid = t.get("traceID", "")
            if tid not in seen:
                seen.add(tid)
                mine.append(t)
        queues[window] = sorted(mine, key=_start_us, reverse=True)
    kept: list[dict] = []
    per_window = dict.fromkeys(queues, 0)
    size = 2
    dropped = 0
    while any(queues.values()):
        for window, queue in queues.items():
            if not queue:
                continue
            t = queue.pop(0)
            n = len(json.dumps(t, separators=(",", ":"))) + 1
            if size + n > max_bytes:
                dropped += 1
                continue
            kept.append(t)
            per_window[window] += 1
            size += n
    kept.sort(key=_start_us)
    info = {"traces": len(kept), "per_window": per_window, "dropped_for_size": dropped}
    return kept, {**info, "bytes": size}


def save_traces(
    query: JaegerQuery,
    windows: list[tuple[str, float, float]],
    out: Path,
    per_service: int = TRACES_PER_SERVICE,
    max_bytes: int = TRACES_MAX_BYTES,
) -> dict[str, Any]:
    """The traces of each window (``windows_of``) into ``out`` (``{"data": [...], "bounds":
    {...}}``): at most ``per_service`` per service and window, ``max_bytes`` in all; what was
    saved, for the journal (with the query API's address, which the report links to while the
    stack is up). An empty service list means nothing exported."""
    services = query.services()
    asks = [(name, start, end, service) for name, start, end in windows for service in services]
    # a few queries at once: Jaeger searches and encodes one while this process decodes another
    with ThreadPoolExecutor(max_workers=QUERIES_AT_ONCE) as pool:
        answers = list(pool.map(lambda a: query.traces(a[3], a[1], a[2], per_service), asks))
    by_window: dict[str, list[dict]] = {name: [] for name, _, _ in windows}
    at_limit: set[str] = set()
    for (name, _, _, service), traces in zip(asks, answers, strict=True):
        if len(traces) >= per_service:
            at_limit.add(f"{service} in {name}")
        by_window[name] += traces
    kept, info = bounded(by_window, max_bytes)
    info.update(
        query_url=query.url,
        services=services,
        windows=[[n, a, b] for n, a, b in windows],
        limit_per_service=per_service,
        max_bytes=max_bytes,
        at_limit=sorted(at_limit),
    )
    out.write_text(json.dumps({"data": kept, "bounds": info}, separators=(",", ":")))
    return info


def add_by_id(query: JaegerQuery, out: Path, trace_ids: set[str]) -> dict[str, int]:
    """Fetch by id the traces of ``trace_ids`` that ``out`` (a traces.json as ``save_traces``
    wrote it) lacks and add them, its ``bounds`` updated (``traces``, ``by_id``: how many
    were asked and found); the file is replaced whole. Returns ``by_id`` and the new count.
    Unreadable: ``ValueError``; Jaeger unreachable: ``InfraUnavailable``, the file untouched."""
    doc = json.loads(out.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValueError(f"{out} is not laid out as save_traces writes it")
    have = {str(t.get("traceID")) for t in doc["data"] if isinstance(t, dict)}
    asked = sorted(trace_ids - have)
    with ThreadPoolExecutor(max_workers=QUERIES_AT_ONCE) as pool:
        found = [t for t in pool.map(query.trace, asked) if t is not None]
    doc["data"] += found
    bounds = doc.setdefault("bounds", {})
    bounds["traces"] = len(doc["data"])
    bounds["by_id"] = {"asked": len(asked), "found": len(found)}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, out)  # a reader never sees half a file
    return {**bounds["by_id"], "traces": bounds["traces"]}
