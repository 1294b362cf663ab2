"""One scenario's traces (``traces.json``, Jaeger's query-API format) and its instances' log
lines (``logs/<instance>.log``), read for the report.

Pure readers over saved files, tolerant like ``report.data``: an absent or malformed file, span
or line is skipped, never raised. A trace becomes a tree of :class:`Span` in depth-first order
(children by start time); a span whose parent is not in the trace (the parent Locust's
``traceparent`` named, or one beyond the saved bounds) is a root. Which spans ran on the
scenario's faulted link or service while the fault was active is decided here too
(:func:`mark_faulted`), from the faults' targets and times: ``caller->callee`` (each side a
service or an instance) or one service or instance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# span attributes the shop sets (``target_system/shoplib/tracing.py``) and OpenTelemetry's own;
# a user's system that sets none of them still gets its waterfall, without the marks
PEER = "peer.instance"
INSTANCE = "service.instance.id"


@dataclass
class Span:
    span_id: str
    parent: str | None
    service: str
    instance: str | None
    operation: str
    start_us: int
    duration_us: int
    error: bool
    tags: dict[str, Any]
    depth: int = 0
    faulted: bool = False

    @property
    def peer(self) -> str | None:
        value = self.tags.get(PEER)
        return str(value) if value not in (None, "") else None


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]  # depth first, each node's children by start time
    root: Span
    start_us: int  # the earliest span's start
    end_us: int  # the latest span's end

    @property
    def errors(self) -> int:
        return sum(1 for s in self.spans if s.error)

    @property
    def faulted(self) -> int:
        return sum(1 for s in self.spans if s.faulted)

    @property
    def saga_ids(self) -> set[str]:
        return {str(s.tags["saga_id"]) for s in self.spans if s.tags.get("saga_id")}


@dataclass
class Traces:
    """What ``traces.json`` held: traces by id, its ``bounds``, and why there are none."""

    by_id: dict[str, Trace] = field(default_factory=dict)
    bounds: dict[str, Any] = field(default_factory=dict)
    why_not: str | None = None  # set when the file is absent or unreadable
    services_of: dict[str, str] = field(default_factory=dict)  # instance -> service

    def for_saga(self, saga_id: str) -> list[Trace]:
        """The traces with a span tagged with the saga's id, earliest first."""
        found = [t for t in self.by_id.values() if saga_id in t.saga_ids]
        return sorted(found, key=lambda t: t.start_us)


def _tags(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, list):
        return {}
    return {str(t["key"]): t.get("value") for t in raw if isinstance(t, dict) and "key" in t}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_error(tags: dict[str, Any]) -> bool:
    if tags.get("error") in (True, "true"):
        return True
    if str(tags.get("otel.status_code", "")).upper() == "ERROR":
        return True
    status = _int(tags.get("http.status_code", tags.get("http.response.status_code")))
    return status is not None and status >= 500


def parse_trace(raw: Any) -> Trace | None:
    """One trace of Jaeger's JSON, or None when it has no usable span."""
    if not isinstance(raw, dict) or not isinstance(raw.get("spans"), list):
        return None
    procs = raw.get("processes") if isinstance(raw.get("processes"), dict) else {}
    who: dict[str, tuple[str, str | None]] = {}
    for pid, p in procs.items():
        if isinstance(p, dict):
            inst = _tags(p.get("tags")).get(INSTANCE)
            who[pid] = (str(p.get("serviceName") or "?"), str(inst) if inst else None)
    spans: dict[str, Span] = {}
    for s in raw["spans"]:
        if not isinstance(s, dict):
            continue
        start, dur = _int(s.get("startTime")), _int(s.get("duration"))
        sid = s.get("spanID")
        if start is None or dur is None or not sid:
            continue
        refs = [r for r in s.get("references") or [] if isinstance(r, dict)]
        parent = next((str(r.get("spanID")) for r in refs if r.get("spanID")), None)
        tags = _tags(s.get("tags"))
        service, instance = who.get(str(s.get("processID")), ("?", None))
        spans[str(sid)] = Span(
            str(sid), parent, service, instance, str(s.get("operationName") or "?"),
            start, max(0, dur), _is_error(tags), tags,
        )  # fmt: skip
    if not spans:
        return None
    children: dict[str | None, list[Span]] = {}
    for sp in spans.values():
        key = sp.parent if sp.parent in spans else None
        children.setdefault(key, []).append(sp)
    ordered: list[Span] = []
    stack = [(sp, 0) for sp in sorted(children[None], key=lambda x: x.start_us, reverse=True)]
    while stack:
        sp, depth = stack.pop()
        sp.depth = depth
        ordered.append(sp)
        kids = sorted(children.get(sp.span_id, []), key=lambda x: x.start_us, reverse=True)
        stack += [(k, depth + 1) for k in kids]
    root = ordered[0]
    return Trace(
        str(raw.get("traceID") or root.span_id),
        ordered,
        root,
        min(s.start_us for s in ordered),
        max(s.start_us + s.duration_us for s in ordered),
    )


