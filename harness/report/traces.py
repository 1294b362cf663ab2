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

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# span attributes the shop sets (``target_system/shoplib/tracing.py``) and OpenTelemetry's own;
# a user's system that sets none of them still gets its waterfall, without the marks
PEER = "peer.instance"
INSTANCE = "service.instance.id"
SAGA = "saga_id"
TROUBLE = "trouble"  # why a saga whose request was not sampled is traced from then on


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
        return {str(s.tags[SAGA]) for s in self.spans if s.tags.get(SAGA)}


# traces.json as save_traces writes it (compact separators, Jaeger's key order), indexed
# without decoding: a trace object opens with its id and spans (a span's second key is spanID);
# a JSON string cannot hold an unescaped quote, so none of these can match inside a value
_TRACE = re.compile(r'\{"traceID":"([^"\\]*)","spans":\[')
_TIMES = re.compile(r'"startTime":(\d+),"duration":(\d+)')
_PROCESS = re.compile(r'"serviceName":"([^"\\]*)","tags":\[([^\]]*)\]')
_INSTANCE = re.compile(r'"key":"service\.instance\.id"(?:,"type":"\w*")?,"value":"([^"\\]*)"')
_BOUNDS = ',"bounds":'
_DECODER = json.JSONDecoder()


class Traces:
    """What ``traces.json`` held: its traces, parsed only when asked for (a page draws a few
    dozen of the thousands a suite saves), its ``bounds``, and why there are none.

    Built from decoded data (``Traces(data, bounds)``) or, by :meth:`index`, from the file's
    text without decoding it: each trace's offset, its earliest span's times and the
    instance -> service map found by pattern, a trace decoded from its offset when drawn
    (decoding every traces.json of a 26-scenario suite took 2.4 s, indexing them 0.4 s)."""

    def __init__(self, data: Any = None, bounds: Any = None, why_not: str | None = None) -> None:
        self.bounds: dict[str, Any] = bounds if isinstance(bounds, dict) else {}
        self.why_not = why_not  # set when the file is absent or unreadable
        self.services_of: dict[str, str] = {}  # instance -> service, from every process
        self._ids: list[str] = []
        self._decoded: list[dict[str, Any]] = []  # decoded mode: each trace's JSON
        self._text = ""  # indexed mode: the file's text and each trace's offset in it
        self._starts: list[int] = []
        self._pos: dict[str, int] = {}
        self._parsed: dict[str, Trace | None] = {}
        self._sagas: dict[str, list[str]] | None = None
        for t in data if isinstance(data, list) else []:
            if not isinstance(t, dict) or not isinstance(t.get("spans"), list):
                continue
            self._ids.append(str(t.get("traceID")))
            self._decoded.append(t)
            procs = t.get("processes")
            for p in procs.values() if isinstance(procs, dict) else []:
                inst = _tags(p.get("tags")).get(INSTANCE) if isinstance(p, dict) else None
                if inst and p.get("serviceName"):
                    self.services_of.setdefault(str(inst), str(p["serviceName"]))
        self._pos = {tid: i for i, tid in enumerate(self._ids)}

    @classmethod
    def index(cls, text: str) -> Traces | None:
        """The traces of a traces.json text, indexed; None when the text is not laid out as
        ``save_traces`` writes it (or the count disagrees with its bounds): decode it then."""
        at = text.rfind(_BOUNDS)
        if not text.startswith('{"data":[') or at < 0:
            return None
        try:
            bounds, _ = _DECODER.raw_decode(text, at + len(_BOUNDS))
        except ValueError:
            return None
        found = list(_TRACE.finditer(text, 0, at))
        if not isinstance(bounds, dict) or bounds.get("traces") != len(found):
            return None
        out = cls(bounds=bounds)
        out._text = text
        out._starts = [m.start() for m in found]
        out._ids = [m.group(1) for m in found]
        out._pos = {tid: i for i, tid in enumerate(out._ids)}
        for service, tags in set(_PROCESS.findall(text, 0, at)):
            if m := _INSTANCE.search(tags):
                out.services_of.setdefault(m.group(1), service)
        return out

    def __len__(self) -> int:
        return len(self._ids)

    def _raw(self, i: int) -> Any:
        if not self._text:
            return self._decoded[i]
        try:
            return _DECODER.raw_decode(self._text, self._starts[i])[0]
        except ValueError:
            return None

    def _at(self, offset: int) -> int:
        """The index of the trace holding `offset` of the text."""
        return bisect.bisect_right(self._starts, offset) - 1

    def get(self, trace_id: str) -> Trace | None:
        if trace_id not in self._parsed:
            i = self._pos.get(trace_id)
            self._parsed[trace_id] = parse_trace(self._raw(i)) if i is not None else None
        return self._parsed[trace_id]

    def for_saga(self, saga_id: str) -> list[Trace]:
        """The traces with a span tagged with the saga's id, earliest first."""
        if self._text:  # where the id occurs, then checked on the parsed trace
            needle, hits, k = json.dumps(saga_id), set(), -1
            while (k := self._text.find(needle, k + 1)) >= 0:
                if (i := self._at(k)) >= 0:
                    hits.add(self._ids[i])
            found = [t for tid in hits if (t := self.get(tid)) and saga_id in t.saga_ids]
            return sorted(found, key=lambda t: t.start_us)
        if self._sagas is None:
            self._sagas = {}
            for tid, t in zip(self._ids, self._decoded, strict=True):
                for saga in {
                    str(g.get("value"))
                    for s in t["spans"] if isinstance(s, dict)
                    for g in s.get("tags") or [] if isinstance(g, dict)
                    and g.get("key") == SAGA and g.get("value")
                }:  # fmt: skip
                    self._sagas.setdefault(saga, []).append(tid)
        found = [t for tid in self._sagas.get(saga_id, []) if (t := self.get(tid)) is not None]
        return sorted(found, key=lambda t: t.start_us)

    def _earliest(self) -> dict[int, tuple[int, int]]:
        """Each trace's earliest span (start, -duration; the longer first on a tie): its root
        but for a tie with a child."""
        best: dict[int, tuple[int, int]] = {}

        def see(i: int, start: int | None, dur: int | None) -> None:
            ok = i >= 0 and start is not None and dur is not None
            if ok and (i not in best or (start, -dur) < best[i]):  # type: ignore[operator]
                best[i] = (start, -dur)  # type: ignore[operator]

        if self._text:
            end = self._text.rfind(_BOUNDS)
            for m in _TIMES.finditer(self._text, 0, end):
                see(self._at(m.start()), int(m.group(1)), int(m.group(2)))
        else:
            for i, t in enumerate(self._decoded):
                for s in t["spans"]:
                    if isinstance(s, dict):
                        see(i, _int(s.get("startTime")), _int(s.get("duration")))
        return best

    def slowest(self, windows: list[tuple[float, float]], n: int) -> list[Trace]:
        """The `n` traces with the longest root span among those whose root started inside
        one of `windows` (epoch seconds). Ranked first on each trace's earliest span without
        parsing; the best candidates are then parsed and ranked again."""
        ranked = sorted(
            ((-neg, self._ids[i]) for i, (start, neg) in self._earliest().items()
             if any(a <= start / 1e6 <= b for a, b in windows)),
            reverse=True,
        )  # fmt: skip
        found = [t for _, tid in ranked[: 2 * n] if (t := self.get(tid)) is not None]
        found.sort(key=lambda t: t.root.duration_us, reverse=True)
        return found[:n]


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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Traces(why_not=note or "traces.json is absent (the run saved no traces)")
    except (OSError, ValueError) as exc:
        return Traces(why_not=f"traces.json is unreadable: {exc}")
    indexed = Traces.index(text)
    if indexed is not None:
        return indexed
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return Traces(why_not=f"traces.json is unreadable: {exc}")
    if not isinstance(raw, dict):
        return Traces(why_not="traces.json is not a JSON object")
    return Traces(raw.get("data"), raw.get("bounds"))


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
