"""A scenario's evidence beside its data: the window's traces from Jaeger (``traces.json``) and
every instance's log lines (``logs/``). What is missing goes in the journal, never an error:
evidence is read, not judged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.infra import jaeger
from harness.infra import logs as logcut
from harness.journal import Journal


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
