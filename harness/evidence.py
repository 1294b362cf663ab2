"""A scenario's evidence beside its data: the window's traces from Jaeger (``traces.json``) and
every instance's log lines (``logs/``), then, once the checks have run, the traces of the sagas
and requests a failed check names, fetched by id (``add_offender_traces``). What is missing
goes in the journal, never an error: evidence is read, not judged."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.infra import jaeger
from harness.infra import logs as logcut
from harness.journal import Journal
from harness.verdict import check_fails

OFFENDERS_FETCHED = 50  # per failed check: the report looks at as many for a saved trace
_TRACE_ID = re.compile(r"[0-9a-f]{16,32}")  # W3C's 32 hex digits (Jaeger's may be 16)


def save_evidence(
    j: Journal,
    stack: Any,
    out: Path,
    start: float,
    end: float,
    log_marks: dict[str, int],
    http_timeout: Callable[[], float],
) -> None:
    """Save the traces and log lines of ``[start, end]``; ``log_marks``: each log's size when
    the scenario started (where its lines begin); ``http_timeout``: Jaeger's query timeout,
    read only when the stack runs Jaeger."""
    url = stack.jaeger_url()
    if not url:
        j.add_missing(
            "traces.json",
            "not collected: no Jaeger in this stack (its topology hands no service "
            "{otlp_endpoint})",
        )
    else:
        phases = [(p.name, p.start, p.end) for p in j.phases]
        try:
            with httpx.Client() as client:  # one for every query (services x windows)
                info = jaeger.save_traces(
                    jaeger.JaegerQuery(url, http_timeout(), client),
                    jaeger.windows_of(start, end, phases),
                    out / "traces.json",
                )
        except (HarnessError, OSError) as exc:
            j.add_missing("traces.json", f"unavailable: {exc}")
        else:
            j.evidence["traces"] = info
            if not info["services"]:
                (out / "traces.json").unlink(missing_ok=True)
                j.add_missing(
                    "traces.json",
                    "not collected: no service exported traces (OTLP/HTTP to {otlp_endpoint})",
                )
    logs: dict[str, Any] = {}
    for name, path in stack.instance_logs().items():
        if not path.exists():
            continue
        try:
            logs[name] = logcut.save_window(
                path, log_marks.get(str(path), 0), start, end, out / "logs" / f"{name}.log"
            )
        except OSError as exc:
            j.add_missing(f"logs/{name}.log", f"unreadable: {exc}")
    if logs:
        j.evidence["logs"] = logs


def offender_ids(
    checks: list[dict[str, Any]], limit: int = OFFENDERS_FETCHED
) -> tuple[set[str], set[str]]:
    """The saga ids and trace ids the failed checks' violations name (the first ``limit`` of
    each check), as the report reads them (``harness.report.evidence``)."""
    sagas: set[str] = set()
    traces: set[str] = set()
    for c in checks:
        if not check_fails(c):
            continue
        named = [
            v for v in (c.get("details") or {}).get("violations") or []
            if isinstance(v, dict) and (v.get("saga_id") or v.get("trace_id"))
        ]  # fmt: skip
        for v in named[:limit]:
            if v.get("saga_id"):
                sagas.add(str(v["saga_id"]))
            if v.get("trace_id"):
                traces.add(str(v["trace_id"]))
    return sagas, traces


def add_offender_traces(
    j: Journal, stack: Any, out: Path, http_timeout: Callable[[], float]
) -> None:
    """Add to ``traces.json`` the traces of what the failed checks name that the window
    queries did not save: the trace ids a violation names and those of its saga's log lines
    (``logs/``), fetched by id. A saga in trouble is traced by the shop even when its request
    was not sampled (target_system/shoplib/tracing.py), and the per-service limits of the
    window queries may have left its trace out. Nothing named, no traces.json or no Jaeger:
    nothing done; Jaeger unreachable: said in the journal."""
    path = out / "traces.json"
    url = stack.jaeger_url()
    sagas, ids = offender_ids(j.checks)
    if not url or not (sagas or ids) or not path.exists():
        return
    from harness.report.traces import read_log_rows  # the report package (pandas): when needed

    ids |= {r.trace_id for r in read_log_rows(out, sagas) if r.trace_id and r.saga_id in sagas}
    ids = {i for i in ids if _TRACE_ID.fullmatch(i)}
    if not ids:
        return
    try:
        with httpx.Client() as client:
            by_id = jaeger.add_by_id(jaeger.JaegerQuery(url, http_timeout(), client), path, ids)
    except (HarnessError, OSError, ValueError) as exc:
        j.add_missing("traces.json", f"offenders' traces not added: {exc}")
        return
    if isinstance(j.evidence.get("traces"), dict):
        j.evidence["traces"].update(traces=by_id.pop("traces"), by_id=by_id)