def read_traces(scenario_dir: Path, missing: Iterable[str] = ()) -> Traces:
    """``traces.json`` of a scenario; absent, ``why_not`` is the journal's ``missing`` entry for
    it (``not collected: ...``, ``unavailable: ...``) or says the file is absent."""
    path = scenario_dir / "traces.json"
    note = next((m.split(": ", 1)[1] for m in missing if m.startswith("traces.json: ")), None)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Traces(why_not=note or "traces.json is absent (the run saved no traces)")
    except (OSError, ValueError) as exc:
        return Traces(why_not=f"traces.json is unreadable: {exc}")
    if not isinstance(raw, dict):
        return Traces(why_not="traces.json is not a JSON object")
    out = Traces(bounds=raw["bounds"] if isinstance(raw.get("bounds"), dict) else {})
    for t in raw.get("data") if isinstance(raw.get("data"), list) else []:
        trace = parse_trace(t)
        if trace is not None:
            out.by_id[trace.trace_id] = trace
            for sp in trace.spans:
                if sp.instance:
                    out.services_of.setdefault(sp.instance, sp.service)
    return out


# ------------------------------------------------------------------------- the faulted link


def _names(service: str | None, instance: str | None) -> set[str]:
    return {n for n in (service, instance) if n}


def _peer_names(span: Span, services_of: dict[str, str]) -> set[str]:
    peer = span.peer
    return _names(services_of.get(peer) if peer else None, peer)


def on_fault(span: Span, parent: Span | None, target: str, services_of: dict[str, str]) -> bool:
    """Whether `span` ran on `target`: a link ``caller->callee`` (the caller's client span to
    the callee, or the callee's server span under it) or a service or instance (its own spans
    and every call to it)."""
    mine = _names(span.service, span.instance)
    if "->" in target:
        caller, callee = (x.strip() for x in target.split("->", 1))
        if caller in mine and callee in _peer_names(span, services_of):
            return True
        return (
            parent is not None
            and caller in _names(parent.service, parent.instance)
            and parent.service != span.service
            and callee in mine
        )
    return target in mine or target in _peer_names(span, services_of)


def mark_faulted(
    trace: Trace, faults: list[tuple[str, float, float]], services_of: dict[str, str]
) -> None:
    """Mark the spans that ran on a fault's target while it was active: each fault is
    (target, injected at, reverted at) in epoch seconds; a span counts when it overlaps."""
    by_id = {s.span_id: s for s in trace.spans}
    for sp in trace.spans:
        parent = by_id.get(sp.parent) if sp.parent else None
        a, b = sp.start_us / 1e6, (sp.start_us + sp.duration_us) / 1e6
        sp.faulted = any(
            a <= end and b >= start and on_fault(sp, parent, target, services_of)
            for target, start, end in faults
        )


# ------------------------------------------------------------------------------- log lines


@dataclass(frozen=True)
class LogRow:
    ts: float
    instance: str
    level: str
    msg: str
    extra: str  # the line's other fields, ``key=value`` (service, logger, ids left out)
    saga_id: str | None
    trace_id: str | None


_SKIP = {"ts", "level", "msg", "service", "instance", "logger", "saga_id", "trace_id"}


def read_log_rows(scenario_dir: Path, wanted: set[str]) -> list[LogRow]:
    """The JSON log lines (with a ``ts``) of every ``logs/*.log`` whose ``saga_id`` or
    ``trace_id`` is in `wanted`, ordered by time. A line is parsed only when it holds one of
    the wanted ids, so a large log costs a substring scan; plain-text lines have no time and
    no ids and cannot be matched."""
    wanted = {w for w in wanted if w}
    if not wanted:
        return []
    pattern = re.compile("|".join(re.escape(w) for w in sorted(wanted)))
    rows = []
    for path in sorted(scenario_dir.glob("logs/*.log")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not pattern.search(line):
                continue
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if not isinstance(data, dict) or not isinstance(data.get("ts"), int | float):
                continue
            saga, trace = data.get("saga_id"), data.get("trace_id")
            if saga not in wanted and trace not in wanted:
                continue
            extra = " ".join(f"{k}={v}" for k, v in data.items() if k not in _SKIP)
            rows.append(
                LogRow(
                    float(data["ts"]), str(data.get("instance") or path.stem),
                    str(data.get("level") or ""), str(data.get("msg") or ""), extra,
                    str(saga) if saga else None, str(trace) if trace else None,
                )
            )  # fmt: skip
    rows.sort(key=lambda r: r.ts)
    return rows
