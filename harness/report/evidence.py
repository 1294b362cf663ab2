"""The trace and log evidence of one scenario's page: each failed check's offenders (the sagas
or requests it names) with their traces drawn as waterfalls and their log lines from every
instance, the slowest traces that started while a fault was active, and where the traces came
from.

Offenders, by what the check saved: ``details["violations"]`` entries carrying a ``saga_id``
or ``trace_id`` (``saga_consistency``, an ``invariant`` function that returns such dicts; other
violations name nothing to link); without violations, for a latency bound
(``details["latency"]["window"]``), the slowest requests of that window; else the failed
requests of the check's window (``details["window"]``, else from its violation, else the whole
scenario). A saga's traces are those with a span tagged with its id,
and those its log lines name. At most ``MAX_OFFENDERS`` per check are drawn, the rest counted.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from harness.report.traces import LogRow, Trace, Traces, mark_faulted, read_log_rows
from harness.report.waterfall import summary, waterfall

MAX_OFFENDERS = 5  # per failed check, drawn; the rest counted
PREFER_TRACED_AMONG = 50  # offenders looked at for a saved trace (each a scan of traces.json)
MAX_TRACES = 2  # drawn per offender (a saga re-driven has a trace per drive)
MAX_LOG_LINES = 40  # per offender; the rest counted
SLOWEST = 5  # traces in the "slowest in the fault window" panel
LABEL_CHARS = 300


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _saga_offenders(details: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for v in details.get("violations") or []:
        if not isinstance(v, dict) or not (v.get("saga_id") or v.get("trace_id")):
            continue
        saga = str(v["saga_id"]) if v.get("saga_id") else None
        trace = str(v["trace_id"]) if v.get("trace_id") else None
        problems = v.get("problems")
        if saga and isinstance(problems, list):
            head = f"saga {saga}"
            if v.get("order_id") is not None:
                head += f" (order {v['order_id']}, {v.get('state')})"
            label = f"{head}: {'; '.join(str(p) for p in problems)}"
        else:
            label = json.dumps(v, default=str, sort_keys=True)
        out.append({"label": _short(label), "saga_id": saga, "trace_id": trace})
    return out


def _request_label(r: Any, t0: float | None) -> str:
    when = f"{r.t - t0:+.2f} s" if t0 is not None else f"{r.t:.3f}"
    what = "ok" if r.ok else f"failed: {r.status if pd.notna(r.status) else '—'}"
    if not r.ok and isinstance(r.error, str) and r.error:
        what += f" {r.error}"
    return _short(f"request {r.name} at {when}, {r.ms:.0f} ms, {what}")


def _request_offenders(
    check: dict[str, Any], j: dict[str, Any], req: pd.DataFrame, t0: float | None
) -> tuple[list[dict[str, Any]], str]:
    d = check["details"]
    lat = d.get("latency") if isinstance(d.get("latency"), dict) else None
    win = lat.get("window") if lat else d.get("window")
    if isinstance(win, list) and len(win) == 2 and all(_float(x) is not None for x in win):
        start, end = float(win[0]), float(win[1])
    else:
        start = check["violation_at"] if check["violation_at"] is not None else j["started_at"]
        end = j["ended_at"]
    if req.empty:
        return [], "requests.jsonl holds no requests"
    rows = req
    if start is not None:
        rows = rows[rows["t"] >= start]
    if end is not None:
        rows = rows[rows["t"] <= end]
    if lat:
        rows = rows.sort_values("ms", ascending=False, kind="stable")
        what = "the slowest requests of the window its latency bound covers"
    else:
        rows = rows[~rows["ok"]]
        what = "the failed requests of its window"
    out = []
    for r in rows.itertuples(index=False):
        tid = getattr(r, "trace_id", None)
        out.append({
            "label": _request_label(r, t0), "saga_id": None,
            "trace_id": str(tid) if isinstance(tid, str) and tid else None,
        })  # fmt: skip
    return out, what


def offenders(
    check: dict[str, Any], j: dict[str, Any], req: pd.DataFrame, t0: float | None
) -> tuple[list[dict[str, Any]], str]:
    """Everything `check` names as offending (all of them, for the count) and what they are."""
    found = _saga_offenders(check["details"])
    if found:
        return found, "the sagas and traces it names"
    if check["details"].get("violations"):  # violations, but none names a saga or trace
        return [], "its violations name no saga_id or trace_id"
    return _request_offenders(check, j, req, t0)


def _bounds_text(b: dict[str, Any]) -> str:
    parts = [f"{b.get('traces', '?')} traces kept"]
    if b.get("limit_per_service") is not None:
        parts.append(f"at most {b['limit_per_service']} per service and phase")
    if b.get("at_limit"):
        parts.append("limit reached by " + ", ".join(str(x) for x in b["at_limit"]))
    if b.get("dropped_for_size"):
        parts.append(f"{b['dropped_for_size']} dropped for size")
    by_id = b.get("by_id") if isinstance(b.get("by_id"), dict) else None
    if by_id:
        parts.append(
            f"{by_id.get('found', '?')} of {by_id.get('asked', '?')} traces of the failed "
            "checks' offenders added by id"
        )
    return "; ".join(parts)


class Evidence:
    """Builds the evidence of one scenario from its saved traces and logs."""

    def __init__(self, scenario_dir: Any, j: dict[str, Any], traces: Traces) -> None:
        self.dir = scenario_dir
        self.j = j
        self.traces = traces
        self.faults = [
            (str(f.get("target")), a, b) for f, (a, b) in self._windows() if f.get("target")
        ]
        saved = j.get("evidence") if isinstance(j.get("evidence"), dict) else {}
        info = saved.get("traces") if isinstance(saved.get("traces"), dict) else {}
        url = traces.bounds.get("query_url") or info.get("query_url")
        self.query_url = str(url).rstrip("/") if url else None

    def source(self) -> dict[str, Any]:
        """Where the traces came from, or why there are none."""
        return {
            "why_not": self.traces.why_not,
            "bounds": _bounds_text(self.traces.bounds) if self.traces.bounds else None,
            "query_url": self.query_url,
            "count": len(self.traces),
        }

    def drawn(self, trace: Trace) -> dict[str, Any]:
        mark_faulted(trace, self.faults, self.traces.services_of)
        return {
            "id": trace.trace_id,
            "start": trace.root.start_us / 1e6,
            "summary": summary(trace),
            "html": waterfall(trace),
            "link": f"{self.query_url}/api/traces/{trace.trace_id}" if self.query_url else None,
        }

    def _has_trace(self, o: dict[str, Any]) -> bool:
        if o["trace_id"] and self.traces.get(o["trace_id"]) is not None:
            return True
        return bool(o["saga_id"] and self.traces.for_saga(o["saga_id"]))

    def _no_trace(self, ids: list[str]) -> str:
        if self.traces.why_not:
            return f"No trace: {self.traces.why_not}."
        if not ids:
            return (
                "No trace: no trace id is known for it (no saved span or log line carries its "
                "saga id, or its request sent no traceparent)."
            )
        b = self.traces.bounds
        return (
            f"No trace: {', '.join(ids[:3])} is not in traces.json (not sampled, or beyond its "
            f"bounds: {_bounds_text(b) if b else 'no bounds recorded'})."
        )

    def check_evidence(
        self, check: dict[str, Any], req: pd.DataFrame, t0: float | None
    ) -> dict[str, Any]:
        """A failed check's offenders, the first ``MAX_OFFENDERS`` with traces and logs."""
        found, what = offenders(check, self.j, req, t0)
        # traces are sampled: among the first offenders, those with a saved trace are shown first
        first = found[:PREFER_TRACED_AMONG]
        shown = sorted(first, key=lambda o: not self._has_trace(o))[:MAX_OFFENDERS]
        wanted = {o[k] for o in shown for k in ("saga_id", "trace_id") if o[k]}
        sagas = {o["saga_id"]: self.traces.for_saga(o["saga_id"]) for o in shown if o["saga_id"]}
        wanted |= {t.trace_id for ts in sagas.values() for t in ts}
        rows = read_log_rows(self.dir, wanted)
        # a saga's log lines may name traces no saved span did: their lines without the saga's
        # id (another service's) are read in a second pass
        more = {r.trace_id for r in rows if r.saga_id in sagas and r.trace_id} - wanted
        if more:
            extra = read_log_rows(self.dir, more)
            extra = [r for r in extra if r.saga_id not in wanted and r.trace_id not in wanted]
            rows = sorted(rows + extra, key=lambda r: r.ts)
        out = []
        for o in shown:
            saga = o["saga_id"]
            traces = list(sagas.get(saga, [])) if saga else []
            ids = [o["trace_id"]] if o["trace_id"] else []
            named = [r.trace_id for r in rows if saga and r.saga_id == saga and r.trace_id]
            for tid in [*ids, *(t.trace_id for t in traces), *named]:
                if tid not in ids:
                    ids.append(tid)
                t = self.traces.get(tid)
                if t is not None and t not in traces:
                    traces.append(t)
            mine = [r for r in rows if (saga and r.saga_id == saga) or r.trace_id in ids]
            traces.sort(key=lambda t: t.start_us)
            out.append({
                "label": o["label"],
                "traces": [self.drawn(t) for t in traces[:MAX_TRACES]],
                "traces_more": max(0, len(traces) - MAX_TRACES),
                "no_trace": None if traces else self._no_trace(ids),
                "logs": [_log(r) for r in mine[:MAX_LOG_LINES]],
                "logs_more": max(0, len(mine) - MAX_LOG_LINES),
            })  # fmt: skip
        count = check["details"].get("count")  # an invariant keeps only its first violations
        total = max(len(found), count if isinstance(count, int) and found else 0)
        return {"what": what, "total": total, "offenders": out}

    def _windows(self) -> list[tuple[dict[str, Any], tuple[float, float]]]:
        """Each injected fault with the time it was active (to the scenario's end when it
        was never reverted)."""
        out = []
        for f in self.j["faults"]:
            start, end = f.get("injected_at"), f.get("reverted_at") or self.j["ended_at"]
            if start is not None and end is not None:
                out.append((f, (float(start), float(end))))
        return out

    def fault_windows(self) -> list[tuple[float, float]]:
        return [w for _, w in self._windows()]

    def slowest(self) -> list[dict[str, Any]]:
        """The ``SLOWEST`` traces by root duration among those whose root started while a
        fault was active."""
        return [self.drawn(t) for t in self.traces.slowest(self.fault_windows(), SLOWEST)]


def _log(r: LogRow) -> dict[str, Any]:
    return {"t": r.ts, "instance": r.instance, "level": r.level, "msg": r.msg, "extra": r.extra}
